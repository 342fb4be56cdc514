//! The drift rules' section: the worst feature's PSI per period, each of the worst features' PSI
//! over time, every feature ranked in a table, the periods, and baseline against current
//! histograms.

use std::collections::BTreeMap;

use super::charts::{
    BARS_FRAME, Band, LineChart, PairedBars, Reference, SMALL_FRAME, WIDE_FRAME, line_chart, paired_bars,
};
use super::format::{count, escape, number, shorten, time};
use super::html::{badge, note, rule_text, swatch, table};
use super::model::{DistributionComparison, DriftPeriod, DriftRuleReport, PeriodStatus};
use super::status::{crosses, drift_status, periods_in_order};

/// Features drawn as their own small chart, worst first; the table lists them all.
pub const MAX_FEATURE_CHARTS: usize = 12;
/// Histograms drawn, largest PSI first.
pub const MAX_DISTRIBUTION_CHARTS: usize = 6;
const MAX_TABLE_ROWS: usize = 500;
const OPEN_TABLE_ROWS: usize = 20;
const MAX_PERIOD_ROWS: usize = 60;
const SIDES: (&str, &str) = ("baseline", "current");

/// One feature's PSI in each period (NaN where it has none), and what ranks it.
struct FeatureHistory<'a> {
    name: &'a str,
    values: Vec<f64>,
    latest: f64,
    max: f64,
    above: usize,
}

pub fn section(rules: &[DriftRuleReport]) -> String {
    if rules.is_empty() {
        return String::new();
    }
    let mut out = String::from("<section><h2>Input drift</h2>");
    for rule in rules {
        out.push_str(&rule_section(rule));
    }
    out.push_str("</section>");
    out
}

fn rule_section(rule: &DriftRuleReport) -> String {
    let periods = periods_in_order(rule);
    let features = feature_histories(rule, &periods);
    let mut out = format!(
        "<div class=\"rule\"><h3>{} {}</h3><p>{}</p>",
        badge(drift_status(rule)),
        rule_text(&rule.rule),
        summary(rule)
    );
    if periods.is_empty() {
        out.push_str(&note("No period has been evaluated yet."));
    } else {
        out.push_str(&overview_chart(rule, &periods));
        out.push_str(&small_multiples(rule, &periods, &features));
        out.push_str(&feature_table(rule, &features));
        out.push_str(&period_table(rule, &periods));
    }
    out.push_str(&distributions(rule));
    out.push_str("</div>");
    out
}

/// One line on the latest period, in HTML: what crossed and the worst features by name.
pub fn summary(rule: &DriftRuleReport) -> String {
    let periods = periods_in_order(rule);
    let Some(latest) = periods.last() else {
        return "No period evaluated yet.".into();
    };
    let when = format!("Period {} – {}", time(latest.start_micros), time(latest.end_micros));
    let PeriodStatus::Evaluated { psi } = &latest.status else {
        return escape(&format!("{when}: {}.", status_text(latest)));
    };
    let mut crossing: Vec<(&str, f64)> = psi
        .iter()
        .filter(|feature| crosses(rule.comparison, feature.psi, rule.threshold))
        .map(|feature| (feature.feature.as_str(), feature.psi))
        .collect();
    crossing.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let worst: Vec<String> = crossing
        .iter()
        .take(3)
        .map(|(name, value)| format!("<b>{}</b> ({})", escape(&shorten(name, 60)), number(*value, 3)))
        .collect();
    let head = format!(
        "{when}: {} of {} features with PSI {} {}",
        count(crossing.len() as u64),
        count(psi.len() as u64),
        rule.comparison.symbol(),
        number(rule.threshold, 3)
    );
    match worst.is_empty() {
        true => format!("{}.", escape(&head)),
        false => format!("{}; worst: {}.", escape(&head), worst.join(", ")),
    }
}

fn status_text(period: &DriftPeriod) -> String {
    match &period.status {
        PeriodStatus::Evaluated { psi } => format!("evaluated, {} features", count(psi.len() as u64)),
        PeriodStatus::InsufficientData { minimum_rows } => format!(
            "insufficient data ({} rows, {} needed)",
            count(period.rows),
            count(*minimum_rows)
        ),
        PeriodStatus::NoBaseline => "no baseline stored for the served version".into(),
        PeriodStatus::NoData => "no data".into(),
    }
}

/// Every feature's history, worst first: by PSI in the latest evaluated period, then by its
/// largest PSI, then by name.
fn feature_histories<'a>(rule: &'a DriftRuleReport, periods: &[&'a DriftPeriod]) -> Vec<FeatureHistory<'a>> {
    let mut values: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (index, period) in periods.iter().enumerate() {
        if let PeriodStatus::Evaluated { psi } = &period.status {
            for feature in psi {
                let row = values
                    .entry(feature.feature.as_str())
                    .or_insert_with(|| vec![f64::NAN; periods.len()]);
                row[index] = feature.psi;
            }
        }
    }
    let latest = periods
        .iter()
        .rposition(|period| matches!(period.status, PeriodStatus::Evaluated { .. }));
    let mut histories: Vec<FeatureHistory<'a>> = values
        .into_iter()
        .map(|(name, values)| FeatureHistory {
            name,
            latest: latest.map_or(f64::NAN, |index| values[index]),
            max: values
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(f64::NAN, f64::max),
            above: values
                .iter()
                .filter(|v| crosses(rule.comparison, **v, rule.threshold))
                .count(),
            values,
        })
        .collect();
    let rank = |value: f64| if value.is_finite() { value } else { f64::NEG_INFINITY };
    histories.sort_by(|a, b| {
        rank(b.latest)
            .total_cmp(&rank(a.latest))
            .then(rank(b.max).total_cmp(&rank(a.max)))
            .then(a.name.cmp(b.name))
    });
    histories
}

fn threshold_line(rule: &DriftRuleReport) -> Vec<Reference> {
    vec![Reference {
        value: rule.threshold,
        class: "threshold",
        label: format!("threshold {}", number(rule.threshold, 3)),
    }]
}

fn overview_chart(rule: &DriftRuleReport, periods: &[&DriftPeriod]) -> String {
    let values: Vec<f64> = periods.iter().map(|period| worst_psi(period)).collect();
    let times: Vec<i64> = periods.iter().map(|period| period.start_micros).collect();
    let chart = line_chart(&LineChart {
        label: &format!("Largest PSI of any feature per period, {}", rule.rule),
        times: &times,
        values: &values,
        references: &threshold_line(rule),
        bands: &bands(periods),
        frame: WIDE_FRAME,
        from_zero: true,
    });
    let legend = [
        swatch("band-nodata", "no data"),
        swatch("band-insufficient", "insufficient data"),
        swatch("band-nobaseline", "no baseline"),
    ]
    .concat();
    format!(
        "<figure><figcaption>Largest PSI of any feature, per period</figcaption>{chart}<div class=\"legend\">{legend}</div></figure>"
    )
}

fn worst_psi(period: &DriftPeriod) -> f64 {
    match &period.status {
        PeriodStatus::Evaluated { psi } => psi
            .iter()
            .map(|feature| feature.psi)
            .filter(|value| value.is_finite())
            .fold(f64::NAN, f64::max),
        _ => f64::NAN,
    }
}

/// Runs of periods that were not evaluated, one band per run of the same reason.
fn bands(periods: &[&DriftPeriod]) -> Vec<Band> {
    let mut bands: Vec<Band> = Vec::new();
    for (index, period) in periods.iter().enumerate() {
        let class = match period.status {
            PeriodStatus::Evaluated { .. } => continue,
            PeriodStatus::InsufficientData { .. } => "band-insufficient",
            PeriodStatus::NoBaseline => "band-nobaseline",
            PeriodStatus::NoData => "band-nodata",
        };
        match bands.last_mut() {
            Some(band) if band.class == class && band.last + 1 == index => band.last = index,
            _ => bands.push(Band {
                first: index,
                last: index,
                class,
                title: status_text(period),
            }),
        }
    }
    bands
}

fn small_multiples(rule: &DriftRuleReport, periods: &[&DriftPeriod], features: &[FeatureHistory<'_>]) -> String {
    let times: Vec<i64> = periods.iter().map(|period| period.start_micros).collect();
    let references = threshold_line(rule);
    let mut out = String::from("<div class=\"multiples\">");
    for feature in features.iter().take(MAX_FEATURE_CHARTS) {
        let chart = line_chart(&LineChart {
            label: &format!("PSI of {} per period", feature.name),
            times: &times,
            values: &feature.values,
            references: &references,
            bands: &[],
            frame: SMALL_FRAME,
            from_zero: true,
        });
        out.push_str(&format!(
            "<figure><figcaption title=\"{}\"><b>{}</b> latest {} · max {}</figcaption>{chart}</figure>",
            escape(feature.name),
            escape(&shorten(feature.name, 80)),
            number(feature.latest, 3),
            number(feature.max, 3)
        ));
    }
    out.push_str("</div>");
    if features.len() > MAX_FEATURE_CHARTS {
        out.push_str(&note(&format!(
            "Charts show the {MAX_FEATURE_CHARTS} worst of {} features; the table lists them all.",
            count(features.len() as u64)
        )));
    }
    out
}

fn feature_table(rule: &DriftRuleReport, features: &[FeatureHistory<'_>]) -> String {
    let rows: Vec<Vec<String>> = features
        .iter()
        .enumerate()
        .map(|(index, feature)| {
            let class = if crosses(rule.comparison, feature.latest, rule.threshold) {
                "bad-text"
            } else {
                ""
            };
            vec![
                (index + 1).to_string(),
                format!("<span class=\"name\">{}</span>", escape(feature.name)),
                format!("<span class=\"{class}\">{}</span>", number(feature.latest, 4)),
                number(feature.max, 4),
                count(feature.above as u64),
            ]
        })
        .collect();
    let headers = ["#", "feature", "PSI, latest", "PSI, largest", "periods over threshold"];
    // A long table starts folded so that the sections below stay in sight.
    let open = if features.len() <= OPEN_TABLE_ROWS { " open" } else { "" };
    format!(
        "<details{open}><summary>All {} features, worst first</summary>{}</details>",
        count(features.len() as u64),
        table(&headers, &rows, MAX_TABLE_ROWS, "more features")
    )
}

fn period_table(rule: &DriftRuleReport, periods: &[&DriftPeriod]) -> String {
    let rows: Vec<Vec<String>> = periods
        .iter()
        .rev()
        .map(|period| {
            let crossing = match &period.status {
                PeriodStatus::Evaluated { psi } => psi
                    .iter()
                    .filter(|feature| crosses(rule.comparison, feature.psi, rule.threshold))
                    .count()
                    .to_string(),
                _ => "–".into(),
            };
            vec![
                escape(&time(period.start_micros)),
                escape(&time(period.end_micros)),
                count(period.rows),
                escape(&status_text(period)),
                crossing,
                number(worst_psi(period), 4),
            ]
        })
        .collect();
    let headers = [
        "start",
        "end",
        "rows",
        "status",
        "features over threshold",
        "largest PSI",
    ];
    format!(
        "<details><summary>Periods, newest first</summary>{}</details>",
        table(&headers, &rows, MAX_PERIOD_ROWS, "older periods")
    )
}

fn distributions(rule: &DriftRuleReport) -> String {
    let mut comparisons: Vec<&DistributionComparison> = rule.distributions.iter().collect();
    let rank = |value: f64| if value.is_finite() { value } else { f64::NEG_INFINITY };
    comparisons.sort_by(|a, b| rank(b.psi).total_cmp(&rank(a.psi)).then(a.name.cmp(&b.name)));
    if comparisons.is_empty() && rule.score.is_none() {
        return String::new();
    }
    let mut out = String::from("<h4>Baseline against the latest period</h4><div class=\"bars\">");
    for comparison in comparisons.iter().take(MAX_DISTRIBUTION_CHARTS) {
        out.push_str(&distribution_chart(comparison, "feature", SIDES));
    }
    if let Some(score) = &rule.score {
        out.push_str(&distribution_chart(score, "score", SIDES));
    }
    out.push_str("</div>");
    if let Some(rest) = comparisons
        .get(MAX_DISTRIBUTION_CHARTS..)
        .filter(|rest| !rest.is_empty())
    {
        let names: Vec<String> = rest
            .iter()
            .map(|c| format!("{} ({})", c.name, number(c.psi, 3)))
            .collect();
        out.push_str(&note(&format!("Not drawn: {}.", names.join(", "))));
    }
    out
}

/// A baseline-against-current bar chart with its caption; `what` is `feature`, `score` or
/// `scores` (for screen readers), `names` the two sides' names.
pub fn distribution_chart(comparison: &DistributionComparison, what: &str, names: (&str, &str)) -> String {
    let chart = paired_bars(&PairedBars {
        label: &format!("{what} {}: {} against {}", comparison.name, names.0, names.1),
        categories: &comparison.labels,
        baseline: &comparison.baseline,
        current: &comparison.current,
        names,
        frame: BARS_FRAME,
    });
    format!(
        "<figure><figcaption><b>{}</b> · PSI {}</figcaption>{chart}</figure>",
        escape(&comparison.name),
        number(comparison.psi, 4)
    )
}
