//! Each rule's headline: its state in the latest period or window, in one word and a colour.

use mlsys_compiler::plan::Comparison;

use super::model::{DriftPeriod, DriftRuleReport, MetricRuleReport, MetricStatus, MetricWindow, PeriodStatus};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Drifting,
    BelowThreshold,
    AboveThreshold,
    Pending,
    InsufficientData,
    NoBaseline,
    NoData,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Drifting => "DRIFTING",
            Status::BelowThreshold => "BELOW THRESHOLD",
            Status::AboveThreshold => "ABOVE THRESHOLD",
            Status::Pending => "PENDING",
            Status::InsufficientData => "INSUFFICIENT DATA",
            Status::NoBaseline => "NO BASELINE",
            Status::NoData => "NO DATA",
        }
    }

    /// The stylesheet's colour class.
    pub fn class(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Drifting | Status::BelowThreshold | Status::AboveThreshold => "bad",
            Status::Pending | Status::InsufficientData => "wait",
            Status::NoBaseline | Status::NoData => "none",
        }
    }

    /// Larger is worse: the monitor's headline is its worst rule's.
    pub fn severity(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::NoData => 1,
            Status::Pending | Status::InsufficientData => 2,
            Status::NoBaseline => 3,
            Status::Drifting | Status::BelowThreshold | Status::AboveThreshold => 4,
        }
    }
}

/// Whether `value` is past `threshold` the way `comparison` points; never for a value or threshold
/// that is not finite.
pub fn crosses(comparison: Comparison, value: f64, threshold: f64) -> bool {
    if !(value.is_finite() && threshold.is_finite()) {
        return false;
    }
    match comparison {
        Comparison::Less => value < threshold,
        Comparison::LessEqual => value <= threshold,
        Comparison::Greater => value > threshold,
        Comparison::GreaterEqual => value >= threshold,
    }
}

/// The rule's periods in time order (the view model asks for it; this makes sure).
pub fn periods_in_order(rule: &DriftRuleReport) -> Vec<&DriftPeriod> {
    let mut periods: Vec<&DriftPeriod> = rule.periods.iter().collect();
    periods.sort_by_key(|period| (period.end_micros, period.start_micros));
    periods
}

/// The rule's windows in time order.
pub fn windows_in_order(rule: &MetricRuleReport) -> Vec<&MetricWindow> {
    let mut windows: Vec<&MetricWindow> = rule.windows.iter().collect();
    windows.sort_by_key(|window| window.end_micros);
    windows
}

/// The latest period's state.
pub fn drift_status(rule: &DriftRuleReport) -> Status {
    match periods_in_order(rule).last().map(|period| &period.status) {
        None | Some(PeriodStatus::NoData) => Status::NoData,
        Some(PeriodStatus::NoBaseline) => Status::NoBaseline,
        Some(PeriodStatus::InsufficientData { .. }) => Status::InsufficientData,
        Some(PeriodStatus::Evaluated { psi }) => {
            let drifting = psi
                .iter()
                .any(|feature| crosses(rule.comparison, feature.psi, rule.threshold));
            if drifting { Status::Drifting } else { Status::Ok }
        }
    }
}

/// The latest window with a value; before any, whether windows wait for labels.
pub fn metric_status(rule: &MetricRuleReport) -> Status {
    let Some(threshold) = rule.threshold else {
        return Status::NoBaseline;
    };
    let windows = windows_in_order(rule);
    if let Some(value) = windows.iter().rev().find_map(|window| finite_value(window)) {
        return match crosses(rule.comparison, value, threshold) {
            false => Status::Ok,
            true if matches!(rule.comparison, Comparison::Less | Comparison::LessEqual) => Status::BelowThreshold,
            true => Status::AboveThreshold,
        };
    }
    let waiting = |wanted: fn(&MetricStatus) -> bool| windows.iter().any(|window| wanted(&window.status));
    if waiting(|status| matches!(status, MetricStatus::Pending)) {
        Status::Pending
    } else if waiting(|status| matches!(status, MetricStatus::InsufficientLabels { .. })) {
        Status::InsufficientData
    } else {
        Status::NoData
    }
}

/// A window's metric when it has a finite one.
pub fn finite_value(window: &MetricWindow) -> Option<f64> {
    match window.status {
        MetricStatus::Value { value } if value.is_finite() => Some(value),
        _ => None,
    }
}
