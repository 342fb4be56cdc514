//! The edge-case tables of lang-spec/builtins.md section 4 and types.md section 4, written as
//! expressions over a probe project: the values every engine must give. One definition, run by the
//! kernels' `spec_table` (the interpreter) and, included by path, by the JIT's `spec_table` and the
//! batch lowering's `spec_edge_cases_agree` (each engine beside the interpreter).

use mlsys_kernels::Value;

/// Column values by name.
pub type Row = Vec<(&'static str, Value)>;

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;
const HOUR: i64 = 3_600_000_000;

/// The columns every case may read (all nullable; absent ones are null).
const SCHEMA: &str = "i: int64?, j: int64?, f: float64?, g: float64?, s: string?, d: date?, t: timestamp?, \
                      u: duration?, b: bool?, at: timestamp";

/// A project with one row-level feature `probe@v1.value = expression` over the case columns.
pub fn probe_project(expression: &str) -> String {
    format!(
        "source rows {{ format = csv, location = \"rows\", timestamp = at, schema {{ {SCHEMA} }} }}\n\
         features probe v1 {{ from = rows\n value = {expression}\n }}\n"
    )
}

pub fn float(value: f64) -> Value {
    Value::Float(value)
}

pub fn int(value: i64) -> Value {
    Value::Int(value)
}

pub fn text(value: &str) -> Value {
    Value::string(value)
}

/// Expressions without column reads and their values.
pub fn constant_cases() -> Vec<(&'static str, Value)> {
    vec![
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
    ]
}

/// Expressions over columns (nulls from the row, timestamps, mixed types, range extremes) and their
/// values.
pub fn column_cases() -> Vec<(&'static str, Row, Value)> {
    let null = Value::Null;
    let t = Value::Timestamp;
    vec![
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
        // Extremes the kernels must survive: dates and instants at the ends of their ranges.
        ("year(t)", vec![("t", t(i64::MIN))], int(-290_308)),
        ("month(d)", vec![("d", Value::Date(i32::MAX))], int(7)),
        ("year(d)", vec![("d", Value::Date(i32::MAX))], int(5_881_580)),
        ("hour(t)", vec![("t", t(i64::MAX))], int(4)),
        ("concat(s, s)", vec![("s", text(""))], text("")),
        ("upper(s)", vec![("s", text("straße"))], text("STRASSE")),
        // The constant edges again, read from columns so that no engine can fold them away; `g`
        // holds NaN, `f` -0.0, `i` -2^63.
        ("ln(f)", vec![("f", float(-0.0))], float(-INF)),
        ("ln(g)", vec![("g", float(NAN))], float(NAN)),
        ("exp(g)", vec![("g", float(NAN))], float(NAN)),
        ("sqrt(g)", vec![("g", float(NAN))], float(NAN)),
        ("sqrt(f)", vec![("f", float(-0.0))], float(-0.0)),
        ("abs(f)", vec![("f", float(-0.0))], float(0.0)),
        ("pow(g, 0)", vec![("g", float(NAN))], float(1.0)),
        ("pow(1.0, g)", vec![("g", float(NAN))], float(1.0)),
        ("clamp(g, 0.0, 1.0)", vec![("g", float(NAN))], float(1.0)),
        ("clamp(f, 0.0, 1.0)", vec![("f", float(-0.0))], float(0.0)),
        ("clamp(5, 10 + 0 * i, 0 * i)", vec![("i", int(i64::MIN))], int(0)),
        ("least(1.0, g)", vec![("g", float(NAN))], float(1.0)),
        ("greatest(1.0, g)", vec![("g", float(NAN))], float(NAN)),
        ("least(f, 0.0)", vec![("f", float(-0.0))], float(-0.0)),
        ("greatest(f, 0.0)", vec![("f", float(-0.0))], float(0.0)),
        ("least(0.0, f)", vec![("f", float(-0.0))], float(-0.0)),
        ("least(1, j)", vec![], null.clone()),
        ("lower(s)", vec![("s", text("ΣΑΣ"))], text("σας")),
        ("concat(\"a\", s, \"b\")", vec![], null.clone()),
        ("day_of_week(d)", vec![("d", Value::Date(0))], int(4)),
        (
            "coalesce(if b then null else 2.0, 0.0 / 0, 1.0)",
            vec![("b", Value::Bool(true))],
            float(NAN),
        ),
        ("coalesce(g, 1.0)", vec![("g", float(NAN))], float(NAN)),
        ("coalesce(g)", vec![("g", float(NAN))], float(NAN)),
        ("coalesce(j)", vec![], null.clone()),
        (
            "u + t",
            vec![("t", t(-1)), ("u", Value::Duration(HOUR))],
            Value::Timestamp(HOUR - 1),
        ),
        ("is_null(g)", vec![("g", float(NAN))], Value::Bool(false)),
        ("is_null(j)", vec![], Value::Bool(true)),
        ("hash_bucket(j, 10)", vec![], null.clone()),
        ("bucketize(g, [0.0])", vec![("g", float(NAN))], int(1)),
        ("bucketize(f, [0.0])", vec![("f", float(-0.0))], int(1)),
        ("1.0 / f", vec![("f", float(-0.0))], float(-INF)),
        ("-i", vec![("i", int(i64::MIN))], int(i64::MIN)),
        ("i - 1", vec![("i", int(i64::MIN))], int(i64::MAX)),
        ("i * -1", vec![("i", int(i64::MIN))], int(i64::MIN)),
        ("-f", vec![("f", float(-0.0))], float(0.0)),
        ("f + 0.0", vec![("f", float(-0.0))], float(0.0)),
        ("f * 1", vec![("f", float(-0.0))], float(-0.0)),
        ("g == g", vec![("g", float(NAN))], Value::Bool(false)),
        ("g != g", vec![("g", float(NAN))], Value::Bool(true)),
        ("g < 1.0", vec![("g", float(NAN))], Value::Bool(false)),
        ("g >= g", vec![("g", float(NAN))], Value::Bool(false)),
        ("f == 0.0", vec![("f", float(-0.0))], Value::Bool(true)),
        ("f < 0.0", vec![("f", float(-0.0))], Value::Bool(false)),
        ("j in [1]", vec![], null.clone()),
        ("f in [0.0]", vec![("f", float(-0.0))], Value::Bool(true)),
        ("g in [1.0, null]", vec![("g", float(NAN))], null.clone()),
        ("g in [1.0]", vec![("g", float(NAN))], Value::Bool(false)),
        ("g not in [1.0]", vec![("g", float(NAN))], Value::Bool(true)),
        (
            "i in [1.5, -9223372036854775807]",
            vec![("i", int(i64::MIN))],
            Value::Bool(true),
        ),
        ("false and b", vec![], Value::Bool(false)),
        ("true or b", vec![], Value::Bool(true)),
        ("true and b", vec![], null.clone()),
        ("not b", vec![], null.clone()),
        ("t - t", vec![("t", t(-1))], Value::Duration(0)),
        (
            "t + u - t",
            vec![("t", t(-1)), ("u", Value::Duration(HOUR))],
            Value::Duration(HOUR),
        ),
    ]
}

/// The rows of the tables that are checker errors, with their codes: no engine ever sees them.
pub const CHECKER_ERRORS: [(&str, &str); 8] = [
    ("clamp(i, 10, 0)", "E0205"),
    ("bucketize(f, [1.0, 1.0])", "E0205"),
    ("bucketize(f, [2, 1.5])", "E0205"),
    ("bucketize(f, [])", "E0205"),
    ("hash_bucket(s, 0)", "E0205"),
    ("hash_bucket(s, i)", "E0205"),
    ("i == null", "E0203"),
    ("null in [1]", "E0203"),
];
