//! The people and places of the fraud data set: users with their habits, and the merchants they pay.

use crate::random::Rng;

pub const CHANNELS: [&str; 4] = ["web", "api", "pos", "mobile"];
pub const WEB: usize = 0;
pub const API: usize = 1;
pub const POS: usize = 2;
pub const MOBILE: usize = 3;

/// Home countries and their shares: a US card issuer with some customers abroad.
const HOME_COUNTRIES: [(&str, f64); 8] = [
    ("US", 0.84),
    ("CA", 0.05),
    ("GB", 0.03),
    ("MX", 0.03),
    ("DE", 0.02),
    ("FR", 0.01),
    ("BR", 0.01),
    ("IN", 0.01),
];

/// Where legitimate customers travel to.
pub const TRAVEL_COUNTRIES: [(&str, f64); 10] = [
    ("US", 3.0),
    ("CA", 2.0),
    ("MX", 2.0),
    ("GB", 1.5),
    ("FR", 1.0),
    ("ES", 1.0),
    ("IT", 1.0),
    ("DE", 0.8),
    ("JP", 0.6),
    ("DO", 0.5),
];

/// Where fraudsters cash out stolen cards.
pub const FRAUD_COUNTRIES: [(&str, f64); 10] = [
    ("NG", 1.5),
    ("RU", 1.5),
    ("RO", 1.2),
    ("UA", 1.0),
    ("BR", 1.0),
    ("CN", 1.0),
    ("ID", 0.8),
    ("VN", 0.8),
    ("GB", 0.6),
    ("MX", 0.6),
];

/// Merchant categories: how many merchants each has, how often customers and fraudsters shop there.
/// (name, merchants, legitimate weight, fraud weight)
const CATEGORIES: [(&str, u32, f64, f64); 12] = [
    ("grocery", 60, 5.0, 0.3),
    ("restaurant", 80, 4.0, 0.2),
    ("fuel", 30, 2.5, 0.3),
    ("pharmacy", 20, 1.0, 0.1),
    ("transit", 10, 1.5, 0.1),
    ("online_retail", 50, 2.5, 2.5),
    ("streaming", 10, 0.8, 0.3),
    ("travel", 20, 0.6, 1.0),
    ("electronics", 20, 0.6, 2.5),
    ("luxury", 10, 0.2, 1.2),
    ("gift_cards", 8, 0.2, 2.0),
    ("crypto_exchange", 5, 0.1, 1.5),
];

/// The merchant pool: names in a stable order, and category weights for picking one.
pub struct Merchants {
    pub names: Vec<String>,
    /// For each merchant: (legitimate weight, fraud weight), per merchant (category weight / merchants).
    legit_weights: Vec<f64>,
    fraud_weights: Vec<f64>,
    /// Each category's merchants: a range of indices into `names`.
    categories: Vec<(&'static str, std::ops::Range<u32>)>,
}

impl Merchants {
    pub fn new() -> Self {
        let mut names = Vec::new();
        let mut legit_weights = Vec::new();
        let mut fraud_weights = Vec::new();
        let mut categories = Vec::new();
        for (category, count, legit, fraud) in CATEGORIES {
            let first = names.len() as u32;
            categories.push((category, first..first + count));
            for number in 1..=count {
                names.push(format!("{category}_{number:03}"));
                legit_weights.push(legit / f64::from(count));
                fraud_weights.push(fraud / f64::from(count));
            }
        }
        Merchants {
            names,
            legit_weights,
            fraud_weights,
            categories,
        }
    }

    /// A uniformly chosen merchant of one category (which must exist).
    pub fn pick_in(&self, category: &str, rng: &mut Rng) -> u32 {
        let range = self
            .categories
            .iter()
            .find(|(name, _)| *name == category)
            .map_or(0..1, |(_, range)| range.clone());
        range.start + rng.below(u64::from(range.end - range.start)) as u32
    }

    pub fn pick_legit(&self, rng: &mut Rng) -> u32 {
        rng.weighted(&self.legit_weights) as u32
    }

    pub fn pick_fraud(&self, rng: &mut Rng) -> u32 {
        rng.weighted(&self.fraud_weights) as u32
    }
}

impl Default for Merchants {
    fn default() -> Self {
        Self::new()
    }
}

/// A card holder and their habits.
pub struct User {
    pub id: String,
    pub home: &'static str,
    /// First day (days since 1970-01-01) with payments: most users exist before the data starts.
    pub first_day: i32,
    /// ln of the typical amount; payments are log-normal around it.
    pub amount_mu: f64,
    pub amount_sigma: f64,
    /// Expected payments per day.
    pub rate: f64,
    /// Centre and spread of the hour of day (UTC) at which they pay.
    pub hour_centre: f64,
    pub hour_spread: f64,
    /// Weights over `CHANNELS`.
    pub channels: [f64; 4],
    /// Merchants they return to.
    pub favourites: Vec<u32>,
    /// Monthly subscriptions, charged by the merchant (`api`): (merchant, amount, day of month).
    pub subscriptions: Vec<(u32, f64, u32)>,
}

impl User {
    pub fn draw(index: u32, start: i32, days: u32, merchants: &Merchants, rng: &mut Rng) -> User {
        let weights: Vec<f64> = HOME_COUNTRIES.iter().map(|(_, weight)| *weight).collect();
        let home = HOME_COUNTRIES[rng.weighted(&weights)].0;
        // 85% have a card before the data starts; the others sign up during the period.
        let first_day = if rng.chance(0.85) {
            start
        } else {
            start + rng.below(u64::from(days)) as i32
        };
        let hour_centre = match home {
            "US" | "CA" | "MX" | "BR" => 18.5 + 1.8 * rng.normal(),
            "IN" => 8.0 + 1.5 * rng.normal(),
            _ => 13.0 + 1.5 * rng.normal(),
        };
        let base_channels = [0.35, 0.05, 0.40, 0.20];
        let mut channels = [0.0; 4];
        for (slot, base) in channels.iter_mut().zip(base_channels) {
            *slot = base * rng.log_normal(0.0, 0.8);
        }
        let favourite_count = 4 + rng.below(9);
        let favourites = (0..favourite_count).map(|_| merchants.pick_legit(rng)).collect();
        let subscriptions = (0..rng.below(3))
            .map(|_| {
                let amount = *rng.pick(&[6.99, 9.99, 11.99, 15.49, 17.99, 22.99]);
                (merchants.pick_in("streaming", rng), amount, 1 + rng.below(28) as u32)
            })
            .collect();
        User {
            id: format!("user_{:05}", index + 1),
            home,
            first_day,
            amount_mu: 35f64.ln() + 0.7 * rng.normal(),
            amount_sigma: 0.4 + 0.3 * rng.unit(),
            rate: rng.log_normal(0.25f64.ln(), 0.5),
            hour_centre,
            hour_spread: 1.8 + 1.2 * rng.unit(),
            channels,
            favourites,
            subscriptions,
        }
    }

    /// A typical payment amount, in dollars and cents.
    pub fn usual_amount(&self, rng: &mut Rng) -> f64 {
        cents(rng.log_normal(self.amount_mu, self.amount_sigma))
    }

    /// Hour of day (UTC) of a legitimate payment.
    pub fn usual_hour(&self, rng: &mut Rng) -> u32 {
        let hour = (self.hour_centre + self.hour_spread * rng.normal()).floor() as i64;
        hour.rem_euclid(24) as u32
    }
}

/// Rounds to cents; never below 50 cents.
pub fn cents(amount: f64) -> f64 {
    ((amount * 100.0).round() / 100.0).max(0.5)
}

/// A country drawn from a weighted table, other than `except`.
pub fn country_except(table: &[(&'static str, f64)], except: &str, rng: &mut Rng) -> &'static str {
    let weights: Vec<f64> = table
        .iter()
        .map(|(country, weight)| if *country == except { 0.0 } else { *weight })
        .collect();
    table[rng.weighted(&weights)].0
}

/// The operating system behind a payment, where there is a device (from the `device_os` column's start).
pub fn device_os(channel: usize, fraud: bool, rng: &mut Rng) -> Option<&'static str> {
    match channel {
        MOBILE => Some(if rng.chance(0.55) { "ios" } else { "android" }),
        WEB => {
            let weights = if fraud {
                [0.45, 0.10, 0.25, 0.05, 0.15]
            } else {
                [0.45, 0.30, 0.05, 0.10, 0.10]
            };
            Some(["windows", "macos", "linux", "ios", "android"][rng.weighted(&weights)])
        }
        _ => None,
    }
}
