//! The drift of the last month (from `FraudConfig::drift_from`, 2026-06-01 by default), after the
//! model's training snapshot and holdout, for monitors to catch:
//!
//! - prices: every payment from that day on costs [`AMOUNT_FACTOR`] times what it would have
//!   (the amount inputs and the 30-day amount windows move: PSI well above 0.2);
//! - a new fraud pattern: cloned cards used in person (`pos`) in the holder's home country, in
//!   their usual hours, for ordinary amounts at everyday merchants. Training fraud was mostly
//!   card-not-present, foreign, at night and large, so the model scores these like the holder's
//!   own payments and its AUC falls.
//!
//! Applied to each user's payments after they are drawn, with draws from a stream of their own:
//! every payment before the drift starts is the same as in a data set without it, and so are the
//! chargebacks of those payments and the injected bad rows.

use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, MICROS_PER_HOUR};

use super::population::{Merchants, POS, User, cents};
use super::timeline::Payment;
use crate::random::Rng;

/// How much more every payment costs once the drift starts.
pub const AMOUNT_FACTOR: f64 = 1.8;

/// Chance per user and day, once the drift starts, that a cloned card is used.
const CLONE_RATE: f64 = 0.003;

/// Everyday categories where cloned cards are cashed out in person.
const CLONE_CATEGORIES: [&str; 3] = ["grocery", "fuel", "pharmacy"];

/// Applies the drift to one user's payments (in time order, kept in time order) on the days
/// `drift_from .. end`.
pub fn apply(
    index: u32,
    user: &User,
    merchants: &Merchants,
    (drift_from, end): (i32, i32),
    payments: &mut Vec<Payment>,
    rng: &mut Rng,
) {
    let drift_start = i64::from(drift_from) * MICROS_PER_DAY;
    for payment in payments.iter_mut().filter(|payment| payment.event_time >= drift_start) {
        payment.amount = cents(payment.amount * AMOUNT_FACTOR);
    }
    let first = payments.len();
    for day in user.first_day.max(drift_from)..end {
        if rng.chance(CLONE_RATE) {
            cloned_card(index, user, merchants, day, payments, rng);
        }
    }
    if payments.len() > first {
        payments.sort_by_key(|payment| payment.event_time); // stable: earlier payments keep their order
    }
}

/// A cloned card's day: a few in-person payments at home, in the holder's usual hours, for
/// amounts like theirs (at the drifted prices).
fn cloned_card(index: u32, user: &User, merchants: &Merchants, day: i32, out: &mut Vec<Payment>, rng: &mut Rng) {
    for _ in 0..2 + rng.poisson(1.5) {
        let hour = user.usual_hour(rng);
        let event_time = i64::from(day) * MICROS_PER_DAY
            + i64::from(hour) * MICROS_PER_HOUR
            + rng.below(MICROS_PER_HOUR as u64) as i64;
        let category = *rng.pick(&CLONE_CATEGORIES);
        out.push(Payment {
            user: index,
            event_time,
            amount: cents(user.usual_amount(rng) * rng.log_normal(0.1, 0.3) * AMOUNT_FACTOR),
            country: user.home,
            channel: POS,
            merchant: Some(merchants.pick_in(category, rng)),
            device_os: None,
            fraud: true,
        });
    }
}
