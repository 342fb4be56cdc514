//! Public holidays: national ones by rule (fixed dates and "third Monday of January" kinds), plus one
//! regional holiday per region, so that every year of a generated period has its holidays.

use mlsys_compiler::syntax::literal::{civil_from_days, days_from_civil};

use super::day_of_week;

/// National holidays on fixed dates: (month, day).
const FIXED: [(u32, u32); 4] = [(1, 1), (7, 4), (11, 11), (12, 25)];

/// National holidays on the Nth given weekday of a month: (month, ISO weekday, N); N = 5 means the last.
const NTH_WEEKDAY: [(u32, u32, u32); 6] = [
    (1, 1, 3),  // third Monday of January
    (2, 1, 3),  // third Monday of February
    (5, 1, 5),  // last Monday of May
    (9, 1, 1),  // first Monday of September
    (10, 1, 2), // second Monday of October
    (11, 4, 4), // fourth Thursday of November
];

/// Whether `day` is a public holiday in a region whose own holiday falls on `regional` (month, day).
pub fn is_holiday(day: i32, regional: (u32, u32)) -> bool {
    let (year, month, day_of_month) = civil_from_days(day);
    if FIXED.contains(&(month, day_of_month)) || regional == (month, day_of_month) {
        return true;
    }
    let Ok(year) = i32::try_from(year) else { return false };
    NTH_WEEKDAY
        .iter()
        .any(|&(rule_month, weekday, nth)| rule_month == month && nth_weekday(year, month, weekday, nth) == day)
}

/// 1 for the 1st of January.
pub fn day_of_year(day: i32) -> i32 {
    let year = i32::try_from(civil_from_days(day).0).unwrap_or(1970);
    day - days_from_civil(year, 1, 1) + 1
}

/// The day of the `nth` `weekday` of a month (the last one for `nth` = 5).
fn nth_weekday(year: i32, month: u32, weekday: u32, nth: u32) -> i32 {
    let first = days_from_civil(year, month, 1);
    let offset = (weekday + 7 - day_of_week(first)) % 7;
    let mut day = first + offset as i32 + 7 * (nth as i32 - 1);
    while civil_from_days(day).1 != month {
        day -= 7; // past the month's end: the last such weekday
    }
    day
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holidays_of_2026() {
        let holiday = |month, day| is_holiday(days_from_civil(2026, month, day), (3, 17));
        assert!(holiday(1, 1));
        assert!(holiday(1, 19), "third Monday of January 2026");
        assert!(holiday(5, 25), "last Monday of May 2026");
        assert!(holiday(9, 7), "first Monday of September 2026");
        assert!(holiday(11, 26), "fourth Thursday of November 2026");
        assert!(holiday(3, 17), "the region's own");
        assert!(!holiday(1, 12) && !holiday(5, 18) && !holiday(3, 18));
    }
}
