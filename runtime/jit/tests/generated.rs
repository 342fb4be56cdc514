//! Differential tests on generated programs: random well-typed expressions over a schema with
//! every type (nullable and not), grouped into feature groups whose later features read earlier
//! ones, compiled by the JIT and evaluated on random rows; every value must be bit-identical to
//! the interpreter's. A deterministic run also checks that every builtin was reached.

use std::collections::BTreeSet;

use mlsys_compiler::builtins::Builtin;
use mlsys_compiler::compile;
use mlsys_compiler::plan::{ExprKind, FeatureId, Plan};
use mlsys_compiler::source::SourceFile;
use mlsys_compiler::types::BaseType;
use proptest::prelude::*;

use crate::support::{Rng, check_feature_set};

const SCHEMA: &str = "b: bool, i: int64, f: float64, s: string, d: date, t: timestamp, u: duration, \
    nb: bool?, ni: int64?, nf: float64?, ns: string?, nd: date?, nt: timestamp?, nu: duration?";

/// Generates expression text; `features` are earlier features of the group a leaf may read.
struct Generator<'a> {
    rng: &'a mut Rng,
    features: &'a [(String, BaseType)],
}

impl Generator<'_> {
    /// Random expression text of (roughly) type `base`; what does not type-check is dropped.
    fn expression(&mut self, base: BaseType, depth: usize) -> String {
        use BaseType::*;
        if depth == 0 || self.rng.chance(20) {
            return self.leaf(base);
        }
        let depth = depth - 1;
        match self.rng.below(5) {
            0 => {
                let condition = self.expression(Bool, depth);
                let then = if self.rng.chance(15) {
                    "null".to_string()
                } else {
                    self.expression(base, depth)
                };
                let otherwise = self.expression(base, depth);
                if self.rng.chance(30) {
                    let second = self.expression(Bool, depth);
                    let middle = self.expression(base, depth);
                    return format!("(if {condition} then {then} else if {second} then {middle} else {otherwise})");
                }
                return format!("(if {condition} then {then} else {otherwise})");
            }
            1 => {
                let arguments: Vec<std::string::String> = (0..1 + self.rng.below(3))
                    .map(|_| {
                        if self.rng.chance(10) {
                            "null".to_string()
                        } else {
                            self.expression(base, depth)
                        }
                    })
                    .collect();
                return format!("coalesce({})", arguments.join(", "));
            }
            2 if base != Bool => {
                let name = self.rng.pick(&["least", "greatest"]);
                let arguments: Vec<std::string::String> = (0..2 + self.rng.below(2))
                    .map(|_| {
                        // Mixed int64 and float64 arguments compare and return as float64.
                        if base == Float64 && self.rng.chance(30) {
                            self.expression(Int64, depth)
                        } else {
                            self.expression(base, depth)
                        }
                    })
                    .collect();
                return format!("{name}({})", arguments.join(", "));
            }
            _ => {}
        }
        match base {
            Bool => self.boolean(depth),
            Int64 => self.int(depth),
            Float64 => self.float(depth),
            String => match self.rng.below(3) {
                0 => format!(
                    "{}({})",
                    self.rng.pick(&["lower", "upper"]),
                    self.expression(String, depth)
                ),
                _ => {
                    let parts: Vec<std::string::String> = (0..1 + self.rng.below(3))
                        .map(|_| self.expression(String, depth))
                        .collect();
                    format!("concat({})", parts.join(", "))
                }
            },
            Date => format!("date_of({})", self.expression(Timestamp, depth)),
            Timestamp => match self.rng.below(3) {
                0 => format!(
                    "({} + {})",
                    self.expression(Duration, depth),
                    self.expression(Timestamp, depth)
                ),
                _ => {
                    let op = self.rng.pick(&["+", "-"]);
                    format!(
                        "({} {op} {})",
                        self.expression(Timestamp, depth),
                        self.expression(Duration, depth)
                    )
                }
            },
            Duration => match self.rng.below(3) {
                0 => format!(
                    "({} - {})",
                    self.expression(Timestamp, depth),
                    self.expression(Timestamp, depth)
                ),
                1 => format!("(-{})", self.expression(Duration, depth)),
                _ => {
                    let op = self.rng.pick(&["+", "-"]);
                    format!(
                        "({} {op} {})",
                        self.expression(Duration, depth),
                        self.expression(Duration, depth)
                    )
                }
            },
        }
    }

    fn boolean(&mut self, depth: usize) -> String {
        use BaseType::*;
        match self.rng.below(8) {
            0 => {
                let operand = self.rng.pick(&BaseType::ALL);
                let op = if operand == Bool {
                    self.rng.pick(&["==", "!="])
                } else {
                    self.rng.pick(&["==", "!=", "<", "<=", ">", ">="])
                };
                format!(
                    "({} {op} {})",
                    self.expression(operand, depth),
                    self.expression(operand, depth)
                )
            }
            1 => {
                let op = self.rng.pick(&["and", "or"]);
                format!(
                    "({} {op} {})",
                    self.expression(Bool, depth),
                    self.expression(Bool, depth)
                )
            }
            2 => format!("(not {})", self.expression(Bool, depth)),
            3 => {
                let operand = self.rng.pick(&[Int64, Float64, String, Date, Duration, Bool]);
                let items: Vec<std::string::String> = (0..1 + self.rng.below(3))
                    .map(|_| {
                        if self.rng.chance(15) {
                            "null".to_string()
                        } else if operand == Float64 && self.rng.chance(30) {
                            self.literal(Int64)
                        } else {
                            self.literal(operand)
                        }
                    })
                    .collect();
                let not = if self.rng.chance(30) { " not" } else { "" };
                format!("({}{not} in [{}])", self.expression(operand, depth), items.join(", "))
            }
            4 => {
                let operand = self.rng.pick(&BaseType::ALL);
                format!("is_null({})", self.expression(operand, depth))
            }
            5 => format!(
                "{}({}, {})",
                self.rng.pick(&["contains", "starts_with"]),
                self.expression(String, depth),
                self.expression(String, depth)
            ),
            _ => {
                let op = self.rng.pick(&["==", "<", ">=", "!="]);
                format!(
                    "({} {op} {})",
                    self.expression(Float64, depth),
                    self.expression(Int64, depth)
                )
            }
        }
    }

    fn int(&mut self, depth: usize) -> String {
        use BaseType::*;
        match self.rng.below(6) {
            0 => {
                let op = self.rng.pick(&["+", "-", "*"]);
                format!(
                    "({} {op} {})",
                    self.expression(Int64, depth),
                    self.expression(Int64, depth)
                )
            }
            1 => format!("(-{})", self.expression(Int64, depth)),
            2 => format!("abs({})", self.expression(Int64, depth)),
            3 => format!(
                "clamp({}, {}, {})",
                self.expression(Int64, depth),
                self.rng.pick(&["-5", "0", "(-9223372036854775807 - 1)"]),
                self.rng.pick(&["0", "10", "9223372036854775807"])
            ),
            4 => match self.rng.below(4) {
                0 => format!("length({})", self.expression(String, depth)),
                1 => format!("hour({})", self.expression(Timestamp, depth)),
                2 => {
                    let operand = self.rng.pick(&[String, Int64]);
                    let buckets = self.rng.pick(&[1_i64, 2, 10, 1000, i64::MAX]);
                    format!("hash_bucket({}, {buckets})", self.expression(operand, depth))
                }
                _ => {
                    let edges = self
                        .rng
                        .pick(&["[-1.5, 0, 10, 1e300]", "[10, 20]", "[0.0]", "[-1 / 0, 5e-324]"]);
                    let operand = self.rng.pick(&[Float64, Int64]);
                    format!("bucketize({}, {edges})", self.expression(operand, depth))
                }
            },
            _ => {
                let part = self.rng.pick(&["day_of_week", "day", "month", "year"]);
                let operand = self.rng.pick(&[Date, Timestamp]);
                format!("{part}({})", self.expression(operand, depth))
            }
        }
    }

    fn float(&mut self, depth: usize) -> String {
        use BaseType::*;
        match self.rng.below(5) {
            0 => {
                let op = self.rng.pick(&["+", "-", "*", "/"]);
                let (lhs, rhs) = (self.rng.pick(&[Float64, Int64]), self.rng.pick(&[Float64, Int64]));
                format!("({} {op} {})", self.expression(lhs, depth), self.expression(rhs, depth))
            }
            1 => format!("(-{})", self.expression(Float64, depth)),
            2 => {
                let function = self
                    .rng
                    .pick(&["ln", "log10", "exp", "sqrt", "round", "floor", "ceil", "abs"]);
                let operand = if function == "abs" {
                    Float64
                } else {
                    self.rng.pick(&[Float64, Int64])
                };
                format!("{function}({})", self.expression(operand, depth))
            }
            3 => {
                let (x, y) = (self.rng.pick(&[Float64, Int64]), self.rng.pick(&[Float64, Int64]));
                format!("pow({}, {})", self.expression(x, depth), self.expression(y, depth))
            }
            _ => format!(
                "clamp({}, {}, {})",
                self.expression(Float64, depth),
                self.rng.pick(&["-1", "0.0", "(-0.0)", "(-1 / 0)"]),
                self.rng.pick(&["1", "0.0", "2.5", "(1 / 0)"])
            ),
        }
    }

    fn leaf(&mut self, base: BaseType) -> String {
        let earlier: Vec<&String> = self
            .features
            .iter()
            .filter(|(_, feature_base)| *feature_base == base)
            .map(|(name, _)| name)
            .collect();
        if !earlier.is_empty() && self.rng.chance(30) {
            return self.rng.pick(&earlier).clone();
        }
        if self.rng.chance(60) || base == BaseType::Timestamp {
            let name = ["b", "i", "f", "s", "d", "t", "u"][BaseType::ALL.iter().position(|b| *b == base).unwrap_or(0)];
            return if self.rng.chance(50) {
                format!("n{name}")
            } else {
                name.to_string()
            };
        }
        self.literal(base)
    }

    fn literal(&mut self, base: BaseType) -> String {
        let choices: &[&str] = match base {
            BaseType::Bool => &["true", "false"],
            BaseType::Int64 => &[
                "0",
                "1",
                "(-1)",
                "7",
                "42",
                "9223372036854775807",
                "(-9223372036854775807 - 1)",
            ],
            BaseType::Float64 => &[
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
            ],
            BaseType::String => &[
                "\"\"",
                "\"a\"",
                "\"US\"",
                "\"\\u{df}\"",
                "\"\\u{3a3}\"",
                "\"é\"",
                "\"/admin\"",
                "\"Z\"",
            ],
            BaseType::Date => &["1970-01-01", "1969-12-31", "2026-11-01", "0000-03-01"],
            BaseType::Timestamp => &["t", "nt"],
            BaseType::Duration => &["0s", "1h", "250ms", "7d", "2w", "(-1d)"],
        };
        self.rng.pick(choices).to_string()
    }
}

fn group_text(features: &[(String, String)]) -> String {
    let lines: Vec<String> = features
        .iter()
        .map(|(name, text)| format!("  {name} = {text}\n"))
        .collect();
    format!(
        "source s {{\n  format = parquet\n  location = \"data/s\"\n  schema {{ {SCHEMA} }}\n}}\n\
         features g v1 {{\n  from = s\n{}}}\n",
        lines.concat()
    )
}

fn checked(text: &str) -> Option<Plan> {
    let compilation = compile(&[SourceFile::new("generated.mlsys", text)]);
    if compilation.has_errors() {
        return None;
    }
    compilation.plan
}

/// A feature group of up to `count` generated features; later ones may read earlier ones.
fn generated_plan(rng: &mut Rng, count: usize) -> Option<Plan> {
    let mut accepted: Vec<(String, String)> = Vec::new();
    let mut typed: Vec<(String, BaseType)> = Vec::new();
    let mut plan = None;
    for index in 0..count * 3 {
        if accepted.len() == count {
            break;
        }
        let base = rng.pick(&BaseType::ALL);
        let depth = 1 + rng.below(4);
        let text = Generator {
            rng: &mut *rng,
            features: &typed,
        }
        .expression(base, depth);
        let name = format!("x{index}");
        accepted.push((name.clone(), text));
        match checked(&group_text(&accepted)) {
            Some(candidate) => {
                let ty = candidate
                    .features
                    .values()
                    .find(|feature| feature.name == name)
                    .map(|feature| feature.ty.base);
                typed.extend(ty.map(|base| (name, base)));
                plan = Some(candidate);
            }
            None => {
                accepted.pop();
            }
        }
    }
    plan
}

/// What a plan exercises, for the coverage check.
fn record_coverage(plan: &Plan, covered: &mut BTreeSet<String>) {
    for expr in plan.exprs.values() {
        let name = match &expr.kind {
            ExprKind::Call { function, .. } => function.name().to_string(),
            ExprKind::Binary { binary, .. } => format!("operator {}", binary.name()),
            ExprKind::Unary { unary, .. } => format!("operator {unary:?}"),
            ExprKind::In { negated, .. } => format!("in (negated: {negated})"),
            ExprKind::If { branches, .. } => format!("if with {} branches", branches.len().min(2)),
            ExprKind::ToFloat { .. } => "to_float64".to_string(),
            ExprKind::Feature { .. } => "feature read".to_string(),
            _ => continue,
        };
        covered.insert(name);
    }
}

/// Every feature of the plan as one set, and the last feature alone (which computes the
/// features it reads without returning them).
fn check_plan(plan: &Plan, rng: &mut Rng, rows: usize) -> Result<usize, String> {
    let all: Vec<FeatureId> = plan.features.iter().map(|(id, _)| id).collect();
    let mut compared = check_feature_set(plan, &all, rows, rng)?;
    if let Some(last) = all.last() {
        compared += check_feature_set(plan, &[*last], rows / 2, rng)?;
    }
    Ok(compared)
}

fn shown(plan: &Plan) -> String {
    plan.features
        .values()
        .map(|feature| format!("{}: {}", feature.name, feature.ty))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn generated_programs_agree_with_the_interpreter_and_reach_every_builtin() {
    let mut covered = BTreeSet::new();
    let (mut plans, mut compared, mut failures) = (0, 0, Vec::new());
    for seed in 0..160 {
        let mut rng = Rng(seed);
        let Some(plan) = generated_plan(&mut rng, 6) else {
            continue;
        };
        plans += 1;
        record_coverage(&plan, &mut covered);
        match check_plan(&plan, &mut rng, 24) {
            Ok(count) => compared += count,
            Err(failure) => failures.push(format!("seed {seed}: {failure}\n{}", shown(&plan))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    let missing: Vec<&str> = Builtin::ALL
        .iter()
        .map(|builtin| builtin.name())
        .filter(|name| !covered.contains(*name))
        .collect();
    assert!(missing.is_empty(), "builtins never generated: {missing:?}");
    for construct in [
        "operator and",
        "operator or",
        "operator div",
        "operator Negate",
        "operator Not",
        "in (negated: true)",
        "if with 2 branches",
        "to_float64",
        "feature read",
    ] {
        assert!(covered.contains(construct), "{construct} never generated: {covered:?}");
    }
    assert!(plans >= 150, "only {plans} plans");
    assert!(compared > 10_000, "only {compared} values compared");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_agree_with_the_interpreter(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        if let Some(plan) = generated_plan(&mut rng, 4) {
            let outcome = check_plan(&plan, &mut rng, 16);
            prop_assert!(outcome.is_ok(), "{}\n{}", outcome.err().unwrap_or_default(), shown(&plan));
        }
    }
}
