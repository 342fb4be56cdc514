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
use mlsys_kernels::interpret::{evaluate, evaluate_features, find_column, find_feature};
use proptest::prelude::*;

use crate::random_values::{Rng, random_typed_value};
use crate::spec_cases::{column_cases, constant_cases, probe_project};

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
    rows_of(plan, count, |_, ty| random_typed_value(rng, ty))
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
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

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

/// lang-spec's edge-case tables (the kernels' `spec_cases`, also run on the interpreter and the
/// JIT), each case on its own one-row batch: DataFusion and the interpreter must give the spec's
/// value.
#[tokio::test]
async fn spec_edge_cases_agree() {
    let cases = constant_cases()
        .into_iter()
        .map(|(expression, value)| (expression, Vec::new(), value))
        .chain(column_cases());
    let mut failures = Vec::new();
    for (expression, row, expected) in cases {
        let compilation = compile(&[SourceFile::new("edge.mlsys", probe_project(expression))]);
        let Some(plan) = compilation.plan else {
            failures.push(format!(
                "`{expression}` does not compile: {:#?}",
                compilation.diagnostics
            ));
            continue;
        };
        let given: HashMap<String, Value> = row
            .iter()
            .filter_map(|(name, value)| {
                let (source, column) = find_column(&plan, "rows", name)?;
                Some((column_name(source, column), value.clone()))
            })
            .collect();
        // What a case does not set is null, or any value where the column cannot be (`at`).
        let rows = rows_of(&plan, 1, |name, ty| match given.get(name) {
            Some(value) => value.clone(),
            None if ty.nullable => Value::Null,
            None => random_typed_value(&mut Rng(0), ty),
        });
        let Some(feature) = find_feature(&plan, "probe", 1, "value") else {
            failures.push(format!("`{expression}`: no probe feature"));
            continue;
        };
        let FeatureKind::Row { expr } = plan.features[feature].kind else {
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
            Ok(value) if value == expected => {}
            other => failures.push(format!(
                "`{expression}` on {row:?}: the spec says {expected}, the interpreter {other:?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
