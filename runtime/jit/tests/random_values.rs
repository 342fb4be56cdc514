//! A seedable generator of random values biased towards edge values (nulls, NaN and its payloads,
//! ±inf, -0.0, subnormals, int64 extremes, non-ASCII strings, instants next to hour and day
//! boundaries, dates far from 1970). One definition for the differential tests of the JIT and,
//! included by path, of the batch lowering.

use mlsys_compiler::types::{BaseType, Type};
use mlsys_kernels::Value;

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
    random_non_null(rng, ty.base)
}

/// A random value of `ty` that is null only if `ty` is nullable (what a typed Arrow column holds).
pub fn random_typed_value(rng: &mut Rng, ty: Type) -> Value {
    if ty.nullable && rng.chance(15) {
        return Value::Null;
    }
    random_non_null(rng, ty.base)
}

/// A value of `base` biased towards edge values.
fn random_non_null(rng: &mut Rng, base: BaseType) -> Value {
    match base {
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
