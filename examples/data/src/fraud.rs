//! The fraud example's data set (`examples/fraud`): card payments (`transactions`, Parquet) and the
//! chargebacks that label them weeks later (`chargebacks`, CSV), with learnable fraud patterns, late
//! labels, a few deliberately bad rows and a column that appears mid-way. In the last month (June
//! 2026, after the model's training and holdout months) amounts grow by 80% and a new fraud pattern
//! appears ([`drift`]), for monitors to catch; every row before it is as without the drift. See
//! `examples/data/README.md`.

mod bad_rows;
pub mod drift;
mod labels;
mod output;
mod population;
mod timeline;

pub use output::{FraudSummary, write};

use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, MICROS_PER_SECOND, days_from_civil, format_date};

use crate::random::{Rng, mix64};
use population::{CHANNELS, Merchants, User};
use timeline::Period;

/// Where `examples/fraud/sources.mlsys` reads each source, relative to the project directory.
pub const TRANSACTIONS_LOCATION: &str = "data/raw/transactions";
pub const CHARGEBACKS_LOCATION: &str = "data/raw/chargebacks";

/// Chance per user and day that a card is compromised; with bursts of about four payments this makes
/// about 1.5% of payments fraudulent.
const COMPROMISE_RATE: f64 = 0.0015;

/// The first of the users' drift streams (one per user, far from the other streams' numbers).
const DRIFT_STREAMS: u64 = 1 << 40;

#[derive(Clone, Debug)]
pub struct FraudConfig {
    pub seed: u64,
    pub users: u32,
    /// First day, days since 1970-01-01.
    pub start: i32,
    pub days: u32,
    /// First day whose Parquet files carry the extra `device_os` column (2026-04-01).
    pub device_os_from: i32,
    /// First day of the drift ([`drift`]: higher amounts, a new fraud pattern), 2026-06-01; none
    /// when it is not before the end.
    pub drift_from: i32,
    /// One past the last day on which chargebacks are reported: the end (the default) when the data
    /// set is a snapshot taken on its last day; later to let the labels of its last weeks arrive
    /// (payments still stop at the end).
    pub labels_until: Option<i32>,
}

impl Default for FraudConfig {
    fn default() -> Self {
        FraudConfig {
            seed: 42,
            users: 2_000,
            start: days_from_civil(2026, 1, 1),
            days: 182,
            device_os_from: days_from_civil(2026, 4, 1),
            drift_from: days_from_civil(2026, 6, 1),
            labels_until: None,
        }
    }
}

impl FraudConfig {
    /// One past the last day.
    pub fn end(&self) -> i32 {
        self.start.saturating_add(i32::try_from(self.days).unwrap_or(i32::MAX))
    }

    /// One past the last day of chargebacks: never before the end.
    pub fn labels_end(&self) -> i32 {
        self.labels_until.map_or(self.end(), |until| until.max(self.end()))
    }
}

/// One row of `transactions`, plus the ground truth that is not written.
#[derive(Clone, Debug, PartialEq)]
pub struct Transaction {
    pub txn_id: String,
    pub user_id: Option<String>,
    pub merchant: Option<String>,
    pub amount: f64,
    pub country: &'static str,
    pub channel: &'static str,
    /// Microseconds since 1970-01-01 UTC.
    pub event_time: i64,
    /// Only written from `device_os_from` on.
    pub device_os: Option<&'static str>,
    /// Ground truth: a fraudster made this payment. Not a column; chargebacks carry the label.
    pub fraud: bool,
}

/// One row of `chargebacks`, as text exactly as written to the CSV.
#[derive(Clone, Debug, PartialEq)]
pub struct Chargeback {
    pub txn_id: String,
    /// `true` or `false`, or a bad value.
    pub is_fraud: String,
    /// RFC 3339 UTC, or a bad value.
    pub reported_at: String,
    /// When it was reported, also for a bad `reported_at` text: orders the rows and picks the partition.
    pub reported_micros: i64,
}

/// A deliberately bad row.
#[derive(Clone, Debug, PartialEq)]
pub struct BadRow {
    pub source: &'static str,
    pub txn_id: String,
    pub problem: &'static str,
}

/// The whole data set in memory, rows sorted by time (`event_time`, `reported_at`).
#[derive(Clone, Debug)]
pub struct FraudData {
    pub config: FraudConfig,
    pub transactions: Vec<Transaction>,
    pub chargebacks: Vec<Chargeback>,
    pub bad_rows: Vec<BadRow>,
    /// Fraudulent payments whose report would come after the last day of chargebacks, so it is absent.
    pub reports_after_end: usize,
}

/// Generates the data set; the same config always gives the same data.
pub fn generate(config: &FraudConfig) -> FraudData {
    let root = Rng::new(config.seed);
    let merchants = Merchants::new();
    let mut user_rng = root.fork(1);
    let users: Vec<User> = (0..config.users)
        .map(|index| User::draw(index, config.start, config.days, &merchants, &mut user_rng))
        .collect();
    let period = Period {
        start: config.start,
        end: config.end(),
        device_os_from: config.device_os_from,
        compromise_rate: COMPROMISE_RATE,
    };
    let mut payments = Vec::new();
    for (index, user) in (0u32..).zip(&users) {
        let mut rng = root.fork(1_000 + u64::from(index));
        let mut own = timeline::payments(index, user, &merchants, period, &mut rng);
        let mut drift_rng = root.fork(DRIFT_STREAMS + u64::from(index));
        drift::apply(
            index,
            user,
            &merchants,
            (config.drift_from, period.end),
            &mut own,
            &mut drift_rng,
        );
        payments.extend(own);
    }
    payments.sort_by_key(|payment| (payment.event_time, payment.user)); // stable: keeps a user's order

    // Distinct positions give distinct ids: mix64 is a bijection.
    let id_salt = root.fork(2).next_u64();
    let mut transactions: Vec<Transaction> = (0u64..)
        .zip(payments)
        .map(|(position, payment)| Transaction {
            txn_id: format!("tx_{:016x}", mix64(id_salt.wrapping_add(position))),
            user_id: Some(users[payment.user as usize].id.clone()),
            merchant: payment
                .merchant
                .map(|merchant| merchants.names[merchant as usize].clone()),
            amount: payment.amount,
            country: payment.country,
            channel: CHANNELS[payment.channel],
            event_time: payment.event_time,
            device_os: payment.device_os,
            fraud: payment.fraud,
        })
        .collect();

    let labels = labels::chargebacks(&transactions, (period.end, config.labels_end()), &mut root.fork(3));
    let mut chargebacks = labels.rows;
    let bad_rows = bad_rows::inject(
        &mut transactions,
        &mut chargebacks,
        &labels.disputed,
        period,
        &mut root.fork(4),
    );
    // Reports after the end never carry injected problems: the data set's bad rows stay the same
    // however long its labels keep arriving.
    chargebacks.extend(labels.late);
    chargebacks.sort_by(|a, b| (a.reported_micros, &a.txn_id).cmp(&(b.reported_micros, &b.txn_id)));
    FraudData {
        config: config.clone(),
        transactions,
        chargebacks,
        bad_rows,
        reports_after_end: labels.after_end,
    }
}

/// The day (since 1970-01-01) of a timestamp in microseconds.
pub fn day_of(micros: i64) -> i32 {
    i32::try_from(micros.div_euclid(MICROS_PER_DAY)).unwrap_or(i32::MAX)
}

/// `2026-03-04T05:06:07Z`: RFC 3339 UTC, whole seconds.
pub fn rfc3339(micros: i64) -> String {
    let seconds = micros.div_euclid(MICROS_PER_SECOND).rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        format_date(day_of(micros)),
        seconds / 3_600,
        seconds / 60 % 60,
        seconds % 60
    )
}
