//! Differential tests of `mlsys_batch::lower`: every row-level expression of the example projects,
//! and generated well-typed expressions, run through DataFusion and the Cranelift JIT over random
//! rows (nulls, NaN, ±inf,
//! -0.0, subnormals, int64 extremes, non-ASCII strings, instants next to hour and day boundaries,
//! dates before 1970) and through the reference interpreter; every value must be bit-identical.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, DurationMicrosecondArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::logical_expr::{Expr, col};
use datafusion::prelude::SessionContext;
use mlsys_batch::convert::{UTC, arrow_type, value_at};
use mlsys_batch::lower::Lowering;
use mlsys_compiler::compile;
use mlsys_compiler::plan::print::expr_infix;
use mlsys_compiler::plan::{ColumnIndex, Expectation, ExprId, ExprKind, FeatureId, FeatureKind, Plan, SourceId, walk};
use mlsys_compiler::source::SourceFile;
use mlsys_compiler::types::{BaseType, Type};
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{evaluate, evaluate_features};
use proptest::prelude::*;

/// splitmix64: small, seedable and good enough to pick test values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 86_400_000_000;
const STRINGS: &[&str] = &[
    "",
    "a",
    "US",
    "CA",
    "web",
    "api",
    "checkout",
    "/admin/x",
    "ß",
    "ﬁ",
    "ΣΑΣ",
    "İ",
    "é",
    "e\u{301}",
    "Z",
    "z",
    "日本語",
    "🦀",
    " ",
    "none",
];

fn random_value(rng: &mut Rng, ty: Type) -> Value {
    if ty.nullable && rng.chance(15) {
        return Value::Null;
    }
    match ty.base {
        BaseType::Bool => Value::Bool(rng.chance(50)),
        BaseType::Int64 => Value::Int(match rng.below(3) {
            0 => rng.pick(&[
                0,
                1,
                -1,
                2,
                7,
                10,
                42,
                100,
                i64::MIN,
                i64::MAX,
                i64::MIN + 1,
                1 << 53,
                (1 << 53) + 1,
            ]),
            1 => rng.below(2001) as i64 - 1000,
            _ => rng.next() as i64,
        }),
        BaseType::Float64 => Value::Float(match rng.below(3) {
            0 => rng.pick(&[
                0.0,
                -0.0,
                f64::NAN,
                f64::from_bits(0xFFF8_0000_0000_0001),
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::MIN_POSITIVE,
                5e-324,
                -5e-324,
                f64::MAX,
                f64::MIN,
                0.5,
                2.5,
                -2.5,
                -0.4,
                1e16,
                10.0,
                1000.0,
            ]),
            1 => (rng.below(20001) as f64 - 10000.0) / 8.0,
            _ => f64::from_bits(rng.next()),
        }),
        BaseType::String => match rng.below(3) {
            0 | 1 => Value::string(rng.pick(STRINGS)),
            _ => {
                let text: String = (0..rng.below(6))
                    .map(|_| rng.pick(&['a', 'B', 'é', '/', 'Σ', 'ß', 'z']))
                    .collect();
                Value::string(text)
            }
        },
        BaseType::Date => Value::Date(match rng.below(3) {
            0 => rng.pick(&[0, -1, 1, -719_468, -719_469, 20_758, -25_567, i32::MIN, i32::MAX]),
            1 => rng.below(100_001) as i32 - 50_000,
            _ => rng.next() as i32,
        }),
        BaseType::Timestamp => Value::Timestamp(match rng.below(4) {
            0 => rng.pick(&[0, -1, 1, i64::MIN, i64::MAX, 1_767_225_600_000_000]),
            1 => (rng.below(2_000_001) as i64 - 1_000_000) * rng.pick(&[HOUR, DAY]) + rng.pick(&[-1, 0, 1]),
            2 => 1_767_225_600_000_000 + (rng.next() % (400 * DAY as u64)) as i64,
            _ => rng.next() as i64,
        }),
        BaseType::Duration => Value::Duration(match rng.below(3) {
            0 => rng.pick(&[0, 1, -1, HOUR, DAY, -DAY, i64::MIN, i64::MAX]),
            1 => (rng.below(2001) as i64 - 1000) * rng.pick(&[1, 1000, HOUR]),
            _ => rng.next() as i64,
        }),
    }
}

fn array(values: &[Value], base: BaseType) -> ArrayRef {
    macro_rules! build {
        ($array:ty, $variant:ident) => {
            Arc::new(
                values
                    .iter()
                    .map(|value| match value {
                        Value::$variant(inner) => Some(*inner),
                        _ => None,
                    })
                    .collect::<$array>(),
            )
        };
    }
    match base {
        BaseType::Bool => build!(BooleanArray, Bool),
        BaseType::Int64 => build!(Int64Array, Int),
        BaseType::Float64 => build!(Float64Array, Float),
        BaseType::String => Arc::new(
            values
                .iter()
                .map(|value| match value {
                    Value::String(text) => Some(text.to_string()),
                    _ => None,
                })
                .collect::<StringArray>(),
        ),
        BaseType::Date => build!(Date32Array, Date),
        BaseType::Timestamp => {
            let micros: TimestampMicrosecondArray = values
                .iter()
                .map(|value| match value {
                    Value::Timestamp(micros) => Some(*micros),
                    _ => None,
                })
                .collect();
            Arc::new(micros.with_timezone(UTC))
        }
        BaseType::Duration => build!(DurationMicrosecondArray, Duration),
    }
}

fn column_name(source: SourceId, column: ColumnIndex) -> String {
    format!("s{}_c{column}", source.0)
}

fn feature_name(feature: FeatureId) -> String {
    format!("f{}", feature.0)
}

/// Random rows holding every column of every source and every feature of `plan`.
struct Rows {
    batch: RecordBatch,
    columns: HashMap<String, Vec<Value>>,
}

fn random_rows(plan: &Plan, count: usize, rng: &mut Rng) -> Rows {
    rows_of(plan, count, |_, ty| random_value(rng, ty))
}

/// `count` rows with a column for every source column and every feature of `plan`, valued by `value`.
fn rows_of(plan: &Plan, count: usize, mut value: impl FnMut(&str, Type) -> Value) -> Rows {
    let mut inputs: Vec<(String, Type)> = Vec::new();
    for (source_id, source) in plan.sources.iter() {
        for (index, column) in source.columns.iter().enumerate() {
            inputs.push((column_name(source_id, index as ColumnIndex), column.ty));
        }
    }
    for (feature_id, feature) in plan.features.iter() {
        inputs.push((feature_name(feature_id), feature.ty));
    }
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    let mut columns = HashMap::new();
    for (name, ty) in inputs {
        let values: Vec<Value> = (0..count).map(|_| value(&name, ty)).collect();
        fields.push(Field::new(&name, arrow_type(ty.base), ty.nullable));
        arrays.push(array(&values, ty.base));
        columns.insert(name, values);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("a valid batch");
    Rows { batch, columns }
}

/// The inputs `expr` reads on row `row`, for failure messages.
fn inputs_shown(plan: &Plan, expr: ExprId, rows: &Rows, row: usize) -> String {
    let mut shown = Vec::new();
    for node in walk::nodes(plan, expr) {
        let name = match plan.exprs.get(node).map(|node| &node.kind) {
            Some(ExprKind::Column { source, column }) => column_name(*source, *column),
            Some(ExprKind::Feature { feature }) => feature_name(*feature),
            _ => continue,
        };
        if let Some(values) = rows.columns.get(&name) {
            shown.push(format!("{name}={}", values[row]));
        }
    }
    shown.sort();
    shown.dedup();
    shown.join(" ")
}

/// Runs `expr` through DataFusion and the interpreter on `rows`; returns the number of values compared.
async fn check(plan: &Plan, expr: ExprId, rows: &Rows) -> Result<usize, String> {
    let text = expr_infix(plan, expr);
    let lowering = Lowering::new(
        plan,
        |source, column| Expr::Column(column_name(source, column).into()),
        |feature| col(feature_name(feature)),
    );
    let lowered = lowering.lower(expr).map_err(|error| format!("{text}: {error}"))?;
    let context = SessionContext::new();
    let batches = context
        .read_batch(rows.batch.clone())
        .and_then(|frame| frame.select(vec![lowered.alias("out")]))
        .map_err(|error| format!("{text}: {error}"))?
        .collect()
        .await
        .map_err(|error| format!("{text}: {error}"))?;
    let ty = plan.exprs.get(expr).ok_or("no such expression")?.ty;
    let mut row = 0;
    for batch in &batches {
        let output = batch.column(0);
        if *output.data_type() != arrow_type(ty.base) {
            return Err(format!(
                "{text}: DataFusion gives {}, the plan says {ty}",
                output.data_type()
            ));
        }
        for index in 0..batch.num_rows() {
            let value = |name: String| {
                rows.columns
                    .get(&name)
                    .map_or(Value::Null, |values| values[row].clone())
            };
            let inputs = (
                |source, column| value(column_name(source, column)),
                |feature| value(feature_name(feature)),
            );
            let expected = evaluate(plan, expr, &inputs).map_err(|error| format!("{text}: {error}"))?;
            let actual = value_at(output, index, ty.base);
            if actual != expected {
                let shown = inputs_shown(plan, expr, rows, row);
                return Err(format!(
                    "{text}: DataFusion {actual}, interpreter {expected}, row {row}: {shown}"
                ));
            }
            row += 1;
        }
    }
    if row != rows.batch.num_rows() {
        return Err(format!("{text}: {row} rows out of {}", rows.batch.num_rows()));
    }
    Ok(row)
}

/// Runs every row-level and derived feature of `plan` through the JIT (one compiled function for
/// all of them) on `rows` and compares each value with the interpreter's. Both compute the
/// row-level features a feature reads (only columns and windowed aggregates are inputs), so a
/// feature reading another compares the computed chain; on the generated plans, whose one feature
/// reads only columns, this and [`check`] make the three engines agree value for value. Returns
/// the number of values compared.
fn check_jit(plan: &Plan, rows: &Rows) -> Result<usize, String> {
    let ids: Vec<FeatureId> = plan
        .features
        .iter()
        .filter(|(_, feature)| !matches!(feature.kind, FeatureKind::Aggregate(_)))
        .map(|(id, _)| id)
        .collect();
    let compiled = mlsys_jit::compile(plan, &ids).map_err(|error| format!("the JIT: {error}"))?;
    let mut compared = 0;
    for row in 0..rows.batch.num_rows() {
        let value = |name: String| {
            rows.columns
                .get(&name)
                .map_or(Value::Null, |values| values[row].clone())
        };
        let inputs = (
            |source, column| value(column_name(source, column)),
            |feature| value(feature_name(feature)),
        );
        let actual = compiled
            .evaluate_inputs(&inputs)
            .map_err(|error| format!("the JIT, row {row}: {error}"))?;
        let expected = evaluate_features(plan, &ids, &inputs).map_err(|error| format!("row {row}: {error}"))?;
        for ((feature, actual), expected) in ids.iter().zip(actual).zip(expected) {
            if actual != expected {
                let name = &plan.features[*feature].name;
                return Err(format!(
                    "feature {name}: JIT {actual}, interpreter {expected}, row {row}"
                ));
            }
            compared += 1;
        }
    }
    Ok(compared)
}

/// Every expression of `plan` evaluated on one row: row-level and derived features, aggregate
/// arguments and filters, contract `expect`s and serve fallbacks.
fn row_expressions(plan: &Plan) -> Vec<ExprId> {
    let mut exprs = Vec::new();
    for (_, feature) in plan.features.iter() {
        match &feature.kind {
            FeatureKind::Row { expr } | FeatureKind::Derived { expr } => exprs.push(*expr),
            FeatureKind::Aggregate(aggregate) => exprs.extend(aggregate.argument.iter().chain(&aggregate.filter)),
        }
    }
    for (_, contract) in plan.contracts.iter() {
        for expectation in &contract.expectations {
            if let Expectation::Holds { expr } = expectation {
                exprs.push(*expr);
            }
        }
    }
    for (_, serve) in plan.serves.iter() {
        exprs.extend(serve.fallback);
    }
    exprs
}

fn project(files: &[std::path::PathBuf]) -> Plan {
    let sources: Vec<SourceFile> = files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("a readable case");
            SourceFile::new(path.display().to_string(), text)
        })
        .collect();
    let compilation = compile(&sources);
    compilation
        .plan
        .unwrap_or_else(|| panic!("{files:?} compiles: {:#?}", compilation.diagnostics))
}

fn mlsys_files(directory: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(directory)
        .expect("a directory")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "mlsys"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn example_projects_agree_in_datafusion_the_jit_and_the_interpreter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut projects: Vec<Vec<std::path::PathBuf>> = mlsys_files(&root.join("compiler/tests/cases/ok"))
        .into_iter()
        .map(|file| vec![file])
        .collect();
    projects.push(mlsys_files(&root.join("examples/fraud")));
    let (mut expressions, mut values, mut failures) = (0, 0, Vec::new());
    for (index, files) in projects.iter().enumerate() {
        let plan = project(files);
        let rows = random_rows(&plan, 300, &mut Rng(index as u64 + 1));
        for expr in row_expressions(&plan) {
            expressions += 1;
            match check(&plan, expr, &rows).await {
                Ok(count) => values += count,
                Err(failure) => failures.push(failure),
            }
        }
        match check_jit(&plan, &rows) {
            Ok(count) => values += count,
            Err(failure) => failures.push(failure),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(expressions > 80, "only {expressions} expressions");
    eprintln!("{expressions} expressions, {values} values compared");
}

const SCHEMA: &str = "b: bool, i: int64, f: float64, s: string, d: date, t: timestamp, u: duration, \
    nb: bool?, ni: int64?, nf: float64?, ns: string?, nd: date?, nt: timestamp?, nu: duration?";

/// Random expression text of (roughly) type `base`; what does not type-check is skipped by the caller.
fn expression(rng: &mut Rng, base: BaseType, depth: usize) -> String {
    use BaseType::*;
    let leaf = depth == 0 || rng.chance(25);
    let column = |rng: &mut Rng| {
        let name = ["b", "i", "f", "s", "d", "t", "u"][BaseType::ALL.iter().position(|b| *b == base).unwrap_or(0)];
        if rng.chance(50) {
            format!("n{name}")
        } else {
            name.to_string()
        }
    };
    if leaf {
        return if rng.chance(60) {
            column(rng)
        } else {
            literal(rng, base)
        };
    }
    let sub = |rng: &mut Rng, base: BaseType| expression(rng, base, depth - 1);
    let sub_of = |rng: &mut Rng, bases: &[BaseType]| {
        let base = rng.pick(bases);
        expression(rng, base, depth - 1)
    };
    match rng.below(4) {
        0 => {
            let condition = sub(rng, Bool);
            let (then, otherwise) = (sub(rng, base), sub(rng, base));
            let then = if rng.chance(15) { "null".to_string() } else { then };
            return format!("(if {condition} then {then} else {otherwise})");
        }
        1 => return format!("coalesce({}, {})", sub(rng, base), sub(rng, base)),
        2 if base != Bool => {
            let name = if rng.chance(50) { "least" } else { "greatest" };
            return format!("{name}({}, {})", sub(rng, base), sub(rng, base));
        }
        _ => {}
    }
    match base {
        Bool => match rng.below(7) {
            0 => {
                let operand = rng.pick(&BaseType::ALL);
                let op = rng.pick(&["==", "!=", "<", "<=", ">", ">="]);
                format!("({} {op} {})", sub(rng, operand), sub(rng, operand))
            }
            1 => format!("({} {} {})", sub(rng, Bool), rng.pick(&["and", "or"]), sub(rng, Bool)),
            2 => format!("(not {})", sub(rng, Bool)),
            3 => {
                let operand = rng.pick(&[Int64, Float64, String, Date, Duration, Bool]);
                let items: Vec<std::string::String> = (0..1 + rng.below(3))
                    .map(|_| {
                        if rng.chance(15) {
                            "null".to_string()
                        } else {
                            literal(rng, operand)
                        }
                    })
                    .collect();
                let not = if rng.chance(30) { " not" } else { "" };
                format!("({}{not} in [{}])", sub(rng, operand), items.join(", "))
            }
            4 => format!("is_null({})", sub_of(rng, &BaseType::ALL)),
            5 => format!(
                "{}({}, {})",
                rng.pick(&["contains", "starts_with"]),
                sub(rng, String),
                sub(rng, String)
            ),
            _ => format!(
                "({} {} {})",
                sub(rng, Float64),
                rng.pick(&["==", "<", ">="]),
                sub(rng, Int64)
            ),
        },
        Int64 => match rng.below(6) {
            0 => format!(
                "({} {} {})",
                sub(rng, Int64),
                rng.pick(&["+", "-", "*"]),
                sub(rng, Int64)
            ),
            1 => format!("(-{})", sub(rng, Int64)),
            2 => format!("abs({})", sub(rng, Int64)),
            3 => format!("clamp({}, {}, {})", sub(rng, Int64), sub(rng, Int64), sub(rng, Int64)),
            4 => match rng.below(4) {
                0 => format!("length({})", sub(rng, String)),
                1 => format!("hour({})", sub(rng, Timestamp)),
                2 => format!(
                    "hash_bucket({}, {})",
                    sub_of(rng, &[String, Int64]),
                    1 + rng.below(1000)
                ),
                _ => format!("bucketize({}, [-1.5, 0, 10, 1e300])", sub(rng, Float64)),
            },
            _ => {
                let part = rng.pick(&["day_of_week", "day", "month", "year"]);
                format!("{part}({})", sub_of(rng, &[Date, Timestamp]))
            }
        },
        Float64 => match rng.below(5) {
            0 => {
                let op = rng.pick(&["+", "-", "*", "/"]);
                let (lhs, rhs) = (rng.pick(&[Float64, Int64]), rng.pick(&[Float64, Int64]));
                format!("({} {op} {})", sub(rng, lhs), sub(rng, rhs))
            }
            1 => format!("(-{})", sub(rng, Float64)),
            2 => {
                let function = rng.pick(&["ln", "log10", "exp", "sqrt", "round", "floor", "ceil", "abs"]);
                format!("{function}({})", sub_of(rng, &[Float64, Int64]))
            }
            3 => format!("pow({}, {})", sub(rng, Float64), sub_of(rng, &[Float64, Int64])),
            _ => format!(
                "clamp({}, {}, {})",
                sub(rng, Float64),
                sub(rng, Int64),
                sub(rng, Float64)
            ),
        },
        String => match rng.below(2) {
            0 => format!("{}({})", rng.pick(&["lower", "upper"]), sub(rng, String)),
            _ => format!("concat({}, {})", sub(rng, String), sub(rng, String)),
        },
        Date => format!("date_of({})", sub(rng, Timestamp)),
        Timestamp => match rng.below(3) {
            0 => format!("({} + {})", sub(rng, Duration), sub(rng, Timestamp)),
            _ => format!(
                "({} {} {})",
                sub(rng, Timestamp),
                rng.pick(&["+", "-"]),
                sub(rng, Duration)
            ),
        },
        Duration => match rng.below(3) {
            0 => format!("({} - {})", sub(rng, Timestamp), sub(rng, Timestamp)),
            1 => format!("(-{})", sub(rng, Duration)),
            _ => format!(
                "({} {} {})",
                sub(rng, Duration),
                rng.pick(&["+", "-"]),
                sub(rng, Duration)
            ),
        },
    }
}

fn literal(rng: &mut Rng, base: BaseType) -> String {
    match base {
        BaseType::Bool => rng.pick(&["true", "false"]).to_string(),
        BaseType::Int64 => rng
            .pick(&[
                "0",
                "1",
                "(-1)",
                "7",
                "42",
                "9223372036854775807",
                "(-9223372036854775807 - 1)",
            ])
            .to_string(),
        BaseType::Float64 => rng
            .pick(&[
                "0.0",
                "(-0.0)",
                "0.5",
                "2.5",
                "(-2.5)",
                "1e308",
                "5e-324",
                "(0.0 / 0)",
                "(1 / 0)",
                "(-1 / 0)",
            ])
            .to_string(),
        BaseType::String => rng
            .pick(&[
                "\"\"",
                "\"a\"",
                "\"US\"",
                "\"\\u{df}\"",
                "\"\\u{3a3}\"",
                "\"é\"",
                "\"/admin\"",
                "\"Z\"",
            ])
            .to_string(),
        BaseType::Date => rng
            .pick(&["1970-01-01", "1969-12-31", "2026-11-01", "0000-03-01"])
            .to_string(),
        BaseType::Timestamp => rng.pick(&["t", "nt"]).to_string(),
        BaseType::Duration => rng.pick(&["0s", "1h", "250ms", "7d", "2w", "(-1d)"]).to_string(),
    }
}

fn generated_plan(text: &str) -> Option<Plan> {
    let source = format!(
        "source s {{\n  format = parquet\n  location = \"data/s\"\n  schema {{ {SCHEMA} }}\n}}\n\
         features g v1 {{\n  from = s\n  x = {text}\n}}\n"
    );
    compile(&[SourceFile::new("generated.mlsys", source)]).plan
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_expressions_agree_in_datafusion_the_jit_and_the_interpreter(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let base = rng.pick(&BaseType::ALL);
        let depth = 1 + rng.below(4);
        let text = expression(&mut rng, base, depth);
        if let Some(plan) = generated_plan(&text) {
            let rows = random_rows(&plan, 64, &mut rng);
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
            for expr in row_expressions(&plan) {
                let outcome = runtime.block_on(check(&plan, expr, &rows));
                prop_assert!(outcome.is_ok(), "{text}\n{}", outcome.err().unwrap_or_default());
            }
            let outcome = check_jit(&plan, &rows);
            prop_assert!(outcome.is_ok(), "{text}\n{}", outcome.err().unwrap_or_default());
        }
    }
}

/// The row the edge cases read: `f` is -0.0, `nf` NaN, `i` -2^63, `t` one microsecond before 1970,
/// `d` 1970-01-01, `u` 1h, every other nullable column null.
fn edge_row(name: &str, ty: Type) -> Value {
    match name.split('_').nth(1) {
        Some("c0") => Value::Bool(true),
        Some("c1") => Value::Int(i64::MIN),
        Some("c2") => Value::Float(-0.0),
        Some("c3") => Value::string("ΣΑΣ"),
        Some("c4") => Value::Date(0),
        Some("c5") => Value::Timestamp(-1),
        Some("c6") => Value::Duration(HOUR),
        Some("c9") => Value::Float(f64::NAN),
        _ if ty.nullable => Value::Null,
        // Features (read by no edge case) hold any value of their type.
        _ => random_value(&mut Rng(0), ty),
    }
}

/// lang-spec/builtins.md section 4 and types.md section 4, over [`edge_row`]: DataFusion, the
/// interpreter and the spec's value must all agree.
#[tokio::test]
async fn spec_edge_cases_agree() {
    let (nan, inf) = (Value::Float(f64::NAN), Value::Float(f64::INFINITY));
    let float = Value::Float;
    let cases: Vec<(&str, Value)> = vec![
        ("ln(0.0)", Value::Float(f64::NEG_INFINITY)),
        ("ln(f)", Value::Float(f64::NEG_INFINITY)),
        ("ln(-1.0)", nan.clone()),
        ("ln(1 / 0)", inf.clone()),
        ("ln(nf)", nan.clone()),
        ("exp(nf)", nan.clone()),
        ("sqrt(nf)", nan.clone()),
        ("log10(0)", Value::Float(f64::NEG_INFINITY)),
        ("exp(-1 / 0)", float(0.0)),
        ("exp(1000.0)", inf.clone()),
        ("sqrt(-1.0)", nan.clone()),
        ("sqrt(f)", float(-0.0)),
        ("abs(i)", Value::Int(i64::MIN)),
        ("abs(-9223372036854775807 - 1)", Value::Int(i64::MIN)),
        ("abs(f)", float(0.0)),
        ("pow(nf, 0)", float(1.0)),
        ("pow(0.0, 0)", float(1.0)),
        ("pow(1.0, nf)", float(1.0)),
        ("pow(0.0, -1)", inf.clone()),
        ("pow(-8.0, 1.0 / 3.0)", nan.clone()),
        ("pow(2, 3)", float(8.0)),
        ("round(2.5)", float(3.0)),
        ("round(-2.5)", float(-3.0)),
        ("round(-0.4)", float(-0.0)),
        ("round(7)", float(7.0)),
        ("floor(-0.5)", float(-1.0)),
        ("ceil(-0.5)", float(-0.0)),
        ("clamp(15, 0, 10)", Value::Int(10)),
        ("clamp(nf, 0.0, 1.0)", float(1.0)),
        ("clamp(f, 0.0, 1.0)", float(0.0)),
        ("clamp(5, 10 + 0 * i, 0 * i)", Value::Int(0)),
        ("least(1.0, nf)", float(1.0)),
        ("greatest(1.0, nf)", nan.clone()),
        ("least(f, 0.0)", float(-0.0)),
        ("greatest(f, 0.0)", float(0.0)),
        ("least(0.0, f)", float(-0.0)),
        ("least(3, 2.5)", float(2.5)),
        ("least(1, ni)", Value::Null),
        ("upper(\"ß\")", Value::string("SS")),
        ("upper(\"ﬁ\")", Value::string("FI")),
        ("lower(s)", Value::string("σας")),
        ("lower(\"İ\")", Value::string("i\u{307}")),
        ("length(lower(\"İ\"))", Value::Int(2)),
        ("length(\"é\")", Value::Int(1)),
        ("length(\"e\\u{301}\")", Value::Int(2)),
        ("contains(\"é\", \"e\")", Value::Bool(false)),
        ("contains(\"abc\", \"\")", Value::Bool(true)),
        ("starts_with(\"\", \"\")", Value::Bool(true)),
        ("concat(\"a\", ns, \"b\")", Value::Null),
        ("concat(\"a\")", Value::string("a")),
        ("hour(t)", Value::Int(23)),
        ("date_of(t)", Value::Date(-1)),
        ("day_of_week(d)", Value::Int(4)),
        ("day_of_week(2026-11-01)", Value::Int(7)),
        ("year(0000-03-01)", Value::Int(0)),
        ("coalesce(if b then null else 2.0, 0.0 / 0, 1.0)", nan.clone()),
        ("coalesce(nf, 1.0)", nan.clone()),
        ("coalesce(nf)", nan.clone()),
        ("coalesce(ni)", Value::Null),
        ("u + t", Value::Timestamp(HOUR - 1)),
        ("is_null(nf)", Value::Bool(false)),
        ("is_null(ni)", Value::Bool(true)),
        ("hash_bucket(ni, 10)", Value::Null),
        ("hash_bucket(\"\", 10)", Value::Int(7)),
        ("hash_bucket(\"US\", 1000)", Value::Int(17)),
        ("hash_bucket(0, 1000)", Value::Int(405)),
        ("hash_bucket(42, 1000)", Value::Int(255)),
        ("hash_bucket(-1, 1000)", Value::Int(757)),
        ("bucketize(5, [10, 20])", Value::Int(0)),
        ("bucketize(10, [10, 20])", Value::Int(1)),
        ("bucketize(25, [10, 20])", Value::Int(2)),
        ("bucketize(nf, [0.0])", Value::Int(1)),
        ("bucketize(f, [0.0])", Value::Int(1)),
        ("1 / 0", inf.clone()),
        ("-1 / 0", Value::Float(f64::NEG_INFINITY)),
        ("0 / 0", nan.clone()),
        ("1.0 / f", Value::Float(f64::NEG_INFINITY)),
        ("9223372036854775807 + 1", Value::Int(i64::MIN)),
        ("-(-9223372036854775807 - 1)", Value::Int(i64::MIN)),
        ("-i", Value::Int(i64::MIN)),
        ("i - 1", Value::Int(i64::MAX)),
        ("i * -1", Value::Int(i64::MIN)),
        ("-f", float(0.0)),
        ("-(0.0)", float(-0.0)),
        ("f + 0.0", float(0.0)),
        ("f * 1", float(-0.0)),
        ("nf == nf", Value::Bool(false)),
        ("nf != nf", Value::Bool(true)),
        ("nf < 1.0", Value::Bool(false)),
        ("nf >= nf", Value::Bool(false)),
        ("f == 0.0", Value::Bool(true)),
        ("f < 0.0", Value::Bool(false)),
        ("-0.0 == 0.0", Value::Bool(true)),
        ("\"Z\" < \"a\"", Value::Bool(true)),
        ("\"é\" > \"z\"", Value::Bool(true)),
        ("1 in [2, null]", Value::Null),
        ("1 in [1, null]", Value::Bool(true)),
        ("ni in [1]", Value::Null),
        ("f in [0.0]", Value::Bool(true)),
        ("0.0 in [-0.0]", Value::Bool(true)),
        ("nf in [1.0, null]", Value::Null),
        ("nf in [1.0]", Value::Bool(false)),
        ("nf not in [1.0]", Value::Bool(true)),
        ("i in [1.5, -9223372036854775807]", Value::Bool(true)),
        ("false and nb", Value::Bool(false)),
        ("true or nb", Value::Bool(true)),
        ("true and nb", Value::Null),
        ("not nb", Value::Null),
        ("if nb then 1 else 2", Value::Int(2)),
        ("t - t", Value::Duration(0)),
        ("t + u - t", Value::Duration(HOUR)),
    ];
    let features: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(index, (text, _))| format!("  x{index} = {text}\n"))
        .collect();
    let source = format!(
        "source s {{\n  format = parquet\n  location = \"data/s\"\n  schema {{ {SCHEMA} }}\n}}\n\
         features g v1 {{\n  from = s\n{}}}\n",
        features.concat()
    );
    let compilation = compile(&[SourceFile::new("edge.mlsys", source)]);
    let plan = compilation
        .plan
        .unwrap_or_else(|| panic!("the edge cases compile: {:#?}", compilation.diagnostics));
    assert_eq!(plan.features.len(), cases.len());
    let rows = rows_of(&plan, 3, edge_row);
    let mut failures = Vec::new();
    for ((_, feature), (text, expected)) in plan.features.iter().zip(&cases) {
        let FeatureKind::Row { expr } = feature.kind else {
            continue;
        };
        if let Err(failure) = check(&plan, expr, &rows).await {
            failures.push(failure);
        }
        let column = |source: SourceId, column: ColumnIndex| {
            rows.columns
                .get(&column_name(source, column))
                .map_or(Value::Null, |values| values[0].clone())
        };
        match evaluate(&plan, expr, &(column, |_: FeatureId| Value::Null)) {
            Ok(value) if value == *expected => {}
            other => failures.push(format!("{text}: the spec says {expected}, the interpreter {other:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
