//! The native calling conventions of a compiled feature set and of a compiled model.
//!
//! The function is `extern "C" fn(inputs: *const RawSlot, outputs: *mut RawSlot, arena: *mut
//! StringArena)`: it reads one [`RawSlot`] per input slot, writes one per requested feature, and
//! keeps the strings kernels produce in the arena. It returns nothing: every operator and builtin
//! is total (lang-spec/types.md section 6), and whatever the interpreter would refuse is refused at
//! compile time.

use crate::kernels::StringArena;

/// One value at the boundary: `bits` holds a bool (0 or 1), an int64, a timestamp or a duration,
/// a date (sign-extended), a float64's bits (NaN canonicalised on output), or a string's pointer;
/// `len` a string's length in bytes. A null value has `is_null == 1`, and for strings `len == 0`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawSlot {
    pub bits: u64,
    pub len: u64,
    pub is_null: u8,
}

impl RawSlot {
    pub const NULL: RawSlot = RawSlot {
        bits: 0,
        len: 0,
        is_null: 1,
    };
}

pub(crate) const SLOT_SIZE: usize = std::mem::size_of::<RawSlot>();
pub(crate) const BITS_OFFSET: i32 = std::mem::offset_of!(RawSlot, bits) as i32;
pub(crate) const LEN_OFFSET: i32 = std::mem::offset_of!(RawSlot, len) as i32;
pub(crate) const NULL_OFFSET: i32 = std::mem::offset_of!(RawSlot, is_null) as i32;

/// The compiled function's type.
pub(crate) type RowFunction = unsafe extern "C" fn(*const RawSlot, *mut RawSlot, *mut StringArena);

/// A compiled block of trees: `score` plus each tree's leaf for the row of float64 inputs `row`
/// points to, added in tree order (see `model`: it reads the row's first `width` values, and
/// nothing else).
pub(crate) type ModelFunction = unsafe extern "C" fn(row: *const f64, score: f64) -> f64;
