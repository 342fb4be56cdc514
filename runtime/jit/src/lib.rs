//! The online engine's compiler: the per-row part of the feature plan — row-level features,
//! derived features of entity groups, with SQL null logic and every type and builtin of
//! lang-spec — compiled by Cranelift into one native function per feature set; and the built-in
//! models that score those features, each compiled to one native function ([`compile_model`]).
//!
//! Contract: for a verified plan and a feature set `features`, [`compile`] succeeds, and for any
//! input values the compiled function gives, for each requested feature, a value bit-identical
//! (`Value::bits_equal`) to `mlsys_kernels::interpret::evaluate_features(plan, features, inputs)`
//! when the inputs hold the same column values and aggregate feature values. Windowed aggregates
//! are not computed here: their finished values are inputs, and a requested aggregate is passed
//! through. `promote_if` metrics are refused.
//!
//! ```
//! use mlsys_compiler::{compile as check, source::SourceFile};
//! use mlsys_jit::{Slot, compile};
//! use mlsys_kernels::Value;
//! use mlsys_kernels::interpret::{find_column, find_feature};
//!
//! let text = r#"
//!     source payments {
//!       format = csv
//!       location = "data/payments"
//!       schema { amount: float64, country: string }
//!     }
//!     features payment_signals v1 {
//!       from = payments
//!       amount_log = ln(1 + amount)
//!       domestic = country in ["US", "CA"]
//!     }
//! "#;
//! let plan = check(&[SourceFile::new("project.mlsys", text)]).plan.expect("the project compiles");
//! let amount_log = find_feature(&plan, "payment_signals", 1, "amount_log").expect("a feature");
//! let domestic = find_feature(&plan, "payment_signals", 1, "domestic").expect("a feature");
//!
//! let compiled = compile(&plan, &[amount_log, domestic]).expect("the features compile");
//! // The inputs are the columns read, columns first and in schema order.
//! let (_, amount) = find_column(&plan, "payments", "amount").expect("a column");
//! assert!(matches!(compiled.inputs()[0], Slot::Column { column, .. } if column == amount));
//!
//! // Fast path: a reusable row, no allocation per call for non-string results.
//! let mut row = compiled.new_row();
//! row.set(0, &Value::Float(99.0)).expect("a float64 slot");
//! row.set(1, &Value::from("CA")).expect("a string slot");
//! compiled.run(&mut row).expect("the row belongs to this feature set");
//! assert_eq!(row.values(), vec![Value::Float(100.0_f64.ln()), Value::Bool(true)]);
//!
//! // Convenience path: values in, values out.
//! let values = compiled.evaluate(&[Value::Null, Value::from("FR")]).expect("well-typed inputs");
//! assert_eq!(values, vec![Value::Null, Value::Bool(false)]);
//! ```
//!
//! # Design
//!
//! **Calling convention** (`abi`): `extern "C" fn(inputs: *const RawSlot, outputs: *mut RawSlot,
//! arena: *mut StringArena)`. A slot is `{bits: u64, len: u64, is_null: u8}`; `bits` holds the value
//! (a float's bits, a date sign-extended, a string's pointer) and `len` a string's byte length. The
//! input slots are exactly what the interpreter reads from its `Inputs`: the source columns read
//! (transitively, through computed features) and the feature values not computed here (windowed
//! aggregates), columns first, each sorted by id ([`CompiledFeatures::inputs`]). The outputs are
//! the requested features, in order. Floats leave with the canonical NaN.
//!
//! **Strings and their lifetime** ([`row`]): input strings are owned by the [`Row`] (it keeps an
//! `Arc<str>` per slot), string literals by the compiled feature set and shared with its rows, and
//! strings made by kernels (`lower`, `upper`, `concat`) by the row's arena. An output string points
//! into one of the three; the row keeps all of them alive until its next evaluation starts, so
//! [`Row::output`] borrows the row and stays valid even if inputs are replaced meanwhile.
//!
//! **Inline or kernel call** (`lower`): emitted inline as IR, because the instruction *is* the
//! kernel's definition: int64/time arithmetic (wrapping `iadd`/`isub`/`imul`/`ineg`), float64
//! arithmetic and comparisons (IEEE `fadd`..`fdiv`, `fcmp` with `!=` unordered-or-not-equal),
//! int64 → float64 (`fcvt_from_sint`, nearest-even like Rust's `as`), `sqrt`, `floor`, `ceil`,
//! `abs`, null propagation and three-valued `and`/`or`/`not`, `if` (real branches: only the chosen
//! branch runs), `in`, `coalesce`, `is_null`, and the total order of `least`/`greatest`/`clamp`
//! (IEEE totalOrder key with NaN above +inf). Everything else calls the one Rust definition in
//! `mlsys_kernels` through a small `extern "C"` shim registered as a symbol of the module
//! (`kernels`): `ln`, `log10`, `exp`, `pow`, `round`, all string functions and string
//! comparison, all time functions, `hash_bucket`, `bucketize`.
//!
//! **Errors**: compilation fails with a [`JitError`], never a panic: on what the interpreter would
//! refuse (ill-typed nodes, wrong arities, a non-literal or non-positive bucket count, expressions
//! nested deeper than its limit), on training metrics, and on a host Cranelift does not support.
//! Evaluation has no error path: every operator and builtin is total.
//!
//! Architecture Invariant: nothing in a plan can make compiled code unsound. [`compile`] does not
//! run the plan verifier (the online engine verifies a plan once, when it loads it), but it types
//! every node it lowers from the source schema and the features, and refuses any mismatch; rows
//! check every input against its slot's type.
//!
//! Architecture Invariant: compiling never overflows the caller's stack. Lowering recurses once
//! per nesting level; expressions nested more than a few dozen levels deep are lowered on a thread
//! with a stack sized for the interpreter's depth limit.
//!
//! **Cache** ([`cache`]): [`JitCache`] compiles each [`FeatureSetKey`] (requested and computed
//! features with their canonical hashes, and the input slots) once; threads share the result.
//!
//! Code map:
//! - [`compiled`]: [`compile`], [`CompiledFeatures`] (owns the machine code; `Send + Sync`).
//! - [`row`]: [`Row`], the reusable buffer of the fast path, and [`ValueRef`].
//! - [`slots`]: what a feature set computes and reads ([`Slot`]).
//! - `lower`: plan expressions to Cranelift IR (`operators.rs`, `builtins.rs`).
//! - `kernels`: the shims calling `mlsys_kernels`, and the string arena.
//! - `abi`: the slot layout and function type.
//! - [`cache`]: [`JitCache`] and [`FeatureSetKey`].
//! - [`model`]: [`compile_model`], built-in models (`mlsys_train::Model`) as native scorers
//!   ([`CompiledModel`], `Send + Sync`): a tree ensemble becomes one function branching per node,
//!   scoring bit for bit as `Model::predict`.
//! - [`error`]: [`JitError`], the one error type.

mod abi;
pub mod cache;
pub mod compiled;
pub mod error;
mod kernels;
mod lower;
pub mod model;
pub mod row;
pub mod slots;

pub use cache::{FeatureSetKey, JitCache};
pub use compiled::{CompiledFeatures, compile};
pub use error::JitError;
pub use model::{CompiledModel, MAX_COMPILED_NODES, compile_model, compile_model_with_node_limit};
pub use row::{Row, ValueRef};
pub use slots::Slot;
