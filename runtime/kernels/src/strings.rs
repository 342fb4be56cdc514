//! String builtins (lang-spec/builtins.md, "Strings"): Unicode case mapping of the Rust standard
//! library, lengths in scalar values, byte-wise matching without normalisation.

/// Full Unicode lowercase mapping, final sigma included: `lower("ΣΑΣ") = "σας"`.
pub fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// Full Unicode uppercase mapping: `upper("ß") = "SS"`.
pub fn upper(s: &str) -> String {
    s.to_uppercase()
}

/// The number of Unicode scalar values: `length("e\u{301}") = 2`.
pub fn length(s: &str) -> i64 {
    // A string of more than i64::MAX scalar values cannot exist in memory.
    i64::try_from(s.chars().count()).unwrap_or(i64::MAX)
}

/// Whether `part` occurs in `s` as a byte substring (no normalisation); `contains(s, "")` is true.
pub fn contains(s: &str, part: &str) -> bool {
    // Both are valid UTF-8, so a `str` match is exactly a byte-substring match.
    s.contains(part)
}

/// Whether the bytes of `s` begin with those of `prefix`; `starts_with(s, "")` is true.
pub fn starts_with(s: &str, prefix: &str) -> bool {
    s.as_bytes().starts_with(prefix.as_bytes())
}

/// The concatenation of one or more strings (the caller returns null if any is null).
pub fn concat(parts: &[&str]) -> String {
    parts.concat()
}
