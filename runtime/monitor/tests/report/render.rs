//! The rendered page as text: escaping, values that are not finite, determinism, edge cases, size.

use mlsys_monitor::report::{
    DriftPeriod, MAX_FEATURE_CHARTS, MetricStatus, MetricWindow, PeriodStatus, Report, escape, render,
};

use super::samples::{ATTRIBUTE_BREAKER, HOSTILE, day, empty, fraud, hostile, large};

/// Every sample, by name.
pub fn all_samples() -> Vec<(&'static str, Report)> {
    vec![
        ("fraud", fraud()),
        ("empty", empty()),
        ("hostile", hostile()),
        ("large", large(300, 90)),
    ]
}

/// The values of every SVG attribute that holds coordinates or sizes, split into numbers.
pub fn coordinate_values(html: &str) -> Vec<String> {
    const ATTRIBUTES: [&str; 14] = [
        " x=",
        " y=",
        " x1=",
        " y1=",
        " x2=",
        " y2=",
        " cx=",
        " cy=",
        " r=",
        " width=",
        " height=",
        " points=",
        " viewBox=",
        " transform=",
    ];
    let mut values = Vec::new();
    for attribute in ATTRIBUTES {
        for (start, _) in html.match_indices(attribute) {
            let rest = &html[start + attribute.len()..];
            let Some(quoted) = rest.strip_prefix('"').and_then(|rest| rest.split('"').next()) else {
                continue;
            };
            let numbers = quoted.trim_start_matches("rotate(").trim_end_matches(')');
            values.extend(
                numbers
                    .split([' ', ','])
                    .filter(|part| !part.is_empty())
                    .map(String::from),
            );
        }
    }
    values
}

/// What a self-contained page never holds: a script, a reference out, an import.
pub fn assert_self_contained(name: &str, html: &str) {
    let lower = html.to_ascii_lowercase();
    for forbidden in [
        "http://", "https://", "<script", "src=", "href=", "url(", "@import", "<img", "<link",
    ] {
        assert!(!lower.contains(forbidden), "{name}: the page contains `{forbidden}`");
    }
}

#[test]
fn every_sample_is_self_contained_with_finite_coordinates() {
    for (name, report) in all_samples() {
        let html = render(&report);
        assert!(html.starts_with("<!DOCTYPE html>"), "{name}");
        assert!(html.ends_with("</html>\n"), "{name}");
        assert_self_contained(name, &html);
        let values = coordinate_values(&html);
        assert!(
            name == "empty" || values.len() > 20,
            "{name}: {} coordinates",
            values.len()
        );
        for value in values {
            let parsed: f64 = value.parse().unwrap_or(f64::NAN);
            assert!(parsed.is_finite(), "{name}: coordinate `{value}`");
        }
    }
}

#[test]
fn strings_from_the_data_are_escaped() {
    let html = render(&hostile());
    assert!(!html.contains(HOSTILE));
    assert!(!html.contains(ATTRIBUTE_BREAKER));
    assert!(!html.contains("onmouseover=\""));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains(&escape(ATTRIBUTE_BREAKER)));
    assert_eq!(
        escape("<a href=\"x\">'&'</a>"),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
}

#[test]
fn values_that_are_not_finite_read_n_a() {
    let html = render(&hostile());
    assert!(html.contains("n/a"));
    for word in ["NaN", "inf<", ">inf", "-inf", "Infinity"] {
        assert!(!html.contains(word), "the page shows `{word}`");
    }
}

#[test]
fn the_same_report_renders_the_same_bytes() {
    for (name, report) in all_samples() {
        assert!(render(&report) == render(&report.clone()), "{name} renders differently");
    }
    // Neither does the order the view model lists history, periods or histograms in matter.
    let mut shuffled = fraud();
    shuffled.history.reverse();
    shuffled.drift[0].periods.reverse();
    shuffled.drift[0].distributions.reverse();
    assert!(render(&fraud()) == render(&shuffled), "the order of the input shows");
}

#[test]
fn an_empty_report_says_so() {
    let html = render(&empty());
    assert!(html.contains("This monitor has no rules."));
    assert!(html.contains("no served version"));
    assert!(html.contains("No alert or retrain recorded."));
    assert!(!html.contains("<svg"));
}

#[test]
fn headlines_name_the_state_and_the_worst_features() {
    let html = render(&fraud());
    let cards = section_between(&html, "<section class=\"cards\">", "</section>");
    assert!(cards.contains("badge bad\">DRIFTING"), "{cards}");
    assert!(cards.contains("badge bad\">BELOW THRESHOLD"), "{cards}");
    assert!(cards.contains("<b>transactions@v2.amount_mean_7d</b> (0.3"), "{cards}");
    assert!(cards.contains("7 newer windows wait for labels"), "{cards}");
    // The header carries the worst rule's state.
    let header = section_between(&html, "<header>", "</header>");
    assert!(header.contains("DRIFTING"), "{header}");
}

#[test]
fn pending_no_baseline_and_insufficient_data_have_their_own_headlines() {
    let mut report = fraud();
    let auc = &mut report.metrics[0];
    for window in &mut auc.windows {
        window.status = MetricStatus::Pending;
    }
    let mut relative_without_baseline = auc.clone();
    relative_without_baseline.baseline = None;
    relative_without_baseline.threshold = None;
    report.metrics.push(relative_without_baseline);
    let drift = &mut report.drift[0];
    if let Some(latest) = drift.periods.last_mut() {
        latest.status = PeriodStatus::InsufficientData { minimum_rows: 1000 };
    }
    let html = render(&report);
    let cards = section_between(&html, "<section class=\"cards\">", "</section>");
    for status in ["wait\">PENDING", "none\">NO BASELINE", "wait\">INSUFFICIENT DATA"] {
        assert!(cards.contains(status), "{status} in {cards}");
    }
    assert!(cards.contains("insufficient data (21,073 rows, 1,000 needed)"));
}

#[test]
fn no_period_and_one_period_render() {
    let mut report = fraud();
    report.drift[0].periods.clear();
    report.metrics[0].windows = vec![MetricWindow {
        end_micros: day(1),
        labelled_rows: 900,
        status: MetricStatus::Value { value: 0.9 },
    }];
    let html = render(&report);
    assert!(html.contains("No period has been evaluated yet."));
    // A single value cannot be a line: it is a marked point.
    assert!(html.contains("<circle class=\"point\""));

    report.drift[0].periods = vec![DriftPeriod {
        start_micros: day(0),
        end_micros: day(1),
        rows: 10,
        status: PeriodStatus::NoBaseline,
    }];
    let html = render(&report);
    assert!(html.contains("no baseline stored for the served version"));
}

#[test]
fn hundreds_of_features_chart_the_worst_and_list_all() {
    let html = render(&large(300, 90));
    let size = html.len();
    assert!(size < 3_000_000, "the page is {size} bytes");
    assert_eq!(html.matches("aria-label=\"Largest PSI of any feature").count(), 1);
    assert_eq!(html.matches("aria-label=\"PSI of ").count(), MAX_FEATURE_CHARTS);
    let first_caption = section_between(&html, "<div class=\"multiples\">", "</figcaption>");
    assert!(
        first_caption.contains("group@v1.feature_299"),
        "worst first: {first_caption}"
    );
    assert!(html.contains("Charts show the 12 worst of 300 features"));
    assert!(html.contains(">group@v1.feature_000<"), "the table lists every feature");
}

#[test]
fn the_view_model_serializes_as_json() {
    let json = serde_json::to_value(hostile()).expect("serializes");
    assert_eq!(json["drift"][0]["threshold"], serde_json::Value::Null);
    assert_eq!(json["drift"][0]["periods"][0]["status"]["kind"], "evaluated");
    let fraud = serde_json::to_value(fraud()).expect("serializes");
    assert_eq!(fraud["metrics"][0]["windows"][29]["status"]["kind"], "pending");
    assert_eq!(fraud["history"][2]["deliveries"][0]["state"], "overdue");
    assert_eq!(fraud["drift"][0]["comparison"], "greater");
}

/// The text from `start` up to the next `end` after it.
fn section_between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("no `{start}`"));
    let rest = &html[from..];
    let to = rest.find(end).unwrap_or(rest.len());
    &rest[..to]
}

#[test]
fn value_axes_have_round_ticks_covering_the_values() {
    let html = render(&fraud());
    let overview = section_between(&html, "aria-label=\"Largest PSI", "</svg>");
    for tick in ["0.0", "0.1", "0.2", "0.3", "0.4"] {
        assert!(
            overview.contains(&format!("text-anchor=\"end\">{tick}</text>")),
            "{tick}"
        );
    }
    assert!(overview.contains(">threshold 0.200</text>"));
    // Values near the largest floats still get an axis that reaches them.
    let html = render(&hostile());
    let metric = section_between(&html, "per window, ", "</svg>");
    assert!(metric.contains("e300</text>"), "{metric}");
}

#[test]
fn history_lists_events_newest_first_with_each_delivery() {
    let html = render(&fraud());
    let history = section_between(&html, "<h2>History</h2>", "</section>");
    let retrain = history.find("fraud_model v4 registered").expect("the retrain");
    let fired = history.find("amount_mean_7d PSI 0.214").expect("the first alert");
    assert!(retrain < fired, "newest first");
    assert!(history.contains(
        "<span class=\"name bad-text\">slack:#fraud-oncall: overdue, 7 attempts; last error: 503 Service Unavailable</span>"
    ));
    assert!(history.contains("email:ml@example.com: delivered, 2 attempts; last error: connection reset"));
    assert!(history.contains("recorded, no channel"));
}
