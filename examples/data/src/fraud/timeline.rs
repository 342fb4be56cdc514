//! One user's payments over the period: everyday spending, subscriptions, trips abroad, and the
//! short fraud bursts that follow a compromised card.

use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE, MICROS_PER_SECOND};

use super::population::{API, FRAUD_COUNTRIES, Merchants, TRAVEL_COUNTRIES, User, cents, country_except, device_os};
use crate::random::Rng;

/// One payment before it gets its `txn_id`.
#[derive(Clone, Debug)]
pub struct Payment {
    pub user: u32,
    /// Microseconds since 1970-01-01 UTC.
    pub event_time: i64,
    pub amount: f64,
    pub country: &'static str,
    /// Index into `CHANNELS`.
    pub channel: usize,
    /// Index into the merchant pool.
    pub merchant: Option<u32>,
    pub device_os: Option<&'static str>,
    pub fraud: bool,
}

/// The days generated, and how often cards get compromised.
#[derive(Clone, Copy, Debug)]
pub struct Period {
    /// First day, days since 1970-01-01.
    pub start: i32,
    /// One past the last day.
    pub end: i32,
    /// First day whose payments carry `device_os`.
    pub device_os_from: i32,
    /// Chance per user and day that the card is compromised.
    pub compromise_rate: f64,
}

/// A card is compromised at most once in this many days (it is blocked and reissued).
const REISSUE_DAYS: i32 = 60;

/// Every payment of one user, in time order.
pub fn payments(index: u32, user: &User, merchants: &Merchants, period: Period, rng: &mut Rng) -> Vec<Payment> {
    let mut out = Vec::new();
    let mut trip: Option<(i32, &'static str)> = None;
    let mut next_compromise = i32::MIN;
    for day in user.first_day.max(period.start)..period.end {
        if trip.is_some_and(|(last_day, _)| day > last_day) {
            trip = None;
        }
        if trip.is_none() && rng.chance(0.004) {
            let length = 3 + rng.below(10) as i32;
            trip = Some((day + length, country_except(&TRAVEL_COUNTRIES, user.home, rng)));
        }
        let weekday = (day + 3).rem_euclid(7); // 0 is Monday: 1970-01-01 was a Thursday
        let factor = if weekday >= 5 { 1.15 } else { 0.95 };
        for _ in 0..rng.poisson(user.rate * factor) {
            out.push(everyday(
                index,
                user,
                merchants,
                day,
                trip.map(|(_, country)| country),
                rng,
            ));
        }
        let (_, _, day_of_month) = mlsys_compiler::syntax::literal::civil_from_days(day);
        for &(merchant, amount, charge_day) in &user.subscriptions {
            if charge_day == day_of_month {
                let time = at(day, 6 + rng.below(4) as u32, rng);
                out.push(Payment {
                    user: index,
                    event_time: time,
                    amount,
                    country: user.home,
                    channel: API,
                    merchant: Some(merchant),
                    device_os: None,
                    fraud: false,
                });
            }
        }
        if day >= next_compromise && rng.chance(period.compromise_rate) {
            burst(index, user, merchants, day, period.end, &mut out, rng);
            next_compromise = day + REISSUE_DAYS;
        }
    }
    for payment in &mut out {
        if payment.device_os.is_none()
            && payment.event_time.div_euclid(MICROS_PER_DAY) >= i64::from(period.device_os_from)
        {
            payment.device_os = device_os(payment.channel, payment.fraud, rng);
        }
    }
    out.sort_by_key(|payment| payment.event_time);
    out
}

/// A random moment within the given hour of `day`, in microseconds.
fn at(day: i32, hour: u32, rng: &mut Rng) -> i64 {
    i64::from(day) * MICROS_PER_DAY + i64::from(hour) * MICROS_PER_HOUR + rng.below(MICROS_PER_HOUR as u64) as i64
}

/// A legitimate payment in the user's habits; on a trip most of them happen abroad.
fn everyday(
    index: u32,
    user: &User,
    merchants: &Merchants,
    day: i32,
    trip: Option<&'static str>,
    rng: &mut Rng,
) -> Payment {
    let channel = rng.weighted(&user.channels);
    let country = match trip {
        Some(country) if channel != API && rng.chance(0.85) => country,
        _ => user.home,
    };
    let mut amount = user.usual_amount(rng);
    if rng.chance(0.02) {
        amount = cents(amount * rng.log_normal(1.2, 0.5)); // the occasional big purchase
    }
    let merchant = if (channel == API && rng.chance(0.3)) || rng.chance(0.005) {
        None
    } else if trip.is_none() && rng.chance(0.8) {
        Some(*rng.pick(&user.favourites))
    } else {
        Some(merchants.pick_legit(rng))
    };
    Payment {
        user: index,
        event_time: at(day, user.usual_hour(rng), rng),
        amount,
        country,
        channel,
        merchant,
        device_os: None,
        fraud: false,
    }
}

/// A fraudster testing and then draining a stolen card: a few payments minutes apart, often abroad,
/// at night, for much more than the user usually spends.
fn burst(index: u32, user: &User, merchants: &Merchants, day: i32, end: i32, out: &mut Vec<Payment>, rng: &mut Rng) {
    let size = 1 + rng.poisson(3.0);
    let country = if rng.chance(0.7) {
        country_except(&FRAUD_COUNTRIES, user.home, rng)
    } else {
        user.home
    };
    let hour = if rng.chance(0.55) {
        rng.below(6) as u32
    } else {
        rng.below(24) as u32
    };
    let mut time = at(day, hour, rng);
    for payment in 0..size {
        if payment > 0 {
            let gap = rng.exponential(12.0 * MICROS_PER_MINUTE as f64) as i64;
            time += gap.max(20 * MICROS_PER_SECOND);
        }
        if time.div_euclid(MICROS_PER_DAY) >= i64::from(end) {
            break;
        }
        // Card not present, mostly: weights over CHANNELS (web, api, pos, mobile).
        let channel = rng.weighted(&[0.45, 0.20, 0.10, 0.25]);
        let multiplier = if rng.chance(0.65) {
            rng.log_normal(1.6, 0.5)
        } else {
            rng.log_normal(0.2, 0.6)
        };
        let merchant = if channel == API && rng.chance(0.3) {
            None
        } else {
            Some(merchants.pick_fraud(rng))
        };
        out.push(Payment {
            user: index,
            event_time: time,
            amount: cents(user.usual_amount(rng) * multiplier),
            country,
            channel,
            merchant,
            device_os: None,
            fraud: true,
        });
    }
}
