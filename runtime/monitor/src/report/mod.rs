//! The monitor's report: one self-contained HTML file a person reads at a glance. A pure
//! renderer: the view model ([`Report`], plain data, also serializable as JSON) in, the page out.
//!
//! The page needs nothing but itself: inline CSS, inline SVG charts, no script, no font or image
//! from anywhere (its content security policy forbids both). Every string from the data is
//! escaped; values that are not finite read "n/a" and never reach a coordinate. The same report
//! renders to the same bytes.
//!
//! - `model.rs` — the view model.
//! - `page.rs` — the document, the header and a card per rule; `style.css` its stylesheet.
//! - `drift.rs`, `metric.rs`, `shadow.rs`, `history.rs` — the sections.
//! - `status.rs` — each rule's headline (OK, DRIFTING, BELOW THRESHOLD, PENDING, NO BASELINE, ...).
//! - `charts.rs` — lines over time and paired bars, on `svg.rs` (scales, ticks, axes, elements).
//! - `html.rs`, `format.rs` — tables and badges; escaping, numbers, times.
//!
//! ```
//! use mlsys_monitor::report::{Report, render};
//!
//! let report = Report {
//!     monitor: "fraud_health".into(),
//!     target: "fraud_api".into(),
//!     model: "fraud_model".into(),
//!     served_version: Some(3),
//!     generated_at_micros: 1_796_601_600_000_000,
//!     drift: Vec::new(),
//!     metrics: Vec::new(),
//!     shadow: None,
//!     history: Vec::new(),
//! };
//! let page = render(&report);
//! assert!(page.starts_with("<!DOCTYPE html>") && page.contains("fraud_health"));
//! ```

mod charts;
mod drift;
mod format;
mod history;
mod html;
mod metric;
mod model;
mod page;
mod shadow;
mod status;
mod svg;

pub use drift::{MAX_DISTRIBUTION_CHARTS, MAX_FEATURE_CHARTS};
pub use format::escape;
pub use model::{
    Delivery, DeliveryState, DistributionComparison, DriftPeriod, DriftRuleReport, EventKind, FeaturePsi, HistoryEvent,
    MetricRuleReport, MetricStatus, MetricWindow, PeriodStatus, Report, ShadowReport,
};

/// The report as one HTML document.
pub fn render(report: &Report) -> String {
    page::document(report)
}
