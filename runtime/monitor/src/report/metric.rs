//! The metric rules' section: the metric per window against its threshold (and the baseline),
//! windows still waiting for labels shown as such, and the windows in a table.

use super::charts::{Band, LineChart, Reference, WIDE_FRAME, line_chart};
use super::format::{count, escape, number, time};
use super::html::{badge, note, rule_text, swatch, table};
use super::model::{MetricRuleReport, MetricStatus, MetricWindow};
use super::status::{crosses, finite_value, metric_status, windows_in_order};

const MAX_WINDOW_ROWS: usize = 48;

pub fn section(rules: &[MetricRuleReport]) -> String {
    if rules.is_empty() {
        return String::new();
    }
    let mut out = String::from("<section><h2>Model quality</h2>");
    for rule in rules {
        out.push_str(&rule_section(rule));
    }
    out.push_str("</section>");
    out
}

fn rule_section(rule: &MetricRuleReport) -> String {
    let windows = windows_in_order(rule);
    let mut out = format!(
        "<div class=\"rule\"><h3>{} {}</h3><p>{}</p><p>{}</p>",
        badge(metric_status(rule)),
        rule_text(&rule.rule),
        summary(rule),
        escape(&threshold_text(rule))
    );
    if windows.is_empty() {
        out.push_str(&note("No window has been evaluated yet."));
    } else {
        out.push_str(&chart(rule, &windows));
        out.push_str(&window_table(rule, &windows));
    }
    out.push_str("</div>");
    out
}

/// One line, in HTML: the latest value and how many newer windows wait for labels.
pub fn summary(rule: &MetricRuleReport) -> String {
    let windows = windows_in_order(rule);
    let latest = windows.iter().rposition(|window| finite_value(window).is_some());
    let waiting = windows[latest.map_or(0, |index| index + 1)..]
        .iter()
        .filter(|window| !matches!(window.status, MetricStatus::Value { .. }))
        .count();
    let mut text = match latest.map(|index| windows[index]) {
        Some(window) => format!(
            "{} {} over the window ending {} ({} labelled rows).",
            rule.metric,
            number(finite_value(window).unwrap_or(f64::NAN), 4),
            time(window.end_micros),
            count(window.labelled_rows)
        ),
        None if windows.is_empty() => "No window evaluated yet.".into(),
        None => "No window has a value yet.".into(),
    };
    if waiting > 0 {
        text.push_str(&format!(" {} newer windows wait for labels.", count(waiting as u64)));
    }
    escape(&text)
}

fn threshold_text(rule: &MetricRuleReport) -> String {
    let baseline = rule.baseline.map_or("n/a".into(), |value| number(value, 4));
    match (rule.threshold, rule.factor) {
        (Some(threshold), Some(factor)) => format!(
            "Threshold {} = {} × baseline {baseline} (the holdout {} when the served version was trained).",
            number(threshold, 4),
            number(factor, 2),
            rule.metric
        ),
        (Some(threshold), None) => format!("Threshold {}; baseline {baseline}.", number(threshold, 4)),
        (None, _) => "No threshold: the served version has no recorded baseline metric.".into(),
    }
}

fn chart(rule: &MetricRuleReport, windows: &[&MetricWindow]) -> String {
    let values: Vec<f64> = windows
        .iter()
        .map(|window| finite_value(window).unwrap_or(f64::NAN))
        .collect();
    let times: Vec<i64> = windows.iter().map(|window| window.end_micros).collect();
    let chart = line_chart(&LineChart {
        label: &format!("{} per window, {}", rule.metric, rule.rule),
        times: &times,
        values: &values,
        references: &references(rule),
        bands: &bands(windows),
        frame: WIDE_FRAME,
        from_zero: false,
    });
    let legend = [
        swatch("band-pending", "pending: labels not matured"),
        swatch("band-insufficient", "insufficient labels"),
    ]
    .concat();
    format!(
        "<figure><figcaption>{} per window end</figcaption>{chart}<div class=\"legend\">{legend}</div></figure>",
        escape(&rule.metric)
    )
}

fn references(rule: &MetricRuleReport) -> Vec<Reference> {
    let mut lines = Vec::new();
    if let Some(threshold) = rule.threshold {
        lines.push(Reference {
            value: threshold,
            class: "threshold",
            label: format!("threshold {}", number(threshold, 4)),
        });
    }
    if let Some(baseline) = rule.baseline {
        lines.push(Reference {
            value: baseline,
            class: "baseline",
            label: format!("baseline {}", number(baseline, 4)),
        });
    }
    lines
}

/// Runs of windows without a value, one band per run of the same reason.
fn bands(windows: &[&MetricWindow]) -> Vec<Band> {
    let mut bands: Vec<Band> = Vec::new();
    for (index, window) in windows.iter().enumerate() {
        let (class, title) = match window.status {
            MetricStatus::Value { .. } => continue,
            MetricStatus::Pending => ("band-pending", "pending: labels not matured"),
            MetricStatus::InsufficientLabels { .. } => ("band-insufficient", "insufficient labels"),
        };
        match bands.last_mut() {
            Some(band) if band.class == class && band.last + 1 == index => band.last = index,
            _ => bands.push(Band {
                first: index,
                last: index,
                class,
                title: title.into(),
            }),
        }
    }
    bands
}

fn window_table(rule: &MetricRuleReport, windows: &[&MetricWindow]) -> String {
    let rows: Vec<Vec<String>> = windows
        .iter()
        .rev()
        .map(|window| {
            vec![
                escape(&time(window.end_micros)),
                count(window.labelled_rows),
                value_cell(rule, window),
            ]
        })
        .collect();
    let headers = ["window end", "labelled rows", rule.metric.as_str()];
    format!(
        "<details><summary>Windows, newest first</summary>{}</details>",
        table(&headers, &rows, MAX_WINDOW_ROWS, "older windows")
    )
}

fn value_cell(rule: &MetricRuleReport, window: &MetricWindow) -> String {
    match window.status {
        MetricStatus::Value { value } => {
            let bad = rule
                .threshold
                .is_some_and(|threshold| crosses(rule.comparison, value, threshold));
            let class = if bad { "bad-text" } else { "" };
            format!("<span class=\"{class}\">{}</span>", number(value, 4))
        }
        MetricStatus::Pending => "<span class=\"muted\">pending (labels not matured)</span>".into(),
        MetricStatus::InsufficientLabels { minimum_rows } => format!(
            "<span class=\"muted\">insufficient labels ({} of {} needed)</span>",
            count(window.labelled_rows),
            count(minimum_rows)
        ),
    }
}
