//! The page around the sections: the document head with its stylesheet, the monitor's header and
//! a card per rule with its headline.

use super::format::{escape, time};
use super::html::{badge, rule_text};
use super::model::Report;
use super::status::{Status, drift_status, metric_status};
use super::{drift, history, metric, shadow};

/// Nothing may load from anywhere and no script may run: the file is read as it is.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

const STYLE: &str = include_str!("style.css");

pub fn document(report: &Report) -> String {
    let title = escape(&format!("{} · monitor report", report.monitor));
    [
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title><style>{STYLE}</style></head><body><main>"
        ),
        header(report),
        overview(report),
        drift::section(&report.drift),
        metric::section(&report.metrics),
        shadow::section(report.shadow.as_ref()),
        history::section(&report.history),
        "</main></body></html>\n".to_string(),
    ]
    .concat()
}

/// The monitor, what it watches, and its worst rule's headline.
fn header(report: &Report) -> String {
    let version = report
        .served_version
        .map_or("no served version".to_string(), |version| format!("v{version}"));
    format!(
        "<header>{}<h1>{}</h1><p>on <b>{}</b> · model <b>{}</b> {} · generated {}</p></header>",
        badge(overall(report)),
        escape(&report.monitor),
        escape(&report.target),
        escape(&report.model),
        escape(&version),
        escape(&time(report.generated_at_micros))
    )
}

/// The worst status among the rules; no data without rules.
fn overall(report: &Report) -> Status {
    let drift = report.drift.iter().map(drift_status);
    let metrics = report.metrics.iter().map(metric_status);
    drift
        .chain(metrics)
        .reduce(|worst, status| {
            if status.severity() > worst.severity() {
                status
            } else {
                worst
            }
        })
        .unwrap_or(Status::NoData)
}

/// A card per rule: headline, rule text, one line of detail.
fn overview(report: &Report) -> String {
    let drift = report
        .drift
        .iter()
        .map(|rule| card(drift_status(rule), &rule.rule, &drift::summary(rule)));
    let metrics = report
        .metrics
        .iter()
        .map(|rule| card(metric_status(rule), &rule.rule, &metric::summary(rule)));
    let cards: String = drift.chain(metrics).collect();
    if cards.is_empty() {
        return "<section><p class=\"note\">This monitor has no rules.</p></section>".into();
    }
    format!("<section class=\"cards\">{cards}</section>")
}

/// `summary_html` is markup already escaped.
fn card(status: Status, rule: &str, summary_html: &str) -> String {
    format!(
        "<div class=\"card {}\">{}{}<p>{summary_html}</p></div>",
        status.class(),
        badge(status),
        rule_text(rule)
    )
}
