//! The protocol's tensor datatypes and which of them each field type accepts.

use mlsys_compiler::types::BaseType;

/// A tensor datatype this codec reads (FP16, BF16 and others are refused as unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datatype {
    Bool,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Int8,
    Int16,
    Int32,
    Int64,
    Fp32,
    Fp64,
    Bytes,
}

impl Datatype {
    const ALL: [Datatype; 12] = [
        Datatype::Bool,
        Datatype::Uint8,
        Datatype::Uint16,
        Datatype::Uint32,
        Datatype::Uint64,
        Datatype::Int8,
        Datatype::Int16,
        Datatype::Int32,
        Datatype::Int64,
        Datatype::Fp32,
        Datatype::Fp64,
        Datatype::Bytes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Datatype::Bool => "BOOL",
            Datatype::Uint8 => "UINT8",
            Datatype::Uint16 => "UINT16",
            Datatype::Uint32 => "UINT32",
            Datatype::Uint64 => "UINT64",
            Datatype::Int8 => "INT8",
            Datatype::Int16 => "INT16",
            Datatype::Int32 => "INT32",
            Datatype::Int64 => "INT64",
            Datatype::Fp32 => "FP32",
            Datatype::Fp64 => "FP64",
            Datatype::Bytes => "BYTES",
        }
    }

    /// The datatype named `name` (the protocol's names are upper case).
    pub fn parse(name: &str) -> Option<Datatype> {
        Datatype::ALL.into_iter().find(|datatype| datatype.name() == name)
    }

    /// The datatypes a field of type `base` accepts, the one metadata announces first.
    pub fn accepted(base: BaseType) -> &'static [Datatype] {
        use Datatype::*;
        match base {
            BaseType::Bool => &[Bool],
            BaseType::Int64 => &[Int64, Int32, Int16, Int8, Uint64, Uint32, Uint16, Uint8],
            BaseType::Float64 => &[Fp64, Fp32],
            BaseType::String => &[Bytes],
            BaseType::Date => &[Bytes, Int32],
            BaseType::Timestamp => &[Bytes, Int64],
            BaseType::Duration => &[Int64, Bytes],
        }
    }

    /// The datatype model metadata announces for a field of type `base`.
    pub fn announced(base: BaseType) -> Datatype {
        Datatype::accepted(base)[0]
    }

    /// Bytes per element in binary data; `None` for BYTES, whose elements carry their length.
    pub(super) fn width(self) -> Option<usize> {
        match self {
            Datatype::Bool | Datatype::Uint8 | Datatype::Int8 => Some(1),
            Datatype::Uint16 | Datatype::Int16 => Some(2),
            Datatype::Uint32 | Datatype::Int32 | Datatype::Fp32 => Some(4),
            Datatype::Uint64 | Datatype::Int64 | Datatype::Fp64 => Some(8),
            Datatype::Bytes => None,
        }
    }

    /// The range of an integer datatype, as `i64` (UINT64 above `i64::MAX` is out of range of
    /// every field type).
    pub(super) fn integer_range(self) -> Option<(i64, i64)> {
        match self {
            Datatype::Uint8 => Some((0, u8::MAX.into())),
            Datatype::Uint16 => Some((0, u16::MAX.into())),
            Datatype::Uint32 => Some((0, u32::MAX.into())),
            Datatype::Uint64 => Some((0, i64::MAX)),
            Datatype::Int8 => Some((i8::MIN.into(), i8::MAX.into())),
            Datatype::Int16 => Some((i16::MIN.into(), i16::MAX.into())),
            Datatype::Int32 => Some((i32::MIN.into(), i32::MAX.into())),
            Datatype::Int64 => Some((i64::MIN, i64::MAX)),
            Datatype::Bool | Datatype::Fp32 | Datatype::Fp64 | Datatype::Bytes => None,
        }
    }
}

impl std::fmt::Display for Datatype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The accepted datatypes of `base` as text for messages: "INT64, INT32 or UINT8".
pub(super) fn accepted_list(base: BaseType) -> String {
    let names: Vec<&str> = Datatype::accepted(base)
        .iter()
        .map(|datatype| datatype.name())
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}
