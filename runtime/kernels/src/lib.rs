//! The mlsys kernels: one executable definition of every builtin, operator, aggregate and window
//! rule of lang-spec, shared by the batch engine (DataFusion UDFs) and the online engine (the JIT
//! calls these functions), plus a reference interpreter over the feature plan that serves as the
//! oracle of differential tests. Both engines must agree with it bit for bit ([`Value::bits_equal`]).
//!
//! Code map:
//! - [`value`]: [`Value`], bit identity and the text form.
//! - [`operators`], [`math`], [`strings`], [`time`], [`categorical`]: one plain function per operator
//!   and builtin over primitive types; null handling is the caller's (except `coalesce`/`is_null`,
//!   which live in the interpreter because they are about nulls).
//! - [`order`]: the total order of `least`, `greatest`, `min`, `max` and `last`.
//! - [`exact_sum`]: exact float summation, order- and grouping-independent.
//! - [`aggregate`]: accumulators with `update`, `merge` and `finish` (tile states).
//! - [`window`]: the epoch grid, window bounds, tile indexes and the reference windowed value.
//! - [`interpret`]: the reference interpreter over `mlsys_compiler::plan::Plan`.
//!
//! Compile a project, then evaluate a row-level feature on one row:
//!
//! ```
//! use mlsys_compiler::{compile, source::SourceFile};
//! use mlsys_kernels::interpret::{Bindings, evaluate_feature, find_column, find_feature};
//! use mlsys_kernels::Value;
//!
//! let text = r#"
//!     source payments {
//!       format = csv
//!       location = "data/payments"
//!       timestamp = paid_at
//!       schema { amount: float64, country: string, paid_at: timestamp }
//!     }
//!     features payment_signals v1 {
//!       from = payments
//!       amount_log = ln(1 + amount)
//!       domestic = country in ["US", "CA"]
//!     }
//! "#;
//! let compilation = compile(&[SourceFile::new("project.mlsys", text)]);
//! let plan = compilation.plan.expect("the project compiles");
//!
//! let (payments, amount) = find_column(&plan, "payments", "amount").expect("a column");
//! let (_, country) = find_column(&plan, "payments", "country").expect("a column");
//! let row = Bindings::new()
//!     .with_column(payments, amount, 99.0)
//!     .with_column(payments, country, "CA");
//!
//! let amount_log = find_feature(&plan, "payment_signals", 1, "amount_log").expect("a feature");
//! let domestic = find_feature(&plan, "payment_signals", 1, "domestic").expect("a feature");
//! assert_eq!(evaluate_feature(&plan, amount_log, &row), Ok(Value::Float(100.0_f64.ln())));
//! assert_eq!(evaluate_feature(&plan, domestic, &row), Ok(Value::Bool(true)));
//! ```

pub mod aggregate;
pub mod categorical;
pub mod exact_sum;
pub mod interpret;
pub mod math;
pub mod operators;
pub mod order;
pub mod strings;
pub mod time;
pub mod value;
pub mod window;

pub use value::Value;
