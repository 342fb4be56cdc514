//! Aggregate accumulators (lang-spec/builtins.md section 3, windows.md section 5): the tile state of
//! every aggregate, with `update`, an exact `merge`, and `finish`. Every aggregate is independent of
//! the order and grouping of its inputs, bit for bit (NaNs are canonicalised as they are stored).

use std::collections::BTreeSet;
use std::sync::Arc;

use mlsys_compiler::builtins::AggregateFunction;
use mlsys_compiler::types::BaseType;

use crate::exact_sum::ExactSum;
use crate::order::total_cmp;
use crate::value::{CANONICAL_NAN_BITS, Value};

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AggregateError {
    #[error("`{}` does not apply to {}", function.name(), argument.map_or("no argument", BaseType::name))]
    Unsupported {
        function: AggregateFunction,
        argument: Option<BaseType>,
    },
    #[error("an aggregate over {} received a value of type {}", expected.name(), found.name())]
    TypeMismatch { expected: BaseType, found: BaseType },
    #[error("cannot merge a `{}` accumulator into a `{}` one", other.name(), this.name())]
    MergeMismatch {
        this: AggregateFunction,
        other: AggregateFunction,
    },
    #[error("window {window}us every {resolution}us is not a positive multiple of a positive resolution")]
    InvalidWindow { window: i64, resolution: i64 },
}

/// The state of one aggregate over a set of events (one tile, one partition, or a whole window).
#[derive(Clone, Debug)]
pub struct Accumulator {
    function: AggregateFunction,
    /// The argument's type; `None` for `count()`.
    argument: Option<BaseType>,
    state: State,
}

#[derive(Clone, Debug)]
enum State {
    /// `count()` (every event) and `count(x)` (non-null inputs).
    Count(i64),
    /// `sum(int64)`: the wrapping sum.
    SumInt(Counted<i64>),
    /// `sum(float64)` and `avg(float64)`: the exact real sum.
    SumFloat(Counted<Box<ExactSum>>),
    /// `avg(int64)`: the exact integer sum (i128 holds 2^64 inputs of magnitude 2^63).
    AvgInt(Counted<i128>),
    /// `min`/`max`: the extreme non-null input so far.
    Extreme(Option<Value>),
    /// The greatest (timestamp, value) pair in lexicographic order, values in the total order.
    Last(Option<(i64, Value)>),
    Distinct(BTreeSet<DistinctKey>),
}

/// A sum and the number of non-null inputs in it (the result is null when there are none).
#[derive(Clone, Debug, Default)]
struct Counted<S> {
    sum: S,
    count: i64,
}

impl Accumulator {
    /// An empty accumulator for `function` over an argument of type `argument` (`None`: `count()`).
    pub fn new(function: AggregateFunction, argument: Option<BaseType>) -> Result<Accumulator, AggregateError> {
        let unsupported = AggregateError::Unsupported { function, argument };
        let state = match (function, argument) {
            (AggregateFunction::Count, _) => State::Count(0),
            (_, None) => return Err(unsupported),
            (AggregateFunction::Sum, Some(BaseType::Int64)) => State::SumInt(Counted::default()),
            (AggregateFunction::Avg, Some(BaseType::Int64)) => State::AvgInt(Counted::default()),
            (AggregateFunction::Sum | AggregateFunction::Avg, Some(BaseType::Float64)) => {
                State::SumFloat(Counted::default())
            }
            (AggregateFunction::Sum | AggregateFunction::Avg, Some(_)) => return Err(unsupported),
            (AggregateFunction::Min | AggregateFunction::Max, Some(base)) if base.is_orderable() => {
                State::Extreme(None)
            }
            (AggregateFunction::Min | AggregateFunction::Max, Some(_)) => return Err(unsupported),
            (AggregateFunction::Last, Some(_)) => State::Last(None),
            (AggregateFunction::CountDistinct, Some(_)) => State::Distinct(BTreeSet::new()),
        };
        Ok(Accumulator {
            function,
            argument,
            state,
        })
    }

    pub fn function(&self) -> AggregateFunction {
        self.function
    }

    /// Adds one event: its argument value (ignored by `count()`) and its timestamp (used by `last`).
    /// Null inputs are ignored except by `count()`, which counts every event.
    pub fn update(&mut self, value: &Value, timestamp: i64) -> Result<(), AggregateError> {
        let Some(expected) = self.argument else {
            if let State::Count(count) = &mut self.state {
                *count = count.saturating_add(1);
            }
            return Ok(());
        };
        let Some(found) = value.base_type() else {
            return Ok(());
        };
        if found != expected {
            return Err(AggregateError::TypeMismatch { expected, found });
        }
        // NaN payloads are unobservable (types.md); canonicalising them here makes the state itself,
        // not only the output, independent of which NaN arrived first.
        let value = value.clone().canonical();
        match (&mut self.state, &value) {
            (State::Count(count), _) => *count = count.saturating_add(1),
            (State::SumInt(state), Value::Int(x)) => {
                state.sum = state.sum.wrapping_add(*x);
                state.count = state.count.saturating_add(1);
            }
            (State::SumFloat(state), Value::Float(x)) => {
                state.sum.add(*x);
                state.count = state.count.saturating_add(1);
            }
            (State::AvgInt(state), Value::Int(x)) => {
                state.sum = state.sum.wrapping_add(i128::from(*x));
                state.count = state.count.saturating_add(1);
            }
            (State::Extreme(current), _) => {
                if current
                    .as_ref()
                    .is_none_or(|current| beats(self.function, &value, current))
                {
                    *current = Some(value);
                }
            }
            (State::Last(current), _) => offer_last(current, timestamp, value),
            (State::Distinct(set), _) => {
                if let Some(key) = DistinctKey::of(&value) {
                    set.insert(key);
                }
            }
            // `new` pairs every numeric state with its numeric type, checked above.
            _ => return Err(AggregateError::TypeMismatch { expected, found }),
        }
        Ok(())
    }

    /// Merges the state of the same aggregate over other events (another tile or partition).
    pub fn merge(&mut self, other: &Accumulator) -> Result<(), AggregateError> {
        let mismatch = AggregateError::MergeMismatch {
            this: self.function,
            other: other.function,
        };
        if self.function != other.function || self.argument != other.argument {
            return Err(mismatch);
        }
        match (&mut self.state, &other.state) {
            (State::Count(count), State::Count(other)) => *count = count.saturating_add(*other),
            (State::SumInt(state), State::SumInt(other)) => {
                state.sum = state.sum.wrapping_add(other.sum);
                state.count = state.count.saturating_add(other.count);
            }
            (State::SumFloat(state), State::SumFloat(other)) => {
                state.sum.merge(&other.sum);
                state.count = state.count.saturating_add(other.count);
            }
            (State::AvgInt(state), State::AvgInt(other)) => {
                state.sum = state.sum.wrapping_add(other.sum);
                state.count = state.count.saturating_add(other.count);
            }
            (State::Extreme(current), State::Extreme(Some(other))) => {
                if current
                    .as_ref()
                    .is_none_or(|current| beats(self.function, other, current))
                {
                    *current = Some(other.clone());
                }
            }
            (State::Extreme(_), State::Extreme(None)) | (State::Last(_), State::Last(None)) => {}
            (State::Last(current), State::Last(Some((timestamp, value)))) => {
                offer_last(current, *timestamp, value.clone());
            }
            (State::Distinct(set), State::Distinct(other)) => set.extend(other.iter().cloned()),
            _ => return Err(mismatch),
        }
        Ok(())
    }

    /// The aggregate's value: `count` and `count_distinct` give 0 on no input, the others null.
    pub fn finish(&self) -> Value {
        match &self.state {
            State::Count(count) => Value::Int(*count),
            State::SumInt(Counted { count: 0, .. })
            | State::SumFloat(Counted { count: 0, .. })
            | State::AvgInt(Counted { count: 0, .. }) => Value::Null,
            State::SumInt(state) => Value::Int(state.sum),
            State::SumFloat(state) => {
                let total = state.sum.round();
                if self.function == AggregateFunction::Avg {
                    // The exact sum rounded once, then one IEEE division by the count.
                    Value::Float(total / state.count as f64)
                } else {
                    Value::Float(total)
                }
            }
            // i128 → f64 and i64 → f64 round to nearest, ties to even.
            State::AvgInt(state) => Value::Float(state.sum as f64 / state.count as f64),
            State::Extreme(value) => value.clone().unwrap_or(Value::Null),
            State::Last(last) => last.as_ref().map_or(Value::Null, |(_, value)| value.clone()),
            State::Distinct(set) => Value::Int(i64::try_from(set.len()).unwrap_or(i64::MAX)),
        }
    }
}

/// Whether `candidate` replaces `current` as the `min` (or `max`) in the total order. Equal values
/// in the total order are bit-identical once NaNs are canonicalised, so keeping either is the same.
fn beats(function: AggregateFunction, candidate: &Value, current: &Value) -> bool {
    let wanted = if function == AggregateFunction::Min {
        std::cmp::Ordering::Less
    } else {
        std::cmp::Ordering::Greater
    };
    total_cmp(candidate, current) == Some(wanted)
}

/// Keeps the greater of the current and the offered (timestamp, value) pair.
fn offer_last(current: &mut Option<(i64, Value)>, timestamp: i64, value: Value) {
    let replace = match current {
        None => true,
        Some((current_timestamp, current_value)) => {
            timestamp > *current_timestamp
                || (timestamp == *current_timestamp
                    && total_cmp(&value, current_value) == Some(std::cmp::Ordering::Greater))
        }
    };
    if replace {
        *current = Some((timestamp, value));
    }
}

/// A value under `count_distinct`'s equality: `-0.0` equals `0.0`, every NaN equals every NaN,
/// strings by bytes, other types by value.
///
/// Spec decision: builtins.md section 2 lists `count_distinct` among the users of the total order,
/// which tells `-0.0` from `0.0`; section 3 and the edge-case table say they are equal. The explicit
/// rule wins: `count_distinct([0.0, -0.0, NaN, NaN, null])` is 2.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DistinctKey {
    Bool(bool),
    Int(i64),
    /// Canonical bits: `-0.0` stored as `0.0`, NaN as the canonical NaN.
    Float(u64),
    String(Arc<str>),
    Date(i32),
    Timestamp(i64),
    Duration(i64),
}

impl DistinctKey {
    /// The value this is the key of (`-0.0` and NaNs as their canonical forms).
    pub fn to_value(&self) -> Value {
        match self {
            DistinctKey::Bool(flag) => Value::Bool(*flag),
            DistinctKey::Int(integer) => Value::Int(*integer),
            DistinctKey::Float(bits) => Value::Float(f64::from_bits(*bits)),
            DistinctKey::String(text) => Value::String(text.clone()),
            DistinctKey::Date(days) => Value::Date(*days),
            DistinctKey::Timestamp(micros) => Value::Timestamp(*micros),
            DistinctKey::Duration(micros) => Value::Duration(*micros),
        }
    }

    /// The key of a non-null value.
    pub fn of(value: &Value) -> Option<DistinctKey> {
        Some(match value {
            Value::Null => return None,
            Value::Bool(value) => DistinctKey::Bool(*value),
            Value::Int(value) => DistinctKey::Int(*value),
            Value::Float(value) if value.is_nan() => DistinctKey::Float(CANONICAL_NAN_BITS),
            Value::Float(value) if *value == 0.0 => DistinctKey::Float(0),
            Value::Float(value) => DistinctKey::Float(value.to_bits()),
            Value::String(value) => DistinctKey::String(value.clone()),
            Value::Date(value) => DistinctKey::Date(*value),
            Value::Timestamp(value) => DistinctKey::Timestamp(*value),
            Value::Duration(value) => DistinctKey::Duration(*value),
        })
    }
}
