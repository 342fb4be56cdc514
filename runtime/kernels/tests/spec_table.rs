//! lang-spec/builtins.md section 4 and types.md section 4, written as expressions, compiled by
//! `mlsys_compiler` and evaluated by the reference interpreter: the results both engines must give.

use mlsys_kernels::Value;

use crate::support::{error_codes, eval, float, int, text, try_eval};

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

/// Expressions without column reads and their expected values.
#[test]
fn constant_expressions() {
    let cases: Vec<(&str, Value)> = vec![
        ("ln(0.0)", float(-INF)),
        ("ln(-0.0)", float(-INF)),
        ("ln(-1.0)", float(NAN)),
        ("ln(1 / 0)", float(INF)),
        ("ln(0.0 / 0)", float(NAN)),
        ("exp(0.0 / 0)", float(NAN)),
        ("sqrt(0.0 / 0)", float(NAN)),
        ("log10(0)", float(-INF)),
        ("exp(-1 / 0)", float(0.0)),
        ("exp(1000.0)", float(INF)),
        ("sqrt(-1.0)", float(NAN)),
        ("sqrt(-0.0)", float(-0.0)),
        ("abs(-9223372036854775807 - 1)", int(i64::MIN)),
        ("abs(-0.0)", float(0.0)),
        ("pow(0.0 / 0, 0)", float(1.0)),
        ("pow(0.0, 0)", float(1.0)),
        ("pow(1.0, 0.0 / 0)", float(1.0)),
        ("pow(0.0, -1)", float(INF)),
        ("pow(-8.0, 1.0 / 3.0)", float(NAN)),
        ("pow(2, 3)", float(8.0)),
        ("round(2.5)", float(3.0)),
        ("round(-2.5)", float(-3.0)),
        ("round(-0.4)", float(-0.0)),
        ("round(7)", float(7.0)),
        ("floor(-0.5)", float(-1.0)),
        ("ceil(-0.5)", float(-0.0)),
        ("clamp(15, 0, 10)", int(10)),
        ("clamp(0.0 / 0, 0.0, 1.0)", float(1.0)),
        ("clamp(-0.0, 0.0, 1.0)", float(0.0)),
        ("least(1.0, 0.0 / 0)", float(1.0)),
        ("greatest(1.0, 0.0 / 0)", float(NAN)),
        ("least(-0.0, 0.0)", float(-0.0)),
        ("greatest(-0.0, 0.0)", float(0.0)),
        ("least(0.0, -0.0)", float(-0.0)),
        ("greatest(0.0, -0.0, 0.0)", float(0.0)),
        ("least(3, 2.5)", float(2.5)),
        ("least(3, 4)", int(3)),
        ("greatest(\"b\", \"a\", \"ab\")", text("b")),
        ("least(1, null)", Value::Null),
        ("upper(\"ß\")", text("SS")),
        ("upper(\"ﬁ\")", text("FI")),
        ("lower(\"ΣΑΣ\")", text("σας")),
        ("lower(\"İ\")", text("i\u{307}")),
        ("length(lower(\"İ\"))", int(2)),
        ("length(\"é\")", int(1)),
        ("length(\"e\\u{301}\")", int(2)),
        ("contains(\"é\", \"e\")", Value::Bool(false)),
        ("contains(\"abc\", \"\")", Value::Bool(true)),
        ("starts_with(\"\", \"\")", Value::Bool(true)),
        ("concat(\"a\", null, \"b\")", Value::Null),
        ("concat(\"a\")", text("a")),
        ("concat(\"a\", \"b\", \"c\")", text("abc")),
        ("day_of_week(1970-01-01)", int(4)),
        ("day_of_week(2026-11-01)", int(7)),
        ("year(0000-03-01)", int(0)),
        ("month(2026-11-01)", int(11)),
        ("day(1969-12-31)", int(31)),
        ("coalesce(null, 0.0 / 0, 1.0)", float(NAN)),
        ("is_null(0.0 / 0)", Value::Bool(false)),
        ("hash_bucket(null, 10)", Value::Null),
        ("hash_bucket(\"\", 10)", int(7)),
        ("hash_bucket(\"US\", 1000)", int(17)),
        ("hash_bucket(0, 1000)", int(405)),
        ("hash_bucket(42, 1000)", int(255)),
        ("hash_bucket(-1, 1000)", int(757)),
        ("bucketize(5, [10, 20])", int(0)),
        ("bucketize(10, [10, 20])", int(1)),
        ("bucketize(25, [10, 20])", int(2)),
        ("bucketize(0.0 / 0, [0.0])", int(1)),
        ("bucketize(-0.0, [0.0])", int(1)),
        ("bucketize(15, [-1.5, 10, 20.5])", int(2)),
        ("1 / 0", float(INF)),
        ("-1 / 0", float(-INF)),
        ("0 / 0", float(NAN)),
        ("1.0 / -0.0", float(-INF)),
        ("7 / 2", float(3.5)),
        ("9223372036854775807 + 1", int(i64::MIN)),
        ("-(-9223372036854775807 - 1)", int(i64::MIN)),
        ("9223372036854775807 * 2", int(-2)),
        ("1 + 2 + 0.5", float(3.5)),
        ("-(0.0)", float(-0.0)),
        ("0.0 / 0 == 0.0 / 0", Value::Bool(false)),
        ("0.0 / 0 != 0.0 / 0", Value::Bool(true)),
        ("0.0 / 0 < 1.0", Value::Bool(false)),
        ("-0.0 == 0.0", Value::Bool(true)),
        ("-0.0 < 0.0", Value::Bool(false)),
        ("1 == 1.0", Value::Bool(true)),
        ("\"Z\" < \"a\"", Value::Bool(true)),
        ("\"é\" > \"z\"", Value::Bool(true)),
        ("1 in [2, null]", Value::Null),
        ("1 in [1, null]", Value::Bool(true)),
        ("1 not in [2, null]", Value::Null),
        ("1 not in [2, 3]", Value::Bool(true)),
        ("0.0 in [-0.0]", Value::Bool(true)),
        ("1 in [1.0, 2.5]", Value::Bool(true)),
        ("0.0 / 0 in [1.0]", Value::Bool(false)),
        ("false and null", Value::Bool(false)),
        ("true and null", Value::Null),
        ("true or null", Value::Bool(true)),
        ("false or null", Value::Null),
        ("not (true and null)", Value::Null),
        ("if null then 1 else 2", int(2)),
        ("if true then null else 1.5", Value::Null),
        ("if false then 1 else if true then 2.5 else 3", float(2.5)),
        ("7d - 1h", Value::Duration(6 * 86_400_000_000 + 23 * 3_600_000_000)),
        ("-(7d)", Value::Duration(-7 * 86_400_000_000)),
    ];
    let mut failures = Vec::new();
    for (expression, expected) in cases {
        match try_eval(expression, &[]) {
            Ok(value) if value == expected => {}
            other => failures.push(format!("`{expression}`: expected {expected}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Column values by name.
type Row = Vec<(&'static str, Value)>;

/// Expressions over columns: nulls from the row, timestamps, and mixed types.
#[test]
fn column_expressions() {
    let null = Value::Null;
    let t = |micros: i64| Value::Timestamp(micros);
    let cases: Vec<(&str, Row, Value)> = vec![
        ("i in [1]", vec![("i", null.clone())], null.clone()),
        ("i not in [1]", vec![("i", null.clone())], null.clone()),
        ("hour(t)", vec![("t", t(-1))], int(23)),
        ("date_of(t)", vec![("t", t(-1))], Value::Date(-1)),
        ("date_of(t) == 1969-12-31", vec![("t", t(-1))], Value::Bool(true)),
        ("day_of_week(t)", vec![("t", t(-1))], int(3)),
        ("year(t)", vec![("t", t(-1))], int(1969)),
        ("hour(t) < 6", vec![("t", t(3 * 3_600_000_000))], Value::Bool(true)),
        ("t - 1h", vec![("t", t(0))], t(-3_600_000_000)),
        ("1h + t", vec![("t", t(0))], t(3_600_000_000)),
        ("t - at", vec![("t", t(10)), ("at", t(4))], Value::Duration(6)),
        ("coalesce(f, 0)", vec![("f", null.clone())], float(0.0)),
        ("coalesce(f, 0)", vec![("f", float(NAN))], float(NAN)),
        ("coalesce(i, j)", vec![("j", int(3))], int(3)),
        ("coalesce(i, j)", vec![], null.clone()),
        ("is_null(f)", vec![("f", null.clone())], Value::Bool(true)),
        ("is_null(f)", vec![("f", float(NAN))], Value::Bool(false)),
        ("f / g", vec![("f", float(1.0)), ("g", null.clone())], null.clone()),
        ("i != j", vec![("i", int(1))], null.clone()),
        ("b and i > 0", vec![("b", Value::Bool(false))], Value::Bool(false)),
        ("b or i > 0", vec![("b", Value::Bool(true))], Value::Bool(true)),
        ("if b then 1 else 2", vec![], int(2)),
        (
            "if f > 0.0 then \"pos\" else \"other\"",
            vec![("f", float(NAN))],
            text("other"),
        ),
        ("least(i, 2)", vec![], null.clone()),
        ("clamp(5, i, j)", vec![("i", int(10)), ("j", int(0))], int(0)),
        ("hash_bucket(s, 1000)", vec![("s", text("US"))], int(17)),
        ("hash_bucket(i, 1000)", vec![("i", int(-1))], int(757)),
        ("bucketize(i, [10, 20])", vec![("i", int(20))], int(2)),
        ("upper(s)", vec![("s", null.clone())], null.clone()),
        ("length(s)", vec![("s", text("日本"))], int(2)),
        ("d < 2026-01-01", vec![("d", Value::Date(0))], Value::Bool(true)),
        ("abs(i)", vec![("i", int(i64::MIN))], int(i64::MIN)),
        ("-f", vec![("f", float(0.0))], float(-0.0)),
        ("i + j", vec![("i", int(i64::MAX)), ("j", int(1))], int(i64::MIN)),
        ("i / j", vec![("i", int(-1)), ("j", int(0))], float(-INF)),
        ("ln(1 + f)", vec![("f", float(-1.0))], float(-INF)),
    ];
    let mut failures = Vec::new();
    for (expression, row, expected) in cases {
        let value = eval(expression, &row);
        if value != expected {
            failures.push(format!("`{expression}` on {row:?}: expected {expected}, got {value}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The rows of the tables that are checker errors: the kernels rely on the checker for them.
#[test]
fn invalid_constants_and_bare_nulls_never_reach_the_kernels() {
    let cases = [
        ("clamp(i, 10, 0)", "E0205"),
        ("bucketize(f, [1.0, 1.0])", "E0205"),
        ("bucketize(f, [2, 1.5])", "E0205"),
        ("bucketize(f, [])", "E0205"),
        ("hash_bucket(s, 0)", "E0205"),
        ("hash_bucket(s, i)", "E0205"),
        ("i == null", "E0203"),
        ("null in [1]", "E0203"),
    ];
    for (expression, code) in cases {
        assert_eq!(error_codes(expression), vec![code], "`{expression}`");
    }
}
