//! Builtin calls on [`Value`]s: null handling per lang-spec/builtins.md, then the typed kernel.

use std::cmp::Ordering;

use mlsys_compiler::builtins::Builtin;

use crate::interpret::OperandError;
use crate::interpret::operators::number;
use crate::order::total_cmp;
use crate::value::Value;
use crate::{categorical, math, strings, time};

pub fn call(function: Builtin, arguments: &[Value]) -> Result<Value, OperandError> {
    let wrong = || OperandError::Call {
        function,
        arguments: arguments.to_vec(),
    };
    match function {
        Builtin::Coalesce => {
            if arguments.is_empty() {
                return Err(wrong());
            }
            // NaN is not null: `coalesce(NaN, 1.0)` is NaN.
            return Ok(arguments
                .iter()
                .find(|value| !value.is_null())
                .cloned()
                .unwrap_or(Value::Null));
        }
        Builtin::IsNull => {
            let [value] = arguments else { return Err(wrong()) };
            return Ok(Value::Bool(value.is_null()));
        }
        _ => {}
    }
    // Every other builtin is null when any argument is (`least`, `greatest` and `concat` included).
    if arguments.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let float = |value: &Value| number(value).ok_or_else(wrong);
    let string = |value: &Value| match value {
        Value::String(text) => Ok(text.clone()),
        _ => Err(wrong()),
    };
    let float_math = |kernel: fn(f64) -> f64| match arguments {
        [x] => Ok(Value::Float(kernel(float(x)?))),
        _ => Err(wrong()),
    };
    let date_part = |of_date: fn(i32) -> i64, of_timestamp: fn(i64) -> i64| match arguments {
        [Value::Date(days)] => Ok(Value::Int(of_date(*days))),
        [Value::Timestamp(t)] => Ok(Value::Int(of_timestamp(*t))),
        _ => Err(wrong()),
    };
    match function {
        Builtin::Ln
        | Builtin::Log10
        | Builtin::Exp
        | Builtin::Sqrt
        | Builtin::Round
        | Builtin::Floor
        | Builtin::Ceil => math::float_unary(function).map_or_else(|| Err(wrong()), float_math),
        Builtin::Abs => match arguments {
            [Value::Int(x)] => Ok(Value::Int(math::abs_i64(*x))),
            [Value::Float(x)] => Ok(Value::Float(math::abs_f64(*x))),
            _ => Err(wrong()),
        },
        Builtin::Pow => match arguments {
            [x, y] => Ok(Value::Float(math::pow(float(x)?, float(y)?))),
            _ => Err(wrong()),
        },
        Builtin::Clamp => match arguments {
            [Value::Int(x), Value::Int(lo), Value::Int(hi)] => Ok(Value::Int(math::clamp_i64(*x, *lo, *hi))),
            [x, lo, hi] => Ok(Value::Float(math::clamp_f64(float(x)?, float(lo)?, float(hi)?))),
            _ => Err(wrong()),
        },
        Builtin::Least => extreme(arguments, Ordering::Less).ok_or_else(wrong),
        Builtin::Greatest => extreme(arguments, Ordering::Greater).ok_or_else(wrong),
        Builtin::Lower | Builtin::Upper | Builtin::Length => {
            let [text] = arguments else { return Err(wrong()) };
            let text = string(text)?;
            Ok(match function {
                Builtin::Lower => Value::string(strings::lower(&text)),
                Builtin::Upper => Value::string(strings::upper(&text)),
                _ => Value::Int(strings::length(&text)),
            })
        }
        Builtin::Contains | Builtin::StartsWith => {
            let [text, part] = arguments else { return Err(wrong()) };
            let (text, part) = (string(text)?, string(part)?);
            Ok(Value::Bool(if function == Builtin::Contains {
                strings::contains(&text, &part)
            } else {
                strings::starts_with(&text, &part)
            }))
        }
        Builtin::Concat => {
            let parts = arguments.iter().map(string).collect::<Result<Vec<_>, _>>()?;
            if parts.is_empty() {
                return Err(wrong());
            }
            let parts: Vec<&str> = parts.iter().map(|part| &**part).collect();
            Ok(Value::string(strings::concat(&parts)))
        }
        Builtin::Hour => match arguments {
            [Value::Timestamp(t)] => Ok(Value::Int(time::hour(*t))),
            _ => Err(wrong()),
        },
        Builtin::DateOf => match arguments {
            [Value::Timestamp(t)] => Ok(Value::Date(time::date_of(*t))),
            _ => Err(wrong()),
        },
        Builtin::DayOfWeek => date_part(time::day_of_week_date, time::day_of_week_timestamp),
        Builtin::Day => date_part(time::day_date, time::day_timestamp),
        Builtin::Month => date_part(time::month_date, time::month_timestamp),
        Builtin::Year => date_part(time::year_date, time::year_timestamp),
        Builtin::HashBucket => match arguments {
            // The bucket count is an int literal >= 1 in every checked plan.
            [_, Value::Int(n)] if *n < 1 => Err(wrong()),
            [Value::String(text), Value::Int(n)] => Ok(Value::Int(categorical::hash_bucket_str(text, *n))),
            [Value::Int(x), Value::Int(n)] => Ok(Value::Int(categorical::hash_bucket_i64(*x, *n))),
            _ => Err(wrong()),
        },
        Builtin::Bucketize => {
            let [x, edges @ ..] = arguments else {
                return Err(wrong());
            };
            if edges.is_empty() {
                return Err(wrong());
            }
            let edges = edges.iter().map(float).collect::<Result<Vec<f64>, _>>()?;
            Ok(Value::Int(categorical::bucketize(float(x)?, &edges)))
        }
        Builtin::Coalesce | Builtin::IsNull => Err(wrong()),
    }
}

/// `least` (`wanted` = Less) or `greatest` of two or more non-null values of one type in the total
/// order, the leftmost on ties; mixed int64 and float64 are compared and returned as float64.
/// `None` when the arguments cannot be compared.
fn extreme(arguments: &[Value], wanted: Ordering) -> Option<Value> {
    if arguments.len() < 2 {
        return None;
    }
    let mixed_numbers = arguments.iter().any(|value| matches!(value, Value::Float(_)))
        && arguments.iter().all(|value| number(value).is_some());
    let mut best: Option<Value> = None;
    for argument in arguments {
        let argument = if mixed_numbers {
            Value::Float(number(argument)?)
        } else {
            argument.clone()
        };
        best = Some(match best {
            None => argument,
            Some(current) => {
                if total_cmp(&argument, &current)? == wanted {
                    argument
                } else {
                    current
                }
            }
        });
    }
    best
}
