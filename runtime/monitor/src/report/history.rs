//! The history section: alerts fired, repeated and resolved, and retrains, newest first.

use super::format::count;
use super::format::{escape, time};
use super::html::{note, table};
use super::model::{Delivery, DeliveryState, EventKind, HistoryEvent};

const MAX_EVENTS: usize = 200;

pub fn section(history: &[HistoryEvent]) -> String {
    let mut out = String::from("<section><h2>History</h2>");
    if history.is_empty() {
        out.push_str(&note("No alert or retrain recorded."));
        out.push_str("</section>");
        return out;
    }
    let mut events: Vec<&HistoryEvent> = history.iter().collect();
    // Newest first; ties in an order of their own, so that the page does not depend on the
    // order the events were handed in.
    events.sort_by(|a, b| (b.at_micros, a.kind, &a.rule, &a.summary).cmp(&(a.at_micros, b.kind, &b.rule, &b.summary)));
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|event| {
            vec![
                escape(&time(event.at_micros)),
                kind(event.kind),
                format!("<code>{}</code>", escape(&event.rule)),
                format!("<span class=\"name\">{}</span>", escape(&event.summary)),
                deliveries(&event.deliveries),
            ]
        })
        .collect();
    let headers = ["time", "event", "rule", "summary", "delivery"];
    out.push_str(&table(&headers, &rows, MAX_EVENTS, "older events"));
    out.push_str("</section>");
    out
}

fn kind(kind: EventKind) -> String {
    let (class, text) = match kind {
        EventKind::AlertFired => ("bad", "alert fired"),
        EventKind::AlertRepeated => ("bad", "alert repeated"),
        EventKind::AlertResolved => ("ok", "alert resolved"),
        EventKind::Retrain => ("wait", "retrain"),
    };
    format!("<span class=\"pill {class}\">{text}</span>")
}

/// One line per destination: `slack:#fraud-oncall: delivered`.
fn deliveries(deliveries: &[Delivery]) -> String {
    if deliveries.is_empty() {
        return "<span class=\"muted\">recorded, no channel</span>".into();
    }
    let lines: Vec<String> = deliveries.iter().map(delivery).collect();
    lines.join("<br>")
}

fn delivery(delivery: &Delivery) -> String {
    let (class, state) = match delivery.state {
        DeliveryState::Delivered => ("", "delivered"),
        DeliveryState::Pending => ("muted", "pending"),
        DeliveryState::Overdue => ("bad-text", "overdue"),
        DeliveryState::Failed => ("bad-text", "failed"),
    };
    let mut text = format!("{}: {state}", delivery.channel);
    if delivery.attempts > 1 || delivery.state != DeliveryState::Delivered {
        text.push_str(&format!(", {} attempts", count(u64::from(delivery.attempts))));
    }
    if let Some(error) = &delivery.last_error {
        text.push_str(&format!("; last error: {error}"));
    }
    format!("<span class=\"name {class}\">{}</span>", escape(&text))
}
