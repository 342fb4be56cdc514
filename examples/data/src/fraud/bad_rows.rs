//! A few deliberately bad rows, on legitimate undisputed payments in the middle of the period, so that
//! an ingestion run shows quarantine: a negative amount, a null `user_id` and a duplicate `txn_id` in
//! `transactions`; an unparsable `reported_at` and an `is_fraud` of `maybe` in `chargebacks`.

use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, MICROS_PER_SECOND, civil_from_days};

use super::timeline::Period;
use super::{BadRow, Chargeback, Transaction, day_of, rfc3339};
use crate::random::Rng;

pub const NEGATIVE_AMOUNT: &str = "negative amount (contract: expect amount >= 0)";
pub const NULL_USER_ID: &str = "null user_id (contract: expect not_null(user_id))";
pub const DUPLICATE_TXN_ID: &str = "duplicate txn_id (contract: expect unique(txn_id))";
pub const BAD_TIMESTAMP: &str = "unparsable reported_at";
pub const BAD_BOOL: &str = "is_fraud is `maybe`";

pub fn inject(
    transactions: &mut Vec<Transaction>,
    chargebacks: &mut Vec<Chargeback>,
    disputed: &[bool],
    period: Period,
    rng: &mut Rng,
) -> Vec<BadRow> {
    let span = period.end - period.start;
    let usable = |index: &usize| {
        let transaction = &transactions[*index];
        !transaction.fraud && !disputed[*index] && day_of(transaction.event_time) + 10 < period.end
    };
    let middle = |index: &usize| {
        let day = day_of(transactions[*index].event_time);
        day >= period.start + span / 6 && day < period.start + span * 3 / 5
    };
    let mut candidates: Vec<usize> = (0..transactions.len()).filter(usable).filter(middle).collect();
    if candidates.len() < 5 {
        candidates = (0..transactions.len()).filter(usable).collect();
    }
    let mut pick = || {
        if candidates.is_empty() {
            return None;
        }
        Some(candidates.swap_remove(rng.below(candidates.len() as u64) as usize))
    };
    let picks = [pick(), pick(), pick(), pick(), pick()];
    let mut bad = Vec::new();
    let record = |source: &'static str, transaction: &Transaction, problem: &'static str| BadRow {
        source,
        txn_id: transaction.txn_id.clone(),
        problem,
    };

    if let Some(index) = picks[0] {
        transactions[index].amount = -transactions[index].amount; // a refund booked as a payment
        bad.push(record("transactions", &transactions[index], NEGATIVE_AMOUNT));
    }
    if let Some(index) = picks[1] {
        transactions[index].user_id = None;
        bad.push(record("transactions", &transactions[index], NULL_USER_ID));
    }
    if let Some(index) = picks[2] {
        bad.push(record("transactions", &transactions[index], DUPLICATE_TXN_ID));
    }
    if let Some(index) = picks[3] {
        let reported = report_time(&transactions[index], rng);
        let (year, month, day) = civil_from_days(day_of(reported));
        let seconds = reported.div_euclid(MICROS_PER_SECOND).rem_euclid(86_400);
        chargebacks.push(Chargeback {
            txn_id: transactions[index].txn_id.clone(),
            is_fraud: "false".into(),
            // A partner's export in US notation: not RFC 3339.
            reported_at: format!(
                "{month:02}/{day:02}/{year} {:02}:{:02}:{:02}",
                seconds / 3_600,
                seconds / 60 % 60,
                seconds % 60
            ),
            reported_micros: reported,
        });
        bad.push(record("chargebacks", &transactions[index], BAD_TIMESTAMP));
    }
    if let Some(index) = picks[4] {
        let reported = report_time(&transactions[index], rng);
        chargebacks.push(Chargeback {
            txn_id: transactions[index].txn_id.clone(),
            is_fraud: "maybe".into(),
            reported_at: rfc3339(reported),
            reported_micros: reported,
        });
        bad.push(record("chargebacks", &transactions[index], BAD_BOOL));
    }
    // The same payment delivered twice; inserted last, as it shifts the positions after it.
    if let Some(index) = picks[2] {
        let copy = transactions[index].clone();
        transactions.insert(index + 1, copy);
    }
    bad
}

/// 3 to 8 days after the payment, in whole seconds: within the period for the candidates chosen.
fn report_time(transaction: &Transaction, rng: &mut Rng) -> i64 {
    let offset = 3 * MICROS_PER_DAY + rng.below(5 * MICROS_PER_DAY as u64) as i64;
    let reported = transaction.event_time + offset;
    reported - reported.rem_euclid(MICROS_PER_SECOND)
}
