//! A deterministic generator of large, valid `.mlsys` projects for benchmarks and scale tests.
//!
//! The project is a set of independent "domains", one file each, modelled on `examples/fraud`: two
//! sources, a contract, an entity, two versions of an entity feature group, a row-level group, a
//! model, a realtime serve target and a monitor. Names carry the domain index so they never clash,
//! and every declaration is used, so the project checks clean (no errors, no warnings). Numbers vary
//! between domains through a fixed-seed generator, so no two files are identical.

/// Returns `(file name, text)` pairs of a project of at least `target_lines` lines (one domain more
/// than needed at most). Always at least one domain; the same `target_lines` gives the same project.
pub fn generate_project(target_lines: usize) -> Vec<(String, String)> {
    let mut random = Lcg(0x5EED_F4D1_5EED);
    let mut files = Vec::new();
    let mut lines = 0;
    while files.is_empty() || lines < target_lines {
        let text = domain_text(&Domain::new(files.len(), &mut random));
        lines += text.lines().count();
        files.push((format!("domain_{:04}.mlsys", files.len()), text));
    }
    files
}

/// A tiny linear congruential generator (Knuth's MMIX constants): deterministic, no extra crates.
struct Lcg(u64);

impl Lcg {
    /// A number in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        low + (self.0 >> 33) % (high - low + 1)
    }
}

const COUNTRIES: [&str; 8] = ["US", "GB", "DE", "FR", "BR", "IN", "JP", "CA"];

/// The per-domain choices; everything else in a domain's text is fixed.
struct Domain {
    index: usize,
    home_country: &'static str,
    large_amount: u64,
    trees: u64,
    depth: u64,
    /// Hundredths: 1..=20 gives a learning rate of 0.01..0.20.
    learning_rate_hundredths: u64,
    min_rows_per_leaf: u64,
    /// Last month of the training snapshot (2026); the holdout is the month after.
    snapshot_end_month: u64,
    timeout_ms: u64,
    max_batch: u64,
    fallback_amount: u64,
    /// Hundredths of the PSI drift threshold.
    psi_hundredths: u64,
    /// Hundredths of the AUC ratio to baseline below which the model is retrained.
    auc_ratio_hundredths: u64,
}

impl Domain {
    fn new(index: usize, random: &mut Lcg) -> Self {
        let country = random.between(0, COUNTRIES.len() as u64 - 1) as usize;
        Domain {
            index,
            home_country: COUNTRIES[country],
            large_amount: random.between(5, 50) * 100,
            trees: random.between(5, 40) * 10,
            depth: random.between(3, 8),
            learning_rate_hundredths: random.between(1, 20),
            min_rows_per_leaf: random.between(5, 50),
            snapshot_end_month: random.between(3, 8),
            timeout_ms: random.between(10, 50),
            max_batch: random.between(8, 64),
            fallback_amount: random.between(10, 100) * 100,
            psi_hundredths: random.between(10, 30),
            auc_ratio_hundredths: random.between(80, 95),
        }
    }
}

fn domain_text(domain: &Domain) -> String {
    [
        sources(domain),
        entity_group(domain, 1),
        entity_group(domain, 2),
        row_group(domain),
        model_and_serving(domain),
    ]
    .join("\n")
}

fn sources(domain: &Domain) -> String {
    let n = domain.index;
    format!(
        r#"// Domain {n}: card payments of one region, the chargebacks that label them, and a fraud model.

/// Card payments of region {n}, one row per authorised transaction. Written daily.
source payments_{n} {{
  format    = parquet
  location  = "data/raw/payments_{n}"
  timestamp = event_time
  partition = daily
  schema {{
    txn_id: string, user_id: string, merchant: string?, amount: float64,
    country: string, channel: string, device: string, event_time: timestamp
  }}
  unknown_columns = warn
  bad_rows        = quarantine
}}

/// Fraud reports for region {n}; they arrive days or weeks after the payment.
source chargebacks_{n} {{
  format    = csv
  location  = "data/raw/chargebacks_{n}"
  timestamp = reported_at
  schema {{ txn_id: string, is_fraud: bool, reported_at: timestamp }}
  unknown_columns = ignore
  bad_rows        = fail
}}

/// What the payments team guarantees about `payments_{n}`.
contract payments_{n}_terms on payments_{n} {{
  owner  = "payments-data-{n}@example.com"
  notice = 14d
  require txn_id, user_id, amount, country, event_time
  expect amount >= 0
  expect unique(txn_id)
  expect not_null(user_id)
  deprecate merchant since 2026-11-01
}}

entity user_{n} {{ key user_id: string }}
"#
    )
}

/// `activity_N vK`: windowed aggregates per user; v2 keeps every v1 feature and adds three.
fn entity_group(domain: &Domain, version: u32) -> String {
    let n = domain.index;
    let home = domain.home_country;
    let large = domain.large_amount;
    let added = if version >= 2 {
        format!(
            r#"  devices_30d     = count_distinct(device) over 30d every 1d
  large_count_7d  = count() over 7d every 1h where amount > {large}
  avg_amount_7d   = if txn_count_7d == 0 then 0.0 else amount_sum_7d / txn_count_7d
"#
        )
    } else {
        String::new()
    };
    format!(
        r#"/// How much and how often a user of region {n} has paid recently (v{version}).
features activity_{n} v{version} {{
  entity = user_{n}
  from   = payments_{n}
  /// Payments in the last 7 days, refreshed hourly.
  txn_count_7d    = count() over 7d every 1h
  txn_count_30d   = count() over 30d every 1d
  amount_sum_7d   = sum(amount) over 7d every 1h
  avg_amount_30d  = avg(amount) over 30d every 1d
  min_amount_30d  = min(amount) over 30d every 1d
  max_amount_30d  = max(amount) over 30d every 1d
  last_amount_30d = last(amount) over 30d every 1d
  countries_30d   = count_distinct(country) over 30d every 1d
  foreign_count_30d = count() over 30d every 1d where country != "{home}"
  web_amount_7d   = sum(amount) over 7d every 1h where channel == "web" and amount > 0
  /// Share of the last month's payments made abroad.
  foreign_share_30d = if txn_count_30d == 0 then 0.0 else foreign_count_30d / txn_count_30d
{added}}}
"#
    )
}

/// `signals_N v1`: row-level features, computed on the payment itself (or on the request, online).
fn row_group(domain: &Domain) -> String {
    let n = domain.index;
    let home = domain.home_country;
    format!(
        r#"/// Signals computed on a payment of region {n}.
features signals_{n} v1 {{
  from = payments_{n}
  amount_log    = ln(1 + amount)
  amount_vs_avg = amount / (coalesce(activity_{n}@v1.avg_amount_30d, 0.0) + 1)
  foreign       = country != "{home}"
  night         = hour(event_time) < 6
  web           = channel in ["web", "api"]
  amount_bucket = bucketize(amount, [10.0, 50.0, 200.0, 1000.0])
  device_bucket = hash_bucket(device, 1024)
}}
"#
    )
}

fn model_and_serving(domain: &Domain) -> String {
    let n = domain.index;
    let Domain {
        trees,
        depth,
        learning_rate_hundredths,
        min_rows_per_leaf,
        snapshot_end_month,
        timeout_ms,
        max_batch,
        fallback_amount,
        psi_hundredths,
        auc_ratio_hundredths,
        ..
    } = domain;
    let holdout_month = snapshot_end_month + 1;
    format!(
        r#"/// Scores the probability that a payment of region {n} is reported as fraud.
model fraud_{n} {{
  examples  = payments_{n}
  label     = chargebacks_{n}.is_fraud on txn_id default false
  features  = [signals_{n}@v1, activity_{n}@v2]
  algorithm = gbdt(trees = {trees}, depth = {depth}, learning_rate = 0.{learning_rate_hundredths:02}, min_rows_per_leaf = {min_rows_per_leaf})
  train {{
    snapshot   = 2026-01-01 .. 2026-{snapshot_end_month:02}-28
    holdout    = 2026-{holdout_month:02}-01 .. 2026-{holdout_month:02}-28
    metric     = auc
    promote_if = auc > production.auc
    approval   = required
  }}
}}

/// Real-time scoring behind the payment authorisation of region {n}.
serve fraud_api_{n} {{
  model    = fraud_{n}@production
  mode     = realtime
  batching {{ max_size = {max_batch}, max_wait = 2ms }}
  timeout  = {timeout_ms}ms
  fallback = if amount > {fallback_amount} then 0.9 else 0.05
  shadow   = fraud_{n}@candidate
}}

monitor fraud_health_{n} on fraud_api_{n} {{
  drift psi > 0.{psi_hundredths:02} on features every 1d => alert
  metric auc over 7d < 0.{auc_ratio_hundredths:02} * baseline => alert, retrain
  channels = ["slack:#fraud-{n}", "email:ml-oncall@example.com"]
}}
"#
    )
}
