//! The canonical binary encoding of entity keys and records: what the stores keep as bytes.
//!
//! Both encodings start with a format version byte ([`FORMAT_VERSION`]) so a later format can be
//! told apart from this one. Values follow one after another until the end of the bytes, each as a
//! tag byte and a payload:
//!
//! | tag | value | payload |
//! | --- | --- | --- |
//! | 0 | null | none |
//! | 1, 2 | `false`, `true` | none |
//! | 3 | int64 | zigzag LEB128 varint |
//! | 4 | float64 | 8 bytes, little-endian IEEE bits (NaN canonicalised) |
//! | 5 | string | varint byte length, then the UTF-8 bytes |
//! | 6 | date | zigzag varint of the day number (fits `i32`) |
//! | 7, 8 | timestamp, duration | zigzag varint of the microseconds |
//!
//! A record puts its `valid_at` right after the version byte as 8 big-endian bytes of
//! `valid_at ^ i64::MIN` (the sign bit flipped): comparing those 8 bytes as unsigned bytes orders
//! records by `valid_at`, which is how the Redis script decides "newest wins" without parsing
//! numbers (Lua numbers are doubles and would round large `i64`s).
//!
//! Canonical means one encoding per value: NaNs are written as the canonical NaN (lang-spec/types.md:
//! every float leaving an engine is canonicalised), varints are minimal, and decoding refuses
//! anything that is not exactly the encoding of what it decodes to. So equal keys have equal bytes,
//! which is what a key-value store needs, and `encode(decode(bytes)) == bytes` whenever decoding
//! succeeds. Decoding never panics: corrupt bytes are a [`DecodeError`].

use std::sync::Arc;

use mlsys_kernels::Value;
use mlsys_kernels::value::canonical_bits;

/// The version byte both encodings start with.
pub const FORMAT_VERSION: u8 = 1;

/// Bytes before a record's values: the version byte and the order-preserving `valid_at`.
pub const RECORD_HEADER_LEN: usize = 9;

const TAG_NULL: u8 = 0;
const TAG_FALSE: u8 = 1;
const TAG_TRUE: u8 = 2;
const TAG_INT: u8 = 3;
const TAG_FLOAT: u8 = 4;
const TAG_STRING: u8 = 5;
const TAG_DATE: u8 = 6;
const TAG_TIMESTAMP: u8 = 7;
const TAG_DURATION: u8 = 8;

/// The longest LEB128 encoding of a `u64`.
const MAX_VARINT_LEN: usize = 10;

/// The key of one entity: one value per key column of the entity, in key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityKey {
    pub values: Vec<Value>,
}

impl EntityKey {
    pub fn new(values: Vec<Value>) -> EntityKey {
        EntityKey { values }
    }

    /// The canonical bytes of this key (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(1 + self.values.iter().map(encoded_len_hint).sum::<usize>());
        self.encode_into(&mut bytes);
        bytes
    }

    /// Appends the canonical bytes of this key (lets a caller reuse one buffer, or write a prefix
    /// first).
    pub fn encode_into(&self, bytes: &mut Vec<u8>) {
        bytes.push(FORMAT_VERSION);
        for value in &self.values {
            encode_value(value, bytes);
        }
    }

    /// The key whose canonical bytes these are.
    pub fn decode(bytes: &[u8]) -> Result<EntityKey, DecodeError> {
        let mut reader = Reader::new(bytes);
        reader.expect_version()?;
        Ok(EntityKey {
            values: reader.values()?,
        })
    }
}

impl From<Vec<Value>> for EntityKey {
    fn from(values: Vec<Value>) -> EntityKey {
        EntityKey { values }
    }
}

/// The feature values of one entity and the time they are valid for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Microseconds since the epoch: the time these values are valid for. A store keeps, per key,
    /// the record with the greatest `valid_at` it was given.
    pub valid_at: i64,
    /// One value per feature of the table, in the table's feature order.
    pub values: Vec<Value>,
}

impl Record {
    pub fn new(valid_at: i64, values: Vec<Value>) -> Record {
        Record { valid_at, values }
    }

    /// The canonical bytes of this record (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let values_len = self.values.iter().map(encoded_len_hint).sum::<usize>();
        let mut bytes = Vec::with_capacity(RECORD_HEADER_LEN + values_len);
        bytes.push(FORMAT_VERSION);
        bytes.extend_from_slice(&ordered_valid_at(self.valid_at));
        for value in &self.values {
            encode_value(value, &mut bytes);
        }
        bytes
    }

    /// The record whose canonical bytes these are.
    pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
        let valid_at = record_valid_at(bytes)?;
        let mut reader = Reader {
            bytes,
            position: RECORD_HEADER_LEN,
        };
        Ok(Record {
            valid_at,
            values: reader.values()?,
        })
    }
}

/// The `valid_at` of an encoded record, read from its header alone (the write path compares it
/// without decoding the values).
pub fn record_valid_at(bytes: &[u8]) -> Result<i64, DecodeError> {
    let mut reader = Reader::new(bytes);
    reader.expect_version()?;
    let header = reader.take(8, "the record's valid_at")?;
    let mut ordered = [0u8; 8];
    ordered.copy_from_slice(header);
    Ok((u64::from_be_bytes(ordered) ^ (1 << 63)) as i64)
}

/// `valid_at` as 8 bytes whose unsigned lexicographic order is the signed order of the values.
fn ordered_valid_at(valid_at: i64) -> [u8; 8] {
    ((valid_at as u64) ^ (1 << 63)).to_be_bytes()
}

/// Why bytes are not a valid encoding; `offset` is where the problem was found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid encoding at byte {offset}: {reason}")]
pub struct DecodeError {
    pub offset: usize,
    pub reason: String,
}

/// A close upper bound of a value's encoded size, so encoding allocates once.
fn encoded_len_hint(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 1,
        Value::Float(_) => 9,
        Value::String(text) => 1 + MAX_VARINT_LEN + text.len(),
        Value::Int(_) | Value::Date(_) | Value::Timestamp(_) | Value::Duration(_) => 1 + MAX_VARINT_LEN,
    }
}

fn encode_value(value: &Value, bytes: &mut Vec<u8>) {
    match value {
        Value::Null => bytes.push(TAG_NULL),
        Value::Bool(false) => bytes.push(TAG_FALSE),
        Value::Bool(true) => bytes.push(TAG_TRUE),
        Value::Int(number) => {
            bytes.push(TAG_INT);
            push_varint(zigzag(*number), bytes);
        }
        Value::Float(number) => {
            bytes.push(TAG_FLOAT);
            bytes.extend_from_slice(&canonical_bits(*number).to_le_bytes());
        }
        Value::String(text) => {
            bytes.push(TAG_STRING);
            push_varint(text.len() as u64, bytes);
            bytes.extend_from_slice(text.as_bytes());
        }
        Value::Date(days) => {
            bytes.push(TAG_DATE);
            push_varint(zigzag(i64::from(*days)), bytes);
        }
        Value::Timestamp(micros) => {
            bytes.push(TAG_TIMESTAMP);
            push_varint(zigzag(*micros), bytes);
        }
        Value::Duration(micros) => {
            bytes.push(TAG_DURATION);
            push_varint(zigzag(*micros), bytes);
        }
    }
}

/// Small magnitudes of either sign become small unsigned numbers (short varints).
fn zigzag(number: i64) -> u64 {
    ((number << 1) ^ (number >> 63)) as u64
}

fn unzigzag(encoded: u64) -> i64 {
    ((encoded >> 1) as i64) ^ -((encoded & 1) as i64)
}

fn push_varint(mut number: u64, bytes: &mut Vec<u8>) {
    while number >= 0x80 {
        bytes.push((number as u8) | 0x80);
        number >>= 7;
    }
    bytes.push(number as u8);
}

/// A cursor over bytes being decoded; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, position: 0 }
    }

    fn error(&self, offset: usize, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            offset,
            reason: reason.into(),
        }
    }

    fn is_at_end(&self) -> bool {
        self.position >= self.bytes.len()
    }

    fn byte(&mut self, what: &str) -> Result<u8, DecodeError> {
        let byte = self
            .bytes
            .get(self.position)
            .copied()
            .ok_or_else(|| self.error(self.position, format!("the bytes end before {what}")))?;
        self.position += 1;
        Ok(byte)
    }

    fn take(&mut self, length: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let end = self
            .position
            .checked_add(length)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| {
                self.error(
                    self.position,
                    format!(
                        "{what} needs {length} bytes but only {} remain",
                        self.bytes.len().saturating_sub(self.position)
                    ),
                )
            })?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    fn expect_version(&mut self) -> Result<(), DecodeError> {
        let version = self.byte("the format version")?;
        if version != FORMAT_VERSION {
            return Err(self.error(
                0,
                format!("unknown format version {version} (this build reads {FORMAT_VERSION})"),
            ));
        }
        Ok(())
    }

    /// A minimal LEB128 `u64`: no trailing zero groups, no bits beyond 64.
    fn varint(&mut self, what: &str) -> Result<u64, DecodeError> {
        let start = self.position;
        let mut number = 0u64;
        for index in 0..MAX_VARINT_LEN {
            let byte = self.byte(what)?;
            let group = u64::from(byte & 0x7F);
            if index == MAX_VARINT_LEN - 1 && group > 1 {
                return Err(self.error(start, format!("{what} does not fit in 64 bits")));
            }
            number |= group << (7 * index);
            if byte & 0x80 == 0 {
                if byte == 0 && index > 0 {
                    return Err(self.error(start, format!("{what} is not minimally encoded")));
                }
                return Ok(number);
            }
        }
        Err(self.error(start, format!("{what} is longer than {MAX_VARINT_LEN} bytes")))
    }

    fn values(&mut self) -> Result<Vec<Value>, DecodeError> {
        let mut values = Vec::new();
        while !self.is_at_end() {
            values.push(self.value()?);
        }
        Ok(values)
    }

    fn value(&mut self) -> Result<Value, DecodeError> {
        let tag_offset = self.position;
        Ok(match self.byte("a value tag")? {
            TAG_NULL => Value::Null,
            TAG_FALSE => Value::Bool(false),
            TAG_TRUE => Value::Bool(true),
            TAG_INT => Value::Int(unzigzag(self.varint("an int64")?)),
            TAG_FLOAT => {
                let payload_offset = self.position;
                let mut bits = [0u8; 8];
                bits.copy_from_slice(self.take(8, "a float64")?);
                let number = f64::from_le_bytes(bits);
                if canonical_bits(number) != number.to_bits() {
                    return Err(self.error(payload_offset, "a NaN that is not the canonical NaN"));
                }
                Value::Float(number)
            }
            TAG_STRING => {
                let length_offset = self.position;
                let length = self.varint("a string length")?;
                let length = usize::try_from(length)
                    .map_err(|_| self.error(length_offset, format!("string length {length} is too large")))?;
                let text_offset = self.position;
                let text = std::str::from_utf8(self.take(length, "a string")?)
                    .map_err(|error| self.error(text_offset, format!("a string that is not UTF-8 ({error})")))?;
                Value::String(Arc::from(text))
            }
            TAG_DATE => {
                let payload_offset = self.position;
                let days = unzigzag(self.varint("a date")?);
                let days = i32::try_from(days)
                    .map_err(|_| self.error(payload_offset, format!("date {days} is out of the int32 day range")))?;
                Value::Date(days)
            }
            TAG_TIMESTAMP => Value::Timestamp(unzigzag(self.varint("a timestamp")?)),
            TAG_DURATION => Value::Duration(unzigzag(self.varint("a duration")?)),
            unknown => return Err(self.error(tag_offset, format!("unknown value tag {unknown}"))),
        })
    }
}
