//! Time builtins (lang-spec/builtins.md, "Time (UTC)"): calendar fields of dates and timestamps on
//! the proleptic Gregorian calendar in UTC, with floor division so instants before 1970 fall on the
//! right day and hour. Every function is total over its argument type.

pub const MICROS_PER_HOUR: i64 = 3_600_000_000;
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `a / b` rounded toward negative infinity, for a positive `b` (all callers pass constants).
pub const fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

/// The residue of `a` modulo a positive `b`, in `0..b`.
pub const fn floor_mod(a: i64, b: i64) -> i64 {
    a.rem_euclid(b)
}

/// `hour(t)`: 0..23, the UTC hour of the day containing `t`.
pub fn hour(t: i64) -> i64 {
    floor_mod(t, MICROS_PER_DAY) / MICROS_PER_HOUR
}

/// `date_of(t)`: the UTC day containing `t`, in days since 1970-01-01.
pub fn date_of(t: i64) -> i32 {
    // |t| / 86 400 000 000 is at most about 1.07e8, well inside i32: the cast never truncates.
    floor_div(t, MICROS_PER_DAY) as i32
}

/// `day_of_week(d)`: ISO, 1 = Monday … 7 = Sunday (1970-01-01 was a Thursday).
pub fn day_of_week_date(days: i32) -> i64 {
    (i64::from(days) + 3).rem_euclid(7) + 1
}

/// `day(d)`: the day of the month, 1..31.
pub fn day_date(days: i32) -> i64 {
    i64::from(civil_from_days(days).2)
}

/// `month(d)`: 1..12.
pub fn month_date(days: i32) -> i64 {
    i64::from(civil_from_days(days).1)
}

/// `year(d)`: astronomical numbering (year 0 is 1 BC, -1 is 2 BC).
pub fn year_date(days: i32) -> i64 {
    civil_from_days(days).0
}

/// `day_of_week(t)` of a timestamp: that of `date_of(t)`.
pub fn day_of_week_timestamp(t: i64) -> i64 {
    day_of_week_date(date_of(t))
}

pub fn day_timestamp(t: i64) -> i64 {
    day_date(date_of(t))
}

pub fn month_timestamp(t: i64) -> i64 {
    month_date(date_of(t))
}

pub fn year_timestamp(t: i64) -> i64 {
    year_date(date_of(t))
}

/// (year, month, day) of a day number; one definition, shared with the compiler.
pub use mlsys_compiler::syntax::literal::civil_from_days;
