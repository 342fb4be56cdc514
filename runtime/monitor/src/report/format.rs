//! Text for people: HTML escaping, numbers (non-finite ones as "n/a"), times, shortened names.

use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, MICROS_PER_MINUTE, civil_from_days};

/// `text` safe inside HTML and SVG text and attribute values (quotes included).
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// `value` with `decimals` digits after the point; "n/a" unless finite; a million or more in
/// scientific notation.
pub fn number(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return "n/a".into();
    }
    if value.abs() >= 1e6 {
        return format!("{value:.2e}");
    }
    // `-0.000` reads as a sign where there is none.
    let text = format!("{value:.decimals$}");
    match text.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => text,
    }
}

/// A share in [0, 1] as a percentage with one decimal; "n/a" unless finite.
pub fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{}%", number(share * 100.0, 1))
    } else {
        "n/a".into()
    }
}

/// A count with thousands separators: `12,345`.
pub fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// `2026-12-07 14:30 UTC`.
pub fn time(micros: i64) -> String {
    format!("{} UTC", date_minute(micros))
}

/// A short label for a chart's time axis: the date when `micros` is midnight, else `MM-DD HH:MM`.
pub fn axis_time(micros: i64) -> String {
    let full = date_minute(micros);
    match full.split_once(' ') {
        Some((date, "00:00")) => date.to_string(),
        Some((date, clock)) => format!("{} {clock}", date.get(5..).unwrap_or(date)),
        None => full,
    }
}

fn date_minute(micros: i64) -> String {
    // |micros| / MICROS_PER_DAY is at most about 1.07e8: the day number fits an i32.
    let days = micros.div_euclid(MICROS_PER_DAY) as i32;
    let minutes = micros.rem_euclid(MICROS_PER_DAY) / MICROS_PER_MINUTE;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", minutes / 60, minutes % 60)
}

/// `text` cut to `limit` characters, the cut marked with `…`.
pub fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut short: String = text.chars().take(limit.saturating_sub(1)).collect();
    short.push('…');
    short
}
