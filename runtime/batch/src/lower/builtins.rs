//! Builtins over Arrow arrays: math, `least`/`greatest`/`clamp`, strings and time, each calling the
//! `mlsys_kernels` function of lang-spec/builtins.md. Every builtin here is null when any argument is.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray};
use datafusion::arrow::compute::binary;
use datafusion::arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};
use datafusion::error::{DataFusionError, Result};
use mlsys_compiler::builtins::Builtin;
use mlsys_kernels::{math, operators, strings, time};

use crate::lower::arrays::{dates, floats, integers, retype, rows, strings as string_array, unsupported};

pub fn evaluate(builtin: Builtin, arguments: &[ArrayRef], return_type: &DataType) -> Result<ArrayRef> {
    let float_math = |kernel: fn(f64) -> f64| -> Result<ArrayRef> {
        let [x] = arguments else {
            return Err(unsupported(&builtin, arguments));
        };
        Ok(Arc::new(floats(x)?.unary::<_, Float64Type>(kernel)))
    };
    match builtin {
        Builtin::Ln
        | Builtin::Log10
        | Builtin::Exp
        | Builtin::Sqrt
        | Builtin::Round
        | Builtin::Floor
        | Builtin::Ceil => math::float_unary(builtin).map_or_else(|| Err(unsupported(&builtin, arguments)), float_math),
        Builtin::Abs => match arguments {
            [x] if *x.data_type() == DataType::Float64 => float_math(math::abs_f64),
            [x] if *x.data_type() == DataType::Int64 => Ok(Arc::new(integers(x)?.unary::<_, Int64Type>(math::abs_i64))),
            _ => Err(unsupported(&builtin, arguments)),
        },
        Builtin::Pow => {
            let [x, y] = arguments else {
                return Err(unsupported(&builtin, arguments));
            };
            let result: Float64Array = binary(floats(x)?, floats(y)?, math::pow)?;
            Ok(Arc::new(result))
        }
        Builtin::Clamp => clamp(arguments),
        Builtin::Least => extreme(builtin, arguments, Ordering::Less, return_type),
        Builtin::Greatest => extreme(builtin, arguments, Ordering::Greater, return_type),
        Builtin::Lower | Builtin::Upper => {
            let [text] = arguments else {
                return Err(unsupported(&builtin, arguments));
            };
            let kernel = if builtin == Builtin::Lower {
                strings::lower
            } else {
                strings::upper
            };
            let result: StringArray = string_array(text)?.iter().map(|text| text.map(kernel)).collect();
            Ok(Arc::new(result))
        }
        Builtin::Length => {
            let [text] = arguments else {
                return Err(unsupported(&builtin, arguments));
            };
            let result: Int64Array = string_array(text)?
                .iter()
                .map(|text| text.map(strings::length))
                .collect();
            Ok(Arc::new(result))
        }
        Builtin::Contains | Builtin::StartsWith => {
            let [text, part] = arguments else {
                return Err(unsupported(&builtin, arguments));
            };
            let kernel = if builtin == Builtin::Contains {
                strings::contains
            } else {
                strings::starts_with
            };
            let (text, part) = (string_array(text)?, string_array(part)?);
            let result: BooleanArray = rows(&[text as &dyn Array, part])
                .map(|row| row.map(|row| kernel(text.value(row), part.value(row))))
                .collect();
            Ok(Arc::new(result))
        }
        Builtin::Concat => concat(arguments),
        Builtin::Hour => {
            let [t] = arguments else {
                return Err(unsupported(&builtin, arguments));
            };
            Ok(Arc::new(integers(t)?.unary::<_, Int64Type>(time::hour)))
        }
        Builtin::DateOf => {
            let [t] = arguments else {
                return Err(unsupported(&builtin, arguments));
            };
            Ok(Arc::new(integers(t)?.unary::<_, Date32Type>(time::date_of)))
        }
        Builtin::DayOfWeek => date_part(builtin, arguments, time::day_of_week_date, time::day_of_week_timestamp),
        Builtin::Day => date_part(builtin, arguments, time::day_date, time::day_timestamp),
        Builtin::Month => date_part(builtin, arguments, time::month_date, time::month_timestamp),
        Builtin::Year => date_part(builtin, arguments, time::year_date, time::year_timestamp),
        // Lowered natively (`coalesce`, `is_null`) or with their constants (`hash_bucket`, `bucketize`).
        Builtin::Coalesce | Builtin::IsNull | Builtin::HashBucket | Builtin::Bucketize => {
            Err(unsupported(&builtin, arguments))
        }
    }
}

fn date_part(
    builtin: Builtin,
    arguments: &[ArrayRef],
    of_date: fn(i32) -> i64,
    of_timestamp: fn(i64) -> i64,
) -> Result<ArrayRef> {
    let [d] = arguments else {
        return Err(unsupported(&builtin, arguments));
    };
    Ok(Arc::new(match d.data_type() {
        DataType::Date32 => dates(d)?.unary::<_, Int64Type>(of_date),
        _ => integers(d)?.unary::<_, Int64Type>(of_timestamp),
    }))
}

fn clamp(arguments: &[ArrayRef]) -> Result<ArrayRef> {
    let [x, lo, hi] = arguments else {
        return Err(unsupported(&Builtin::Clamp, arguments));
    };
    if *x.data_type() == DataType::Int64 {
        let (x, lo, hi) = (integers(x)?, integers(lo)?, integers(hi)?);
        let result: Int64Array = rows(&[&x as &dyn Array, &lo, &hi])
            .map(|row| row.map(|row| math::clamp_i64(x.value(row), lo.value(row), hi.value(row))))
            .collect();
        return Ok(Arc::new(result));
    }
    let (x, lo, hi) = (floats(x)?, floats(lo)?, floats(hi)?);
    let result: Float64Array = rows(&[x as &dyn Array, lo, hi])
        .map(|row| row.map(|row| math::clamp_f64(x.value(row), lo.value(row), hi.value(row))))
        .collect();
    Ok(Arc::new(result))
}

fn concat(arguments: &[ArrayRef]) -> Result<ArrayRef> {
    let parts = arguments
        .iter()
        .map(string_array)
        .collect::<Result<Vec<&StringArray>>>()?;
    if parts.is_empty() {
        return Err(unsupported(&Builtin::Concat, arguments));
    }
    let columns: Vec<&dyn Array> = parts.iter().map(|part| *part as &dyn Array).collect();
    let result: StringArray = rows(&columns)
        .map(|row| {
            row.map(|row| {
                let texts: Vec<&str> = parts.iter().map(|part| part.value(row)).collect();
                strings::concat(&texts)
            })
        })
        .collect();
    Ok(Arc::new(result))
}

/// `least` (`wanted` = Less) or `greatest` in the total order of builtins.md section 2, the
/// leftmost argument on ties; every argument has the result's type (the checker converts).
fn extreme(builtin: Builtin, arguments: &[ArrayRef], wanted: Ordering, return_type: &DataType) -> Result<ArrayRef> {
    if arguments.len() < 2 || arguments.iter().any(|argument| argument.data_type() != return_type) {
        return Err(unsupported(&builtin, arguments));
    }
    let less = wanted == Ordering::Less;
    match return_type {
        DataType::Float64 => {
            let columns = arguments.iter().map(floats).collect::<Result<Vec<_>>>()?;
            let kernel = if less { math::least_f64 } else { math::greatest_f64 };
            let all: Vec<&dyn Array> = columns.iter().map(|column| *column as &dyn Array).collect();
            let result: Float64Array = rows(&all)
                .map(|row| row.and_then(|row| columns.iter().map(|column| column.value(row)).reduce(kernel)))
                .collect();
            Ok(Arc::new(result))
        }
        DataType::Utf8 => {
            let columns = arguments.iter().map(string_array).collect::<Result<Vec<_>>>()?;
            let all: Vec<&dyn Array> = columns.iter().map(|column| *column as &dyn Array).collect();
            let pick = |best: &'_ str, next: &'_ str| operators::compare_str(next, best) == wanted;
            let result: StringArray = rows(&all)
                .map(|row| {
                    row.and_then(|row| {
                        columns
                            .iter()
                            .map(|column| column.value(row))
                            .reduce(|best, next| if pick(best, next) { next } else { best })
                    })
                })
                .collect();
            Ok(Arc::new(result))
        }
        DataType::Date32 => {
            let columns = arguments.iter().map(dates).collect::<Result<Vec<_>>>()?;
            let all: Vec<&dyn Array> = columns.iter().map(|column| *column as &dyn Array).collect();
            let kernel = if less { math::least_i64 } else { math::greatest_i64 };
            let result = rows(&all)
                .map(|row| match row {
                    None => Ok(None),
                    Some(row) => {
                        let days = columns.iter().map(|column| i64::from(column.value(row))).reduce(kernel);
                        // The extreme of int32 values is one of them: it always fits.
                        days.map(i32::try_from)
                            .transpose()
                            .map_err(|error| DataFusionError::Internal(format!("{} of dates: {error}", builtin.name())))
                    }
                })
                .collect::<Result<Date32Array>>()?;
            Ok(Arc::new(result))
        }
        _ => {
            let columns = arguments.iter().map(integers).collect::<Result<Vec<_>>>()?;
            let all: Vec<&dyn Array> = columns.iter().map(|column| column as &dyn Array).collect();
            let kernel = if less { math::least_i64 } else { math::greatest_i64 };
            let result: Int64Array = rows(&all)
                .map(|row| row.and_then(|row| columns.iter().map(|column| column.value(row)).reduce(kernel)))
                .collect();
            retype(result, return_type)
        }
    }
}
