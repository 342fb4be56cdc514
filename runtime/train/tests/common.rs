//! Shared test data: seeded generators of learnable data sets with missing values.

use mlsys_train::{Dataset, GbdtParams, Task};

/// A small seeded generator (splitmix64) so test data never depends on another crate.
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        TestRng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-300);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

pub fn names(count: usize) -> Vec<String> {
    (0..count).map(|index| format!("x{index}")).collect()
}

/// A nonlinear classification problem: 6 features (one binary, one integer-valued), ~8% missing in
/// three of them, labels drawn from a logistic of a sum of interactions and thresholds.
pub fn nonlinear_classification(rows: usize, seed: u64) -> Dataset {
    let mut rng = TestRng::new(seed);
    let mut columns: Vec<Vec<f64>> = (0..6).map(|_| Vec::with_capacity(rows)).collect();
    let mut labels = Vec::with_capacity(rows);
    for _ in 0..rows {
        let x0 = rng.uniform(-2.0, 2.0);
        let x1 = rng.uniform(-2.0, 2.0);
        let x2 = rng.normal();
        let x3 = if rng.unit() < 0.5 { 1.0 } else { 0.0 };
        let x4 = (rng.unit() * 10.0).floor();
        let x5 = rng.normal();
        let logit =
            3.0 * (2.0 * x0).sin() + 2.5 * (x1 * x2).tanh() + 1.5 * x3 * (x4 - 4.5).signum() - 1.2 * x5 * x5 + 1.0;
        let probability = 1.0 / (1.0 + (-2.0 * logit).exp());
        labels.push(if rng.unit() < probability { 1.0 } else { 0.0 });
        let mut values = [x0, x1, x2, x3, x4, x5];
        for feature in [0, 2, 4] {
            if rng.unit() < 0.08 {
                values[feature] = f64::NAN;
            }
        }
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(value);
        }
    }
    Dataset::new(Task::Classification, names(6), columns, labels).expect("valid data")
}

/// A regression problem with a nonlinear signal and missing values.
pub fn nonlinear_regression(rows: usize, seed: u64) -> Dataset {
    let mut rng = TestRng::new(seed);
    let mut columns: Vec<Vec<f64>> = (0..4).map(|_| Vec::with_capacity(rows)).collect();
    let mut labels = Vec::with_capacity(rows);
    for _ in 0..rows {
        let x0 = rng.uniform(-3.0, 3.0);
        let x1 = rng.normal();
        let x2 = (rng.unit() * 5.0).floor();
        let x3 = rng.uniform(0.0, 1.0);
        labels.push(2.0 * x0.sin() + x1 * x1 + 0.5 * x2 - 3.0 * x3 + 0.1 * rng.normal());
        let mut values = [x0, x1, x2, x3];
        if rng.unit() < 0.1 {
            values[2] = f64::NAN;
        }
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(value);
        }
    }
    Dataset::new(Task::Regression, names(4), columns, labels).expect("valid data")
}

/// Small, fast gbdt settings for tests.
pub fn quick_gbdt() -> GbdtParams {
    GbdtParams {
        trees: 40,
        depth: 4,
        learning_rate: 0.2,
        min_rows_per_leaf: 10,
        ..GbdtParams::default()
    }
}

/// Asserts two model encodings are identical, reporting the first difference instead of both blobs.
#[track_caller]
pub fn assert_same_bytes(left: &[u8], right: &[u8], context: &str) {
    if left == right {
        return;
    }
    let first = left
        .iter()
        .zip(right)
        .position(|(a, b)| a != b)
        .unwrap_or(left.len().min(right.len()));
    let excerpt = |bytes: &[u8]| {
        String::from_utf8_lossy(&bytes[first.saturating_sub(40)..(first + 40).min(bytes.len())]).into_owned()
    };
    panic!(
        "{context}: bytes differ at offset {first} (lengths {} and {}):\n  {}\n  {}",
        left.len(),
        right.len(),
        excerpt(left),
        excerpt(right)
    );
}
