//! Chargebacks: every fraudulent payment is reported 1 to 45 days later (late-arriving labels), and a
//! few legitimate payments are disputed (`is_fraud = false`). Reports due after the last day of
//! chargebacks are absent.

use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, MICROS_PER_SECOND};

use super::{Chargeback, Transaction, day_of, rfc3339};
use crate::random::Rng;

/// Share of legitimate payments that the card holder disputes anyway.
const DISPUTE_RATE: f64 = 0.0012;

pub struct Labels {
    /// Reported before the end of the payments, in transaction order; sorted by the caller.
    pub rows: Vec<Chargeback>,
    /// Reported from the end of the payments to the end of the chargebacks.
    pub late: Vec<Chargeback>,
    /// For each transaction: it has a chargeback row before the end of the payments.
    pub disputed: Vec<bool>,
    /// Fraudulent payments whose report falls after the last day of chargebacks.
    pub after_end: usize,
}

/// The chargebacks reported before `end.1`; the draws do not depend on it, so a later end only adds
/// rows.
pub fn chargebacks(transactions: &[Transaction], end: (i32, i32), rng: &mut Rng) -> Labels {
    let (payments_end, labels_end) = end;
    let mut labels = Labels {
        rows: Vec::new(),
        late: Vec::new(),
        disputed: vec![false; transactions.len()],
        after_end: 0,
    };
    for (index, transaction) in transactions.iter().enumerate() {
        let delay = if transaction.fraud {
            delay(1, 10.0, rng)
        } else if rng.chance(DISPUTE_RATE) {
            delay(3, 15.0, rng)
        } else {
            continue;
        };
        // Whole seconds, rounded up: still at least `min_days` after the payment.
        let exact = transaction.event_time + delay;
        let reported = exact + (MICROS_PER_SECOND - exact.rem_euclid(MICROS_PER_SECOND)) % MICROS_PER_SECOND;
        let day = day_of(reported);
        if day >= labels_end {
            labels.after_end += usize::from(transaction.fraud);
            continue;
        }
        let row = Chargeback {
            txn_id: transaction.txn_id.clone(),
            is_fraud: transaction.fraud.to_string(),
            reported_at: rfc3339(reported),
            reported_micros: reported,
        };
        if day >= payments_end {
            labels.late.push(row);
            continue;
        }
        labels.disputed[index] = true;
        labels.rows.push(row);
    }
    labels
}

/// At least `min_days` days, then an exponential tail with the given mean, below 45 days in all.
fn delay(min_days: i64, mean_days: f64, rng: &mut Rng) -> i64 {
    let max_extra = ((45 - min_days) * MICROS_PER_DAY - MICROS_PER_SECOND) as f64;
    let extra = loop {
        let extra = rng.exponential(mean_days * MICROS_PER_DAY as f64);
        if extra < max_extra {
            break extra as i64;
        }
    };
    min_days * MICROS_PER_DAY + extra
}
