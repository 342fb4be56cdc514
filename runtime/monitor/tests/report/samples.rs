//! Sample reports for the report's tests: the fraud example's monitor, an empty one, one built
//! from hostile strings and values that are not finite, and a large one.

use mlsys_compiler::plan::Comparison;
use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, days_from_civil};
use mlsys_monitor::report::{
    Delivery, DeliveryState, DistributionComparison, DriftPeriod, DriftRuleReport, EventKind, FeaturePsi, HistoryEvent,
    MetricRuleReport, MetricStatus, MetricWindow, PeriodStatus, Report, ShadowReport,
};
use mlsys_monitor::{Bins, Distribution};

pub const HOSTILE: &str = "<script>alert(1)</script>";
/// Breaks out of a double- or single-quoted attribute if not escaped.
pub const ATTRIBUTE_BREAKER: &str = "x\" onmouseover=\"alert(2)\" y='";

pub fn day(offset: i64) -> i64 {
    i64::from(days_from_civil(2026, 11, 1)) * MICROS_PER_DAY + offset * MICROS_PER_DAY
}

/// `monitor fraud_health on fraud_api` after a month: two features drifting, the AUC below
/// 0.85 × baseline, the last week's labels pending, a shadow version, alerts and a retrain.
pub fn fraud() -> Report {
    Report {
        monitor: "fraud_health".into(),
        target: "fraud_api".into(),
        model: "fraud_model".into(),
        served_version: Some(3),
        generated_at_micros: day(30) + 3_600_000_000,
        drift: vec![fraud_drift()],
        metrics: vec![fraud_auc()],
        shadow: Some(fraud_shadow()),
        history: fraud_history(),
    }
}

const FRAUD_FEATURES: [&str; 8] = [
    "transactions@v2.amount_mean_7d",
    "transactions@v2.txn_count_1d",
    "transactions@v2.amount_max_30d",
    "users@v1.account_age_days",
    "users@v1.country_risk",
    "merchants@v1.chargeback_rate_90d",
    "merchants@v1.category_is_online",
    "devices@v1.new_device",
];

fn fraud_drift() -> DriftRuleReport {
    let periods = (0..30).map(fraud_period).collect();
    DriftRuleReport {
        rule: "drift psi > 0.2 on features every 1d => alert".into(),
        comparison: Comparison::Greater,
        threshold: 0.2,
        periods,
        distributions: vec![
            shifted_comparison(FRAUD_FEATURES[0], 0.8),
            shifted_comparison(FRAUD_FEATURES[1], 0.5),
        ],
        score: Some(shifted_comparison("score", 0.2)),
    }
}

fn fraud_period(index: i64) -> DriftPeriod {
    let status = match index {
        12 => PeriodStatus::NoData,
        13 => PeriodStatus::InsufficientData { minimum_rows: 1000 },
        _ => PeriodStatus::Evaluated {
            psi: FRAUD_FEATURES
                .iter()
                .enumerate()
                .map(|(rank, name)| FeaturePsi {
                    feature: (*name).into(),
                    psi: drift_curve(index, rank),
                })
                .collect(),
        },
    };
    DriftPeriod {
        start_micros: day(index),
        end_micros: day(index + 1),
        rows: if index == 12 { 0 } else { 20_000 + 37 * index as u64 },
        status,
    }
}

/// The first two features drift upwards over the month, the others wobble low.
fn drift_curve(period: i64, rank: usize) -> f64 {
    let wobble = 0.01 * ((period as f64 * 0.7 + rank as f64).sin() + 1.5);
    match rank {
        0 => wobble + 0.012 * period as f64,
        1 => wobble + 0.008 * period as f64,
        _ => wobble,
    }
}

/// Baseline deciles of 0..1000 against the same values shifted right by `shift` of the range.
pub fn shifted_comparison(name: &str, shift: f64) -> DistributionComparison {
    let baseline_values: Vec<f64> = (0..1000).map(f64::from).collect();
    let bins = Bins::quantiles(&baseline_values, 10);
    let current_values = baseline_values.iter().map(|value| value + shift * 400.0);
    DistributionComparison::new(
        name,
        &Distribution::of(bins.clone(), baseline_values.iter().copied()),
        &Distribution::of(bins, current_values),
    )
}

fn fraud_auc() -> MetricRuleReport {
    let windows = (0..30)
        .map(|index| {
            let status = match index {
                23.. => MetricStatus::Pending,
                5 => MetricStatus::InsufficientLabels { minimum_rows: 500 },
                _ => MetricStatus::Value {
                    value: 0.91 - 0.006 * index as f64,
                },
            };
            MetricWindow {
                end_micros: day(index + 1),
                labelled_rows: match index {
                    23.. => 40 * (30 - index) as u64,
                    5 => 300,
                    _ => 4_000,
                },
                status,
            }
        })
        .collect();
    MetricRuleReport {
        rule: "metric auc over 7d < 0.85 * baseline => alert, retrain".into(),
        metric: "auc".into(),
        comparison: Comparison::Less,
        baseline: Some(0.93),
        factor: Some(0.85),
        threshold: Some(0.85 * 0.93),
        windows,
    }
}

fn fraud_shadow() -> ShadowReport {
    ShadowReport {
        production_version: 3,
        shadow_version: 4,
        compared: 182_331,
        not_compared: 212,
        mean_abs_difference: 0.0123,
        p99_abs_difference: 0.0811,
        max_abs_difference: 0.4021,
        agreement: 0.9871,
        decision_threshold: 0.5,
        psi: 0.031,
        scores: shifted_comparison("score", 0.05),
    }
}

fn fraud_history() -> Vec<HistoryEvent> {
    let rule = "drift psi > 0.2 on features every 1d => alert";
    let auc = "metric auc over 7d < 0.85 * baseline => alert, retrain";
    let delivered = || vec![delivery("slack:#fraud-oncall", DeliveryState::Delivered, 1, None)];
    vec![
        event(
            day(17),
            EventKind::AlertFired,
            rule,
            "amount_mean_7d PSI 0.214",
            delivered(),
        ),
        event(
            day(18),
            EventKind::AlertRepeated,
            rule,
            "amount_mean_7d PSI 0.233",
            delivered(),
        ),
        event(
            day(22),
            EventKind::AlertFired,
            auc,
            "auc 0.784 < 0.791",
            vec![
                delivery(
                    "slack:#fraud-oncall",
                    DeliveryState::Overdue,
                    7,
                    Some("503 Service Unavailable"),
                ),
                delivery(
                    "email:ml@example.com",
                    DeliveryState::Delivered,
                    2,
                    Some("connection reset"),
                ),
            ],
        ),
        event(
            day(22),
            EventKind::Retrain,
            auc,
            "fraud_model v4 registered, promote_if failed",
            vec![delivery("retrain", DeliveryState::Delivered, 1, None)],
        ),
        event(
            day(9),
            EventKind::AlertResolved,
            rule,
            "txn_count_1d back under 0.2",
            Vec::new(),
        ),
    ]
}

pub fn delivery(channel: &str, state: DeliveryState, attempts: u32, last_error: Option<&str>) -> Delivery {
    Delivery {
        channel: channel.into(),
        state,
        attempts,
        last_error: last_error.map(String::from),
    }
}

pub fn event(at_micros: i64, kind: EventKind, rule: &str, summary: &str, deliveries: Vec<Delivery>) -> HistoryEvent {
    HistoryEvent {
        at_micros,
        kind,
        rule: rule.into(),
        summary: summary.into(),
        deliveries,
    }
}

/// No rules, no shadow, no history.
pub fn empty() -> Report {
    Report {
        monitor: "quiet".into(),
        target: "api".into(),
        model: "model".into(),
        served_version: None,
        generated_at_micros: day(0),
        drift: Vec::new(),
        metrics: Vec::new(),
        shadow: None,
        history: Vec::new(),
    }
}

/// Every string hostile or very long, every number NaN or infinite somewhere, one period.
pub fn hostile() -> Report {
    let long = "very_long_feature_name_".repeat(20);
    let psi = [
        (HOSTILE, f64::NAN),
        (ATTRIBUTE_BREAKER, f64::INFINITY),
        (long.as_str(), 0.5),
    ]
    .iter()
    .map(|(feature, psi)| FeaturePsi {
        feature: (*feature).into(),
        psi: *psi,
    })
    .collect();
    let mut weird = shifted_comparison(HOSTILE, 0.3);
    weird.baseline[0] = f64::NAN;
    weird.current[1] = f64::INFINITY;
    weird.psi = f64::NEG_INFINITY;
    weird.labels.push(ATTRIBUTE_BREAKER.into());
    Report {
        monitor: HOSTILE.into(),
        target: ATTRIBUTE_BREAKER.into(),
        model: long.clone(),
        served_version: Some(u32::MAX),
        generated_at_micros: i64::MAX,
        drift: vec![DriftRuleReport {
            rule: HOSTILE.into(),
            comparison: Comparison::GreaterEqual,
            threshold: f64::NAN,
            periods: vec![DriftPeriod {
                start_micros: i64::MIN,
                end_micros: i64::MAX,
                rows: u64::MAX,
                status: PeriodStatus::Evaluated { psi },
            }],
            distributions: vec![weird],
            score: None,
        }],
        metrics: vec![hostile_metric()],
        shadow: Some(hostile_shadow()),
        history: vec![event(
            i64::MIN,
            EventKind::Retrain,
            HOSTILE,
            ATTRIBUTE_BREAKER,
            vec![delivery(
                HOSTILE,
                DeliveryState::Failed,
                u32::MAX,
                Some(ATTRIBUTE_BREAKER),
            )],
        )],
    }
}

fn hostile_metric() -> MetricRuleReport {
    let window = |end_micros: i64, value: f64| MetricWindow {
        end_micros,
        labelled_rows: 10,
        status: MetricStatus::Value { value },
    };
    MetricRuleReport {
        rule: ATTRIBUTE_BREAKER.into(),
        metric: HOSTILE.into(),
        comparison: Comparison::Greater,
        baseline: Some(f64::INFINITY),
        factor: None,
        threshold: Some(f64::NAN),
        windows: vec![
            window(day(1), f64::NAN),
            window(day(2), 1e308),
            window(day(3), -1e308),
            window(day(4), f64::NEG_INFINITY),
        ],
    }
}

fn hostile_shadow() -> ShadowReport {
    ShadowReport {
        production_version: 0,
        shadow_version: u32::MAX,
        compared: 0,
        not_compared: u64::MAX,
        mean_abs_difference: f64::NAN,
        p99_abs_difference: f64::INFINITY,
        max_abs_difference: f64::NEG_INFINITY,
        agreement: f64::NAN,
        decision_threshold: f64::NAN,
        psi: f64::NAN,
        scores: DistributionComparison {
            name: HOSTILE.into(),
            labels: vec![HOSTILE.into()],
            baseline: vec![],
            current: vec![f64::NAN, 2.0],
            psi: f64::NAN,
        },
    }
}

/// `features` features over `periods` daily periods, every feature drifting a little more than
/// the one before it.
pub fn large(features: usize, periods: i64) -> Report {
    let names: Vec<String> = (0..features)
        .map(|index| format!("group@v1.feature_{index:03}"))
        .collect();
    let periods = (0..periods)
        .map(|period| DriftPeriod {
            start_micros: day(period),
            end_micros: day(period + 1),
            rows: 50_000,
            status: PeriodStatus::Evaluated {
                psi: names
                    .iter()
                    .enumerate()
                    .map(|(index, name)| FeaturePsi {
                        feature: name.clone(),
                        psi: 0.001 * index as f64 + 0.0001 * period as f64,
                    })
                    .collect(),
            },
        })
        .collect();
    let mut report = fraud();
    report.drift = vec![DriftRuleReport {
        rule: "drift psi > 0.2 on features every 1d => alert".into(),
        comparison: Comparison::Greater,
        threshold: 0.2,
        periods,
        distributions: names.iter().map(|name| shifted_comparison(name, 0.1)).collect(),
        score: Some(shifted_comparison("score", 0.1)),
    }];
    report
}
