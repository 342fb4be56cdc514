//! Shared test helpers: a seedable generator of random values (nulls, NaN, ±inf, -0.0,
//! subnormals, int64 extremes, non-ASCII strings, instants next to hour and day boundaries, dates
//! far from 1970), project compilation, and the differential check of the JIT against the
//! reference interpreter.

use std::path::{Path, PathBuf};

use mlsys_compiler::compile;
use mlsys_compiler::plan::verify::verify;
use mlsys_compiler::plan::{FeatureId, FeatureKind, Plan};
use mlsys_compiler::source::SourceFile;
use mlsys_compiler::types::{BaseType, Type};
use mlsys_jit::CompiledFeatures;
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Bindings, evaluate_features};

/// splitmix64: small, seedable and good enough to pick test values.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

pub const HOUR: i64 = 3_600_000_000;
pub const DAY: i64 = 86_400_000_000;

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

/// A random value of `ty`: null now and then (rarely even for a non-nullable type: the engines
/// must agree on any input), otherwise biased towards edge values.
pub fn random_value(rng: &mut Rng, ty: Type) -> Value {
    if rng.chance(if ty.nullable { 15 } else { 2 }) {
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
                2.2e-308,
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
                    .map(|_| rng.pick(&['a', 'B', 'é', '/', 'Σ', 'ß', 'z', 'İ']))
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

/// Compiles project files that must be free of errors and pass the verifier.
pub fn project(files: &[(String, String)]) -> Plan {
    let sources: Vec<SourceFile> = files
        .iter()
        .map(|(name, text)| SourceFile::new(name.clone(), text.clone()))
        .collect();
    let compilation = compile(&sources);
    assert!(!compilation.has_errors(), "{:#?}", compilation.diagnostics);
    let plan = compilation.plan.expect("a plan without errors");
    assert_eq!(verify(&plan), Vec::new());
    plan
}

pub fn project_text(text: &str) -> Plan {
    project(&[("test.mlsys".to_string(), text.to_string())])
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn mlsys_files(directory: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(directory)
        .expect("a directory")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "mlsys"))
        .collect();
    files.sort();
    files
}

/// Random inputs for a whole plan, chosen without looking at what the JIT reads: every column of
/// every source and every windowed aggregate.
pub fn random_bindings(plan: &Plan, rng: &mut Rng) -> Bindings {
    let mut bindings = Bindings::new();
    for (source_id, source) in plan.sources.iter() {
        let row: Vec<Value> = source
            .columns
            .iter()
            .map(|column| random_value(rng, column.ty))
            .collect();
        bindings = bindings.with_row(source_id, row);
    }
    for (feature_id, feature) in plan.features.iter() {
        if matches!(feature.kind, FeatureKind::Aggregate(_)) {
            bindings = bindings.with_feature(feature_id, random_value(rng, feature.ty));
        }
    }
    bindings
}

/// Compiles `features` and compares the JIT with the interpreter on `rows` random rows, through
/// both the convenience path and one reused row buffer. Returns the number of values compared.
pub fn check_feature_set(plan: &Plan, features: &[FeatureId], rows: usize, rng: &mut Rng) -> Result<usize, String> {
    let compiled = mlsys_jit::compile(plan, features).map_err(|error| format!("compile: {error}"))?;
    let mut row = compiled.new_row();
    let mut compared = 0;
    for _ in 0..rows {
        let bindings = random_bindings(plan, rng);
        compared += compare_on(plan, &compiled, &mut row, &bindings)?;
    }
    Ok(compared)
}

/// The interpreter and the JIT on one set of inputs; `row` is reused from call to call.
pub fn compare_on(
    plan: &Plan,
    compiled: &CompiledFeatures,
    row: &mut mlsys_jit::Row,
    bindings: &Bindings,
) -> Result<usize, String> {
    let features = compiled.outputs();
    let expected = evaluate_features(plan, features, bindings).map_err(|error| format!("interpreter: {error}"))?;
    let actual = compiled
        .evaluate_inputs(bindings)
        .map_err(|error| format!("evaluate: {error}"))?;
    for (index, slot) in compiled.inputs().iter().enumerate() {
        row.set(index, &slot.read(bindings))
            .map_err(|error| format!("set: {error}"))?;
    }
    compiled.run(row).map_err(|error| format!("run: {error}"))?;
    let reused = row.values();
    for (index, feature) in features.iter().enumerate() {
        if !actual[index].bits_equal(&expected[index]) || !reused[index].bits_equal(&expected[index]) {
            let inputs: Vec<String> = compiled
                .inputs()
                .iter()
                .map(|slot| format!("{slot:?} = {}", slot.read(bindings)))
                .collect();
            let name = plan.features.get(*feature).map_or("?", |feature| feature.name.as_str());
            return Err(format!(
                "feature {feature} ({name}): interpreter {}, JIT {}, JIT on a reused row {}\ninputs: {}",
                expected[index],
                actual[index],
                reused[index],
                inputs.join(", ")
            ));
        }
    }
    Ok(features.len())
}
