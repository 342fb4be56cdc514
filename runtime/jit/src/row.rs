//! The reusable row buffer of the fast path: input slots the caller fills, output slots the
//! compiled function writes, and ownership of every string either side points to.
//!
//! Lifetime rule: an output string points into an input string of the row, a string literal of
//! the compiled feature set (the row shares ownership of them), or the row's arena of kernel
//! results. The arena is emptied and replaced input strings are released only when the next
//! evaluation starts, so outputs stay readable until then, even after `set`.
#![allow(unsafe_code)]

use std::sync::Arc;

use mlsys_compiler::types::BaseType;
use mlsys_kernels::Value;

use crate::abi::RawSlot;
use crate::compiled::Layout;
use crate::error::JitError;
use crate::kernels::StringArena;

/// Inputs and outputs of one evaluation; reuse it for the next row. Made by
/// [`crate::CompiledFeatures::new_row`] and usable only with the feature set that made it.
#[derive(Debug)]
pub struct Row {
    layout: Arc<Layout>,
    inputs: Vec<RawSlot>,
    input_strings: Vec<Option<Arc<str>>>,
    retired_strings: Vec<Arc<str>>,
    outputs: Vec<RawSlot>,
    arena: StringArena,
}

/// A result borrowed from a [`Row`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(&'a str),
    Date(i32),
    Timestamp(i64),
    Duration(i64),
}

impl ValueRef<'_> {
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(value) => Value::Bool(value),
            ValueRef::Int(value) => Value::Int(value),
            ValueRef::Float(value) => Value::Float(value),
            ValueRef::String(text) => Value::string(text),
            ValueRef::Date(days) => Value::Date(days),
            ValueRef::Timestamp(micros) => Value::Timestamp(micros),
            ValueRef::Duration(micros) => Value::Duration(micros),
        }
    }
}

impl Row {
    pub(crate) fn new(layout: Arc<Layout>) -> Row {
        Row {
            inputs: vec![RawSlot::NULL; layout.inputs.len()],
            input_strings: vec![None; layout.inputs.len()],
            retired_strings: Vec::new(),
            outputs: vec![RawSlot::NULL; layout.outputs.len()],
            arena: StringArena::default(),
            layout,
        }
    }

    pub(crate) fn layout(&self) -> &Arc<Layout> {
        &self.layout
    }

    /// Releases what the previous evaluation's outputs pointed to and hands out the raw buffers.
    pub(crate) fn prepare(&mut self) -> (*const RawSlot, *mut RawSlot, *mut StringArena) {
        self.arena.clear();
        self.retired_strings.clear();
        (self.inputs.as_ptr(), self.outputs.as_mut_ptr(), &mut self.arena)
    }

    pub fn input_count(&self) -> usize {
        self.inputs.len()
    }

    pub fn output_count(&self) -> usize {
        self.outputs.len()
    }

    /// Sets input slot `index` (see [`crate::CompiledFeatures::inputs`]) to `value`: null, or a
    /// value of the slot's type.
    pub fn set(&mut self, index: usize, value: &Value) -> Result<(), JitError> {
        let count = self.inputs.len();
        let slot = self
            .layout
            .inputs
            .get(index)
            .ok_or(JitError::SlotIndex { index, count })?;
        let expected = slot.ty().base;
        if let Some(found) = value.base_type()
            && found != expected
        {
            return Err(JitError::InputType { index, expected, found });
        }
        let (raw, text) = match value {
            Value::Null => (RawSlot::NULL, None),
            Value::Bool(value) => (scalar(u64::from(*value)), None),
            Value::Int(value) | Value::Timestamp(value) | Value::Duration(value) => (scalar(*value as u64), None),
            Value::Float(value) => (scalar(value.to_bits()), None),
            Value::Date(days) => (scalar(i64::from(*days) as u64), None),
            Value::String(text) => (
                RawSlot {
                    bits: text.as_ptr() as u64,
                    len: text.len() as u64,
                    is_null: 0,
                },
                Some(text.clone()),
            ),
        };
        self.inputs[index] = raw;
        // The previous evaluation's outputs may point into the replaced string: keep it alive
        // until the next evaluation starts.
        if let Some(replaced) = std::mem::replace(&mut self.input_strings[index], text) {
            self.retired_strings.push(replaced);
        }
        Ok(())
    }

    /// Sets every input slot, in order.
    pub fn set_all(&mut self, values: &[Value]) -> Result<(), JitError> {
        if values.len() != self.inputs.len() {
            return Err(JitError::InputCount {
                expected: self.inputs.len(),
                actual: values.len(),
            });
        }
        for (index, value) in values.iter().enumerate() {
            self.set(index, value)?;
        }
        Ok(())
    }

    /// Result `index` of the last evaluation (null before the first).
    pub fn output(&self, index: usize) -> Result<ValueRef<'_>, JitError> {
        let count = self.outputs.len();
        let (raw, base) = self
            .outputs
            .get(index)
            .zip(self.layout.output_types.get(index))
            .ok_or(JitError::SlotIndex { index, count })?;
        if raw.is_null != 0 {
            return Ok(ValueRef::Null);
        }
        Ok(match base {
            BaseType::Bool => ValueRef::Bool(raw.bits != 0),
            BaseType::Int64 => ValueRef::Int(raw.bits as i64),
            BaseType::Float64 => ValueRef::Float(f64::from_bits(raw.bits)),
            BaseType::Date => ValueRef::Date(raw.bits as i64 as i32),
            BaseType::Timestamp => ValueRef::Timestamp(raw.bits as i64),
            BaseType::Duration => ValueRef::Duration(raw.bits as i64),
            BaseType::String if raw.len == 0 => ValueRef::String(""),
            // SAFETY: a non-empty string output points to `len` bytes of UTF-8 that this row keeps
            // alive until its next evaluation (module docs), which needs `&mut self`.
            BaseType::String => ValueRef::String(unsafe {
                std::str::from_utf8_unchecked(std::slice::from_raw_parts(raw.bits as *const u8, raw.len as usize))
            }),
        })
    }

    /// Every result of the last evaluation as owned values.
    pub fn values(&self) -> Vec<Value> {
        (0..self.outputs.len())
            .map(|index| self.output(index).map_or(Value::Null, ValueRef::to_value))
            .collect()
    }
}

fn scalar(bits: u64) -> RawSlot {
    RawSlot {
        bits,
        len: 0,
        is_null: 0,
    }
}
