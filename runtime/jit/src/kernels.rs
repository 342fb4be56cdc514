//! The kernel calls of compiled code: one small `extern "C"` shim per kernel function of
//! `mlsys_kernels` (so the JIT runs the very code the interpreter and the batch engine run), their
//! signatures and symbol names, and the string arena that owns strings the shims produce.
//!
//! Strings cross the boundary as `(pointer, length)` pairs of `u64`s. A pair with length 0 may
//! carry any pointer, null included (a null string value has length 0): shims never build a slice
//! from it. Every other pair points to valid UTF-8 that lives for the whole call: the caller's
//! input strings, the compiled feature set's literals, or strings in the row's [`StringArena`].
#![allow(unsafe_code)]

use mlsys_kernels::{categorical, math, operators, strings, time};

/// Strings produced while evaluating one row. Moving a `String` into the vector does not move its
/// bytes, so the pointers handed to compiled code stay valid until [`StringArena::clear`], which
/// runs at the start of the next evaluation with the same row.
#[derive(Debug, Default)]
pub(crate) struct StringArena {
    strings: Vec<String>,
}

impl StringArena {
    pub fn clear(&mut self) {
        self.strings.clear();
    }

    /// Keeps `text` and writes its `(pointer, length)` to `out`.
    fn keep(&mut self, text: String, out: &mut [u64; 2]) {
        *out = [text.as_ptr() as u64, text.len() as u64];
        self.strings.push(text);
    }
}

/// The text of a `(pointer, length)` pair from compiled code.
///
/// # Safety
/// A non-zero `len` requires `ptr` to point to `len` bytes of valid UTF-8 that outlive `'a` (the
/// module docs say who guarantees it).
unsafe fn text<'a>(ptr: u64, len: u64) -> &'a str {
    if len == 0 || ptr == 0 {
        return "";
    }
    // SAFETY: the caller guarantees `len` bytes of UTF-8 at `ptr` that outlive `'a`; every string
    // reaching compiled code comes from a `str` (inputs, literals, kernel results).
    unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr as *const u8, len as usize)) }
}

extern "C" fn ln(x: f64) -> f64 {
    math::ln(x)
}

extern "C" fn log10(x: f64) -> f64 {
    math::log10(x)
}

extern "C" fn exp(x: f64) -> f64 {
    math::exp(x)
}

extern "C" fn round(x: f64) -> f64 {
    math::round(x)
}

extern "C" fn pow(x: f64, y: f64) -> f64 {
    math::pow(x, y)
}

/// # Safety
/// `arena` and `out` are valid for the call; `(ptr, len)` follows the module's string rule.
unsafe extern "C" fn lower(arena: *mut StringArena, ptr: u64, len: u64, out: *mut [u64; 2]) {
    // SAFETY: compiled code passes the row's arena, a stack slot for `out` and a valid string.
    unsafe { (*arena).keep(strings::lower(text(ptr, len)), &mut *out) }
}

/// # Safety
/// As [`lower`].
unsafe extern "C" fn upper(arena: *mut StringArena, ptr: u64, len: u64, out: *mut [u64; 2]) {
    // SAFETY: as in `lower`.
    unsafe { (*arena).keep(strings::upper(text(ptr, len)), &mut *out) }
}

/// # Safety
/// `parts` points to `count` `(pointer, length)` pairs following the module's string rule;
/// `arena` and `out` are valid for the call.
unsafe extern "C" fn concat(arena: *mut StringArena, parts: *const [u64; 2], count: u64, out: *mut [u64; 2]) {
    // SAFETY: compiled code stores `count` pairs in a stack slot and passes its address.
    let parts = unsafe { std::slice::from_raw_parts(parts, count as usize) };
    // SAFETY: each pair follows the string rule.
    let texts: Vec<&str> = parts.iter().map(|[ptr, len]| unsafe { text(*ptr, *len) }).collect();
    // SAFETY: as in `lower`.
    unsafe { (*arena).keep(strings::concat(&texts), &mut *out) }
}

/// # Safety
/// `(ptr, len)` follows the module's string rule.
unsafe extern "C" fn length(ptr: u64, len: u64) -> i64 {
    // SAFETY: the caller passes a valid string.
    strings::length(unsafe { text(ptr, len) })
}

/// # Safety
/// Both strings follow the module's string rule.
unsafe extern "C" fn contains(ptr: u64, len: u64, part_ptr: u64, part_len: u64) -> u8 {
    // SAFETY: the caller passes valid strings.
    u8::from(unsafe { strings::contains(text(ptr, len), text(part_ptr, part_len)) })
}

/// # Safety
/// Both strings follow the module's string rule.
unsafe extern "C" fn starts_with(ptr: u64, len: u64, prefix_ptr: u64, prefix_len: u64) -> u8 {
    // SAFETY: the caller passes valid strings.
    u8::from(unsafe { strings::starts_with(text(ptr, len), text(prefix_ptr, prefix_len)) })
}

/// The language's string comparison as -1, 0 or 1.
///
/// # Safety
/// Both strings follow the module's string rule.
unsafe extern "C" fn compare_str(a_ptr: u64, a_len: u64, b_ptr: u64, b_len: u64) -> i64 {
    // SAFETY: the caller passes valid strings.
    operators::compare_str(unsafe { text(a_ptr, a_len) }, unsafe { text(b_ptr, b_len) }) as i64
}

extern "C" fn hour(t: i64) -> i64 {
    time::hour(t)
}

extern "C" fn date_of(t: i64) -> i32 {
    time::date_of(t)
}

extern "C" fn day_of_week_date(days: i32) -> i64 {
    time::day_of_week_date(days)
}

extern "C" fn day_of_week_timestamp(t: i64) -> i64 {
    time::day_of_week_timestamp(t)
}

extern "C" fn day_date(days: i32) -> i64 {
    time::day_date(days)
}

extern "C" fn day_timestamp(t: i64) -> i64 {
    time::day_timestamp(t)
}

extern "C" fn month_date(days: i32) -> i64 {
    time::month_date(days)
}

extern "C" fn month_timestamp(t: i64) -> i64 {
    time::month_timestamp(t)
}

extern "C" fn year_date(days: i32) -> i64 {
    time::year_date(days)
}

extern "C" fn year_timestamp(t: i64) -> i64 {
    time::year_timestamp(t)
}

/// # Safety
/// `(ptr, len)` follows the module's string rule.
unsafe extern "C" fn hash_bucket_str(ptr: u64, len: u64, buckets: i64) -> i64 {
    // SAFETY: the caller passes a valid string.
    categorical::hash_bucket_str(unsafe { text(ptr, len) }, buckets)
}

extern "C" fn hash_bucket_i64(x: i64, buckets: i64) -> i64 {
    categorical::hash_bucket_i64(x, buckets)
}

/// # Safety
/// `edges` points to `count` floats (a stack slot of the compiled function).
unsafe extern "C" fn bucketize(x: f64, edges: *const f64, count: u64) -> i64 {
    // SAFETY: compiled code stores `count >= 1` edges in a stack slot and passes its address.
    categorical::bucketize(x, unsafe { std::slice::from_raw_parts(edges, count as usize) })
}

/// The machine types of shim parameters and results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AbiType {
    I8,
    I32,
    I64,
    F64,
}

/// Every kernel compiled code may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kernel {
    Ln,
    Log10,
    Exp,
    Round,
    Pow,
    Lower,
    Upper,
    Concat,
    Length,
    Contains,
    StartsWith,
    CompareStr,
    Hour,
    DateOf,
    DayOfWeekDate,
    DayOfWeekTimestamp,
    DayDate,
    DayTimestamp,
    MonthDate,
    MonthTimestamp,
    YearDate,
    YearTimestamp,
    HashBucketStr,
    HashBucketInt,
    Bucketize,
}

impl Kernel {
    pub const ALL: [Kernel; 25] = [
        Kernel::Ln,
        Kernel::Log10,
        Kernel::Exp,
        Kernel::Round,
        Kernel::Pow,
        Kernel::Lower,
        Kernel::Upper,
        Kernel::Concat,
        Kernel::Length,
        Kernel::Contains,
        Kernel::StartsWith,
        Kernel::CompareStr,
        Kernel::Hour,
        Kernel::DateOf,
        Kernel::DayOfWeekDate,
        Kernel::DayOfWeekTimestamp,
        Kernel::DayDate,
        Kernel::DayTimestamp,
        Kernel::MonthDate,
        Kernel::MonthTimestamp,
        Kernel::YearDate,
        Kernel::YearTimestamp,
        Kernel::HashBucketStr,
        Kernel::HashBucketInt,
        Kernel::Bucketize,
    ];

    /// The symbol compiled code imports; prefixed so that it can never resolve to a C library
    /// function of the same name.
    pub fn symbol(self) -> String {
        format!("mlsys_kernel_{self:?}")
    }

    pub fn address(self) -> *const u8 {
        match self {
            Kernel::Ln => ln as *const u8,
            Kernel::Log10 => log10 as *const u8,
            Kernel::Exp => exp as *const u8,
            Kernel::Round => round as *const u8,
            Kernel::Pow => pow as *const u8,
            Kernel::Lower => lower as *const u8,
            Kernel::Upper => upper as *const u8,
            Kernel::Concat => concat as *const u8,
            Kernel::Length => length as *const u8,
            Kernel::Contains => contains as *const u8,
            Kernel::StartsWith => starts_with as *const u8,
            Kernel::CompareStr => compare_str as *const u8,
            Kernel::Hour => hour as *const u8,
            Kernel::DateOf => date_of as *const u8,
            Kernel::DayOfWeekDate => day_of_week_date as *const u8,
            Kernel::DayOfWeekTimestamp => day_of_week_timestamp as *const u8,
            Kernel::DayDate => day_date as *const u8,
            Kernel::DayTimestamp => day_timestamp as *const u8,
            Kernel::MonthDate => month_date as *const u8,
            Kernel::MonthTimestamp => month_timestamp as *const u8,
            Kernel::YearDate => year_date as *const u8,
            Kernel::YearTimestamp => year_timestamp as *const u8,
            Kernel::HashBucketStr => hash_bucket_str as *const u8,
            Kernel::HashBucketInt => hash_bucket_i64 as *const u8,
            Kernel::Bucketize => bucketize as *const u8,
        }
    }

    /// (parameters, results) of the shim.
    pub fn signature(self) -> (&'static [AbiType], &'static [AbiType]) {
        use AbiType::*;
        match self {
            Kernel::Ln | Kernel::Log10 | Kernel::Exp | Kernel::Round => (&[F64], &[F64]),
            Kernel::Pow => (&[F64, F64], &[F64]),
            Kernel::Lower | Kernel::Upper | Kernel::Concat => (&[I64, I64, I64, I64], &[]),
            Kernel::Length => (&[I64, I64], &[I64]),
            Kernel::Contains | Kernel::StartsWith => (&[I64, I64, I64, I64], &[I8]),
            Kernel::CompareStr => (&[I64, I64, I64, I64], &[I64]),
            Kernel::Hour | Kernel::DayOfWeekTimestamp | Kernel::DayTimestamp => (&[I64], &[I64]),
            Kernel::MonthTimestamp | Kernel::YearTimestamp => (&[I64], &[I64]),
            Kernel::DateOf => (&[I64], &[I32]),
            Kernel::DayOfWeekDate | Kernel::DayDate | Kernel::MonthDate | Kernel::YearDate => (&[I32], &[I64]),
            Kernel::HashBucketStr => (&[I64, I64, I64], &[I64]),
            Kernel::HashBucketInt => (&[I64, I64], &[I64]),
            Kernel::Bucketize => (&[F64, I64, I64], &[I64]),
        }
    }
}
