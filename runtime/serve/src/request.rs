//! The body of `POST /get-online-features` (Feast's request shape) and its entity columns decoded
//! to typed values, with 400 messages naming the field, the row and the expected type.

use mlsys_kernels::Value;
use serde::Deserialize;
use serde_json::{Map, Value as Json};

use crate::error::ServeError;
use crate::feature_set::Field;
use crate::wire::{decode_value, describe};

/// Longest feature reference or service name accepted: error messages quote them.
pub const MAX_NAME_BYTES: usize = 256;

/// Feast's `GetOnlineFeaturesRequest`. Unknown keys (`include_feature_view_version_metadata`,
/// ...) are ignored, as Feast's server does.
#[derive(Debug, Default, Deserialize)]
pub struct RequestBody {
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub feature_service: Option<String>,
    #[serde(default)]
    pub entities: Map<String, Json>,
    /// Older Feast clients send request-time fields here, apart from the entity keys.
    #[serde(default)]
    pub request_context: Map<String, Json>,
    #[serde(default)]
    pub full_feature_names: bool,
}

/// What the client asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Selection<'a> {
    Features(&'a [String]),
    Service(&'a str),
}

impl RequestBody {
    pub fn parse(bytes: &[u8]) -> Result<RequestBody, ServeError> {
        serde_json::from_slice(bytes)
            .map_err(|error| ServeError::bad_request(format!("malformed request body: {error}")))
    }

    pub fn selection(&self) -> Result<Selection<'_>, ServeError> {
        match (&self.feature_service, self.features.is_empty()) {
            (Some(_), false) => Err(ServeError::bad_request(
                "give either `features` or `feature_service`, not both",
            )),
            (Some(service), true) => {
                check_name_length(service)?;
                Ok(Selection::Service(service))
            }
            (None, false) => {
                for reference in &self.features {
                    check_name_length(reference)?;
                }
                Ok(Selection::Features(&self.features))
            }
            (None, true) => Err(ServeError::bad_request(
                "no features requested: give `features` (e.g. [\"user_activity@v1:txn_count_7d\"]) or `feature_service` (a model name)",
            )),
        }
    }

    /// The number of rows: every column of `entities` and `request_context` must have it.
    pub fn row_count(&self, max_rows: usize) -> Result<usize, ServeError> {
        let mut rows: Option<(&str, usize)> = None;
        for (name, column) in self.entities.iter().chain(self.request_context.iter()) {
            let Json::Array(values) = column else {
                return Err(ServeError::bad_request(format!(
                    "entity field `{}`: expected an array with one value per row, got {}",
                    cut(name),
                    describe(column)
                )));
            };
            match rows {
                None => rows = Some((name, values.len())),
                Some((first, count)) if count != values.len() => {
                    return Err(ServeError::bad_request(format!(
                        "entity fields have different lengths: `{}` has {count} values, `{}` has {}",
                        cut(first),
                        cut(name),
                        values.len()
                    )));
                }
                Some(_) => {}
            }
        }
        let rows = rows.map_or(0, |(_, count)| count);
        if rows > max_rows {
            return Err(ServeError::bad_request(format!(
                "{rows} rows in one request; at most {max_rows} are accepted"
            )));
        }
        Ok(rows)
    }

    fn column(&self, name: &str) -> Option<&[Json]> {
        match self.entities.get(name).or_else(|| self.request_context.get(name)) {
            Some(Json::Array(values)) => Some(values),
            _ => None,
        }
    }

    /// The typed values of `field` for `rows` rows; `now` fills a timestamp column left out.
    pub fn decode_field(&self, field: &Field, rows: usize, now: i64) -> Result<Vec<Value>, ServeError> {
        let Some(cells) = self.column(&field.name) else {
            if field.defaults_to_now {
                return Ok(vec![Value::Timestamp(now); rows]);
            }
            return Err(ServeError::bad_request(format!(
                "missing request field `{}` of type {}{}, read by {}: add it to `entities`",
                field.name,
                field.ty.base.name(),
                if field.ty.nullable { "?" } else { "" },
                field.read_by
            )));
        };
        cells
            .iter()
            .enumerate()
            .map(|(row, cell)| {
                decode_value(cell, field.ty).map_err(|problem| {
                    ServeError::bad_request(format!("request field `{}`, row {row}: {problem}", field.name))
                })
            })
            .collect()
    }
}

fn check_name_length(name: &str) -> Result<(), ServeError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(ServeError::bad_request(format!(
            "a feature reference or service name of {} bytes; at most {MAX_NAME_BYTES} are accepted",
            name.len()
        )));
    }
    Ok(())
}

/// A client-chosen name, cut for an error message.
fn cut(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_string();
    }
    let mut end = MAX_NAME_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &name[..end])
}
