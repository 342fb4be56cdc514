//! Literal parsing: integers, dates, durations and string escapes, with exact range checks.

pub const MICROS_PER_MILLISECOND: i64 = 1_000;
pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
pub const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;
pub const MICROS_PER_WEEK: i64 = 7 * MICROS_PER_DAY;

/// Why a literal's text is not a value; the parser reports it as `E0002` (lang-spec/diagnostics.md)
/// and the command-line options that take dates and durations name the option around it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LiteralError {
    #[error("integer literal `{0}` does not fit in int64")]
    IntRange(String),
    #[error("`{0}` is not a date")]
    NotADate(String),
    #[error("`{0}` is not a date in the calendar")]
    NotInCalendar(String),
    #[error("duration `{0}` is out of range")]
    DurationRange(String),
    #[error("`{0}` is not a duration unit")]
    DurationUnit(String),
    #[error("`\\u{{{0}}}` is not a Unicode scalar value")]
    NotAScalar(String),
    #[error("unknown escape `\\{0}` in string")]
    UnknownEscape(String),
}

pub fn parse_int(text: &str) -> Result<i64, LiteralError> {
    let digits: String = text.chars().filter(|c| *c != '_').collect();
    digits
        .parse::<i64>()
        .map_err(|_| LiteralError::IntRange(text.to_string()))
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date, if the date exists.
pub fn parse_date(text: &str) -> Result<i32, LiteralError> {
    let mut parts = text.splitn(3, '-');
    let (Some(year), Some(month), Some(day)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(LiteralError::NotADate(text.to_string()));
    };
    let (Ok(year), Ok(month), Ok(day)) = (year.parse::<i32>(), month.parse::<u32>(), day.parse::<u32>()) else {
        return Err(LiteralError::NotADate(text.to_string()));
    };
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(LiteralError::NotInCalendar(text.to_string()));
    }
    Ok(days_from_civil(year, month, day))
}

fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1..=12) of `year`, proleptic Gregorian.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap_year(year) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 (proleptic Gregorian calendar).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = month as i32;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day as i32 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// (year, month, day) of a day number since 1970-01-01. Computed in 64 bits, so every `i32` day
/// number is safe (years far outside 0..9999 are still exact).
pub fn civil_from_days(days: i32) -> (i64, u32, u32) {
    let days = i64::from(days) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD` text of a day number.
pub fn format_date(days: i32) -> String {
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Microseconds in a duration literal such as `7d`, `2ms`.
pub fn parse_duration(text: &str) -> Result<i64, LiteralError> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let out_of_range = || LiteralError::DurationRange(text.to_string());
    let amount: i64 = digits.parse().map_err(|_| out_of_range())?;
    let unit_micros = match unit {
        "ms" => MICROS_PER_MILLISECOND,
        "s" => MICROS_PER_SECOND,
        "m" => MICROS_PER_MINUTE,
        "h" => MICROS_PER_HOUR,
        "d" => MICROS_PER_DAY,
        "w" => MICROS_PER_WEEK,
        _ => return Err(LiteralError::DurationUnit(unit.to_string())),
    };
    amount.checked_mul(unit_micros).ok_or_else(out_of_range)
}

/// The exact text of a duration in its largest whole unit up to days (`1h`, `90m`, `14d`, `2ms`);
/// the canonical form in IR and hashes.
pub fn format_duration(micros: i64) -> String {
    // Days rather than weeks: `7d`, `28d` read as written.
    const UNITS: [(i64, &str); 5] = [
        (MICROS_PER_DAY, "d"),
        (MICROS_PER_HOUR, "h"),
        (MICROS_PER_MINUTE, "m"),
        (MICROS_PER_SECOND, "s"),
        (MICROS_PER_MILLISECOND, "ms"),
    ];
    if micros == 0 {
        return "0s".to_string();
    }
    for (size, unit) in UNITS {
        if micros % size == 0 {
            return format!("{}{unit}", micros / size);
        }
    }
    format!("{micros}us")
}

/// Decodes the escapes of a string literal's inner text.
pub fn unescape(inner: &str) -> Result<String, LiteralError> {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('u') => {
                let rest: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let hex = rest.trim_start_matches('{');
                let scalar = u32::from_str_radix(hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| LiteralError::NotAScalar(hex.to_string()))?;
                out.push(scalar);
            }
            other => {
                return Err(LiteralError::UnknownEscape(other.map(String::from).unwrap_or_default()));
            }
        }
    }
    Ok(out)
}

/// A string literal in canonical form: `"` quoted, with `\"`, `\\` and every control character or
/// non-printing code point escaped as `\u{HEX}`. Independent of the Rust version (hashes use it).
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
