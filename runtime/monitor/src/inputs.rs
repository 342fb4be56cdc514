//! A prediction log's `features` text (a JSON object of input name → number) read straight into a
//! row of the inputs a monitor watches: only the known names are looked up, nothing else is kept.

use std::collections::HashMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The inputs a monitor reads from each row's `features`, by position.
#[derive(Clone, Debug)]
pub struct InputNames {
    positions: HashMap<String, usize>,
}

impl InputNames {
    pub fn new(names: &[String]) -> InputNames {
        let positions = names
            .iter()
            .enumerate()
            .rev()
            .map(|(position, name)| (name.clone(), position))
            .collect();
        InputNames { positions }
    }

    /// Each input's number in `text` into `row` (its length the number of names): NaN for an
    /// input missing, null or not a number; the last of a name given twice counts. An error when
    /// `text` is not a JSON object.
    pub fn read(&self, text: &str, row: &mut [f64]) -> Result<(), serde_json::Error> {
        row.fill(f64::NAN);
        let mut deserializer = serde_json::Deserializer::from_str(text);
        deserializer.deserialize_map(Entries { names: self, row })?;
        deserializer.end()
    }
}

/// The object's entries, known ones written into the row.
struct Entries<'a> {
    names: &'a InputNames,
    row: &'a mut [f64],
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object of input name to number")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(position) = map.next_key_seed(Known(self.names))? {
            match position {
                Some(position) => self.row[position] = map.next_value::<Number>()?.0.unwrap_or(f64::NAN),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A key: the position of the input it names, if it names one.
struct Known<'a>(&'a InputNames);

impl<'de> DeserializeSeed<'de> for Known<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Known<'_> {
    type Value = Option<usize>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an input name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Option<usize>, E> {
        Ok(self.0.positions.get(name).copied())
    }
}

/// A value: its number, or none for anything else (null, text, a bool, an array, an object).
struct Number(Option<f64>);

impl<'de> serde::Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Number, D::Error> {
        deserializer.deserialize_any(NumberVisitor)
    }
}

struct NumberVisitor;

impl<'de> Visitor<'de> for NumberVisitor {
    type Value = Number;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_f64<E>(self, value: f64) -> Result<Number, E> {
        Ok(Number(Some(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Number, E> {
        Ok(Number(Some(value as f64)))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Number, E> {
        Ok(Number(Some(value as f64)))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Number, E> {
        Ok(Number(None))
    }

    fn visit_str<E>(self, _: &str) -> Result<Number, E> {
        Ok(Number(None))
    }

    fn visit_unit<E>(self) -> Result<Number, E> {
        Ok(Number(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Number, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Number(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Number, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Number(None))
    }
}
