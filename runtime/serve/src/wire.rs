//! The JSON wire form of values, both ways: request cells decoded to typed [`Value`]s (strictly:
//! a wrong type is an error naming the expected form, never a silent conversion) and results
//! encoded exactly.
//!
//! | type | request accepts | response writes |
//! | --- | --- | --- |
//! | bool | `true` / `false` | `true` / `false` |
//! | int64 | a JSON integer; a string of decimal digits (for clients whose numbers are doubles) | a JSON integer, all digits (beyond 2^53 a double-based client rounds it, as with Feast) |
//! | float64 | a JSON number (an integer only if the double holds it exactly); `"NaN"`, `"Infinity"`, `"-Infinity"` | shortest text that parses back to the same bits (`-0.0` kept); non-finite as those three strings, as Feast and the protobuf JSON mapping do |
//! | string | a JSON string | a JSON string |
//! | date | `"YYYY-MM-DD"` | `"YYYY-MM-DD"` |
//! | timestamp | an RFC 3339 string (any offset, at most microsecond precision) or integer microseconds since the epoch | RFC 3339 in UTC with exactly six fraction digits: `"2026-03-02T11:45:00.000000Z"` |
//! | duration | integer microseconds, or a duration literal such as `"90m"` | integer microseconds |
//!
//! Years outside 0000–9999 use ISO 8601's expanded form (`+12345-01-01`, `-0001-01-01`) both ways.

use std::fmt::Write;

use mlsys_compiler::syntax::literal::{LiteralError, civil_from_days, days_from_civil, days_in_month, parse_duration};
use mlsys_compiler::types::{BaseType, Type};
use mlsys_jit::ValueRef;
use mlsys_kernels::Value;
use serde_json::Value as Json;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;
/// Years further out would overflow the day arithmetic; no int64 timestamp reaches them anyway.
const MAX_ABS_YEAR: i64 = 1_000_000;

/// Why a request cell is not a value of its field's type. The message says what was wrong,
/// without the field name (the caller adds it); clients read it in error bodies, so the text
/// problem is part of it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("expected {expected}, got null (the field is not nullable)")]
    Null { expected: &'static str },
    #[error("expected {expected}, got {found}")]
    Mismatch { expected: &'static str, found: String },
    #[error("expected {expected}, got {found}: {problem}")]
    Text {
        expected: &'static str,
        found: String,
        problem: TextError,
    },
}

/// Why a date, timestamp or duration text does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("expected {0}")]
    Expected(&'static str),
    #[error("expected {count} digits of {what}")]
    Digits { count: usize, what: &'static str },
    #[error("year {0} is out of range")]
    YearRange(i64),
    #[error("{year:04}-{month:02}-{day:02} is not a date in the calendar")]
    NotInCalendar { year: i32, month: i64, day: i64 },
    #[error("{hour:02}:{minute:02}:{second:02} is not a time of day")]
    NotATime { hour: i64, minute: i64, second: i64 },
    #[error("sub-microsecond precision is not supported")]
    SubMicrosecond,
    #[error("the offset is out of range")]
    OffsetRange,
    #[error("unexpected text after the {0}")]
    Trailing(&'static str),
    #[error("the instant is outside the int64 microsecond range")]
    InstantRange,
    #[error(transparent)]
    Duration(#[from] LiteralError),
}

/// How a value of `base` may be written in a request, for error messages.
pub fn expected_form(base: BaseType) -> &'static str {
    match base {
        BaseType::Bool => "bool (true or false)",
        BaseType::Int64 => "int64 (a JSON integer, or a string of decimal digits)",
        BaseType::Float64 => r#"float64 (a JSON number, or "NaN", "Infinity", "-Infinity")"#,
        BaseType::String => "string (a JSON string)",
        BaseType::Date => r#"date (a "YYYY-MM-DD" string)"#,
        BaseType::Timestamp => {
            r#"timestamp (an RFC 3339 string such as "2026-03-02T11:45:00Z", or integer microseconds since the epoch)"#
        }
        BaseType::Duration => r#"duration (integer microseconds, or a duration literal such as "90m")"#,
    }
}

/// A short description of a JSON value for error messages (long strings cut).
pub fn describe(json: &Json) -> String {
    match json {
        Json::Null => "null".to_string(),
        Json::Bool(value) => value.to_string(),
        Json::Number(number) => number.to_string(),
        Json::String(text) => {
            let cut: String = text.chars().take(40).collect();
            let ellipsis = if cut.len() < text.len() { "..." } else { "" };
            format!("the string {:?}{ellipsis}", cut)
        }
        Json::Array(_) => "an array".to_string(),
        Json::Object(_) => "an object".to_string(),
    }
}

/// The value of one request cell for a field of type `ty`. The error says what was wrong, without
/// the field name (the caller adds it).
pub fn decode_value(json: &Json, ty: Type) -> Result<Value, DecodeError> {
    let expected = expected_form(ty.base);
    if json.is_null() {
        return if ty.nullable {
            Ok(Value::Null)
        } else {
            Err(DecodeError::Null { expected })
        };
    }
    let mismatch = || DecodeError::Mismatch {
        expected,
        found: describe(json),
    };
    let text_error = |problem| DecodeError::Text {
        expected,
        found: describe(json),
        problem,
    };
    match (ty.base, json) {
        (BaseType::Bool, Json::Bool(value)) => Ok(Value::Bool(*value)),
        (BaseType::Int64, Json::Number(number)) => number.as_i64().map(Value::Int).ok_or_else(mismatch),
        (BaseType::Int64, Json::String(text)) => parse_decimal_int(text).map(Value::Int).ok_or_else(mismatch),
        (BaseType::Float64, Json::Number(number)) => decode_float(number).map(Value::Float).ok_or_else(mismatch),
        (BaseType::Float64, Json::String(text)) => match text.as_str() {
            "NaN" => Ok(Value::Float(f64::NAN)),
            "Infinity" => Ok(Value::Float(f64::INFINITY)),
            "-Infinity" => Ok(Value::Float(f64::NEG_INFINITY)),
            _ => Err(mismatch()),
        },
        (BaseType::String, Json::String(text)) => Ok(Value::string(text.as_str())),
        (BaseType::Date, Json::String(text)) => parse_date(text).map(Value::Date).map_err(text_error),
        (BaseType::Timestamp, Json::Number(number)) => number.as_i64().map(Value::Timestamp).ok_or_else(mismatch),
        (BaseType::Timestamp, Json::String(text)) => parse_timestamp(text).map(Value::Timestamp).map_err(text_error),
        (BaseType::Duration, Json::Number(number)) => number.as_i64().map(Value::Duration).ok_or_else(mismatch),
        (BaseType::Duration, Json::String(text)) => {
            parse_signed_duration(text).map(Value::Duration).map_err(text_error)
        }
        _ => Err(mismatch()),
    }
}

/// A JSON number as a double: floats as parsed (correctly rounded), integers only when the double
/// holds them exactly (a silent rounding would compute on another input than the client sent).
fn decode_float(number: &serde_json::Number) -> Option<f64> {
    if let Some(integer) = number.as_i64() {
        let float = integer as f64;
        return (float as i128 == i128::from(integer)).then_some(float);
    }
    if let Some(integer) = number.as_u64() {
        let float = integer as f64;
        return (float as i128 == i128::from(integer)).then_some(float);
    }
    number.as_f64()
}

fn parse_decimal_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_signed_duration(text: &str) -> Result<i64, TextError> {
    match text.strip_prefix('-') {
        Some(magnitude) => Ok(-parse_duration(magnitude)?),
        None => Ok(parse_duration(text)?),
    }
}

/// A cursor over ASCII text for the date and time grammars.
struct Scanner<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn eat(&mut self, expected: u8) -> bool {
        let found = self.peek() == Some(expected);
        if found {
            self.position += 1;
        }
        found
    }

    fn expect(&mut self, expected: u8, what: &'static str) -> Result<(), TextError> {
        if self.eat(expected) {
            Ok(())
        } else {
            Err(TextError::Expected(what))
        }
    }

    /// Exactly `count` digits.
    fn digits(&mut self, count: usize, what: &'static str) -> Result<i64, TextError> {
        let mut value = 0;
        for _ in 0..count {
            match self.peek() {
                Some(digit @ b'0'..=b'9') => {
                    value = value * 10 + i64::from(digit - b'0');
                    self.position += 1;
                }
                _ => return Err(TextError::Digits { count, what }),
            }
        }
        Ok(value)
    }

    /// `YYYY-MM-DD`, or an expanded year with a sign and at least four digits.
    fn date(&mut self) -> Result<i32, TextError> {
        let sign = match self.peek() {
            Some(b'+') => {
                self.position += 1;
                Some(1)
            }
            Some(b'-') => {
                self.position += 1;
                Some(-1)
            }
            _ => None,
        };
        let start = self.position;
        while self.peek().is_some_and(|byte| byte.is_ascii_digit()) && self.position - start < 8 {
            self.position += 1;
        }
        let year_digits = self.position - start;
        if year_digits < 4 || (sign.is_none() && year_digits != 4) {
            return Err(TextError::Expected("a four-digit year (or a signed expanded year)"));
        }
        // At most eight ASCII digits: the year always parses.
        let year = self.bytes[start..self.position]
            .iter()
            .fold(0_i64, |year, digit| year * 10 + i64::from(digit - b'0'))
            * sign.unwrap_or(1);
        if year.abs() > MAX_ABS_YEAR {
            return Err(TextError::YearRange(year));
        }
        self.expect(b'-', "`-` after the year")?;
        let month = self.digits(2, "the month")?;
        self.expect(b'-', "`-` after the month")?;
        let day = self.digits(2, "the day")?;
        let year = i32::try_from(year).map_err(|_| TextError::YearRange(year))?;
        if !(1..=12).contains(&month) || day < 1 || day > i64::from(days_in_month(year, month as u32)) {
            return Err(TextError::NotInCalendar { year, month, day });
        }
        Ok(days_from_civil(year, month as u32, day as u32))
    }

    fn at_end(&self) -> bool {
        self.position == self.bytes.len()
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Result<i32, TextError> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        position: 0,
    };
    let days = scanner.date()?;
    if !scanner.at_end() {
        return Err(TextError::Trailing("date"));
    }
    Ok(days)
}

/// Microseconds since the epoch of an RFC 3339 date-time (`T`, `t` or a space between date and
/// time; `Z`, `z` or `±HH:MM`). A fraction may have up to nine digits, but digits below the
/// microsecond must be zero: the language's timestamps are microseconds, and rounding silently
/// would read features at another instant than the one sent.
pub fn parse_timestamp(text: &str) -> Result<i64, TextError> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        position: 0,
    };
    let days = scanner.date()?;
    if !(scanner.eat(b'T') || scanner.eat(b't') || scanner.eat(b' ')) {
        return Err(TextError::Expected("`T` between the date and the time"));
    }
    let hour = scanner.digits(2, "the hour")?;
    scanner.expect(b':', "`:` after the hour")?;
    let minute = scanner.digits(2, "the minutes")?;
    scanner.expect(b':', "`:` after the minutes")?;
    let second = scanner.digits(2, "the seconds")?;
    if hour > 23 || minute > 59 || second > 59 {
        return Err(TextError::NotATime { hour, minute, second });
    }
    let mut micros = 0;
    if scanner.eat(b'.') {
        let start = scanner.position;
        while scanner.peek().is_some_and(|byte| byte.is_ascii_digit()) {
            scanner.position += 1;
        }
        let fraction = &text[start..scanner.position];
        if fraction.is_empty() || fraction.len() > 9 {
            return Err(TextError::Expected("1 to 9 digits after the decimal point"));
        }
        let (kept, below) = fraction.split_at(fraction.len().min(6));
        if below.bytes().any(|digit| digit != b'0') {
            return Err(TextError::SubMicrosecond);
        }
        let scale = 10_i64.pow(6 - kept.len() as u32);
        // One to six ASCII digits: the fraction always parses.
        micros = kept
            .bytes()
            .fold(0_i64, |micros, digit| micros * 10 + i64::from(digit - b'0'))
            * scale;
    }
    let offset_seconds = match scanner.peek() {
        Some(b'Z' | b'z') => {
            scanner.position += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            scanner.position += 1;
            let hours = scanner.digits(2, "the offset hours")?;
            scanner.expect(b':', "`:` in the offset")?;
            let minutes = scanner.digits(2, "the offset minutes")?;
            if hours > 23 || minutes > 59 {
                return Err(TextError::OffsetRange);
            }
            let magnitude = hours * 3600 + minutes * 60;
            if sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return Err(TextError::Expected("a time zone offset (`Z` or `+HH:MM`)")),
    };
    if !scanner.at_end() {
        return Err(TextError::Trailing("time zone offset"));
    }
    let seconds =
        i128::from(days) * 86_400 + i128::from(hour * 3600 + minute * 60 + second) - i128::from(offset_seconds);
    let total = seconds * i128::from(MICROS_PER_SECOND) + i128::from(micros);
    i64::try_from(total).map_err(|_| TextError::InstantRange)
}

/// Appends `text` as a JSON string.
pub fn write_string(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1F => "",
            _ => continue,
        };
        out.push_str(&text[start..index]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = index + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// Appends a float64: the shortest decimal that parses back to the same bits (Rust's `Debug`
/// form, which keeps `-0.0` and uses an exponent for very large and small magnitudes — both
/// valid JSON numbers), or the protobuf JSON strings for non-finite values.
pub fn write_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("\"NaN\"");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "\"Infinity\"" } else { "\"-Infinity\"" });
    } else {
        let _ = write!(out, "{value:?}");
    }
}

fn write_year_month_day(out: &mut String, days: i32) {
    let (year, month, day) = civil_from_days(days);
    let _ = match year {
        0..=9999 => write!(out, "{year:04}-{month:02}-{day:02}"),
        10_000.. => write!(out, "+{year}-{month:02}-{day:02}"),
        _ => write!(out, "-{:04}-{month:02}-{day:02}", year.unsigned_abs()),
    };
}

/// Appends a date as a JSON string.
pub fn write_date(out: &mut String, days: i32) {
    out.push('"');
    write_year_month_day(out, days);
    out.push('"');
}

/// The RFC 3339 text of a timestamp, in UTC with six fraction digits.
pub fn format_timestamp(micros: i64) -> String {
    let mut text = String::with_capacity(28);
    write_timestamp_text(&mut text, micros);
    text
}

fn write_timestamp_text(out: &mut String, micros: i64) {
    // |micros| / MICROS_PER_DAY is at most about 1.07e8: the day number fits an i32.
    let days = micros.div_euclid(MICROS_PER_DAY) as i32;
    let within_day = micros.rem_euclid(MICROS_PER_DAY);
    write_year_month_day(out, days);
    let seconds = within_day / MICROS_PER_SECOND;
    let fraction = within_day % MICROS_PER_SECOND;
    let _ = write!(
        out,
        "T{:02}:{:02}:{:02}.{fraction:06}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
}

/// Appends a timestamp as a JSON string.
pub fn write_timestamp(out: &mut String, micros: i64) {
    out.push('"');
    write_timestamp_text(out, micros);
    out.push('"');
}

/// Appends a value in its wire form.
pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
        Value::Int(value) | Value::Duration(value) => {
            let _ = write!(out, "{value}");
        }
        Value::Float(value) => write_float(out, *value),
        Value::String(text) => write_string(out, text),
        Value::Date(days) => write_date(out, *days),
        Value::Timestamp(micros) => write_timestamp(out, *micros),
    }
}

/// Appends a result borrowed from a compiled row in its wire form.
pub fn write_value_ref(out: &mut String, value: ValueRef<'_>) {
    match value {
        ValueRef::Null => out.push_str("null"),
        ValueRef::Bool(value) => out.push_str(if value { "true" } else { "false" }),
        ValueRef::Int(value) | ValueRef::Duration(value) => {
            let _ = write!(out, "{value}");
        }
        ValueRef::Float(value) => write_float(out, value),
        ValueRef::String(text) => write_string(out, text),
        ValueRef::Date(days) => write_date(out, days),
        ValueRef::Timestamp(micros) => write_timestamp(out, micros),
    }
}
