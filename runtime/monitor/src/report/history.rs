//! The history section: alerts fired, repeated and resolved, and retrains, newest first.

use super::format::{escape, time};
use super::html::{note, table};
use super::model::{Delivery, EventKind, HistoryEvent};

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
                delivery(&event.delivery),
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

fn delivery(delivery: &Delivery) -> String {
    match delivery {
        Delivery::Delivered => "delivered".into(),
        Delivery::Pending => "<span class=\"muted\">pending</span>".into(),
        Delivery::Failed { reason } => format!("<span class=\"bad-text\">failed: {}</span>", escape(reason)),
        Delivery::NotSent => "<span class=\"muted\">recorded, no channel</span>".into(),
    }
}
