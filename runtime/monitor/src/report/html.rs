//! Small HTML pieces the sections share: status badges, tables, notes. Arguments named `html` are
//! markup already escaped; everything else is escaped here.

use std::fmt::Write as _;

use super::format::{count, escape};
use super::status::Status;

pub fn badge(status: Status) -> String {
    format!("<span class=\"badge {}\">{}</span>", status.class(), status.label())
}

/// A rule's text as code.
pub fn rule_text(rule: &str) -> String {
    format!("<code class=\"rule-text\">{}</code>", escape(rule))
}

/// A table of `rows` (cells in HTML) under `headers`; the rows beyond `limit` are left out and
/// counted in a note below.
pub fn table(headers: &[&str], rows: &[Vec<String>], limit: usize, left_out: &str) -> String {
    let mut out = String::from("<div class=\"table-wrap\"><table><thead><tr>");
    for header in headers {
        let _ = write!(out, "<th>{}</th>", escape(header));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows.iter().take(limit) {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    if rows.len() > limit {
        out.push_str(&note(&format!(
            "{} {left_out} not shown.",
            count((rows.len() - limit) as u64)
        )));
    }
    out
}

/// A muted paragraph of plain text.
pub fn note(text: &str) -> String {
    format!("<p class=\"note\">{}</p>", escape(text))
}

/// A legend entry for a shaded band of a chart.
pub fn swatch(class: &str, text: &str) -> String {
    format!(
        "<span class=\"swatch\"><span class=\"swatch-box {class}\"></span>{}</span>",
        escape(text)
    )
}
