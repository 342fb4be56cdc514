//! Windows: the epoch grid, half-open bounds, tiles, and lang-spec/windows.md's worked example
//! computed from events through the compiler and the interpreter.

use mlsys_compiler::builtins::AggregateFunction;
use mlsys_compiler::plan::Plan;
use mlsys_kernels::Value;
use mlsys_kernels::aggregate::AggregateError;
use mlsys_kernels::interpret::{Bindings, evaluate_aggregate, find_column, find_feature};
use mlsys_kernels::time::{MICROS_PER_DAY, MICROS_PER_HOUR};
use mlsys_kernels::window::{Window, floor_to, tile_index, window_value};

use crate::support::{compile_project, date, float, int};

#[test]
fn floor_on_the_epoch_grid() {
    assert_eq!(floor_to(-1, MICROS_PER_DAY), -MICROS_PER_DAY);
    assert_eq!(floor_to(0, MICROS_PER_DAY), 0);
    assert_eq!(floor_to(MICROS_PER_DAY, MICROS_PER_DAY), MICROS_PER_DAY);
    assert_eq!(floor_to(1_772_451_900_000_000, MICROS_PER_HOUR), 1_772_449_200_000_000);
    assert_eq!(floor_to(-7, 5), -10);
    assert_eq!(floor_to(i64::MIN, 3), i64::MIN); // the exact floor is below the range: saturates
    assert_eq!(floor_to(i64::MAX, 1), i64::MAX);
    assert_eq!(floor_to(17, 0), 17); // never in a checked plan; no division by zero
    assert_eq!(tile_index(-1, MICROS_PER_DAY), -1);
    assert_eq!(tile_index(0, MICROS_PER_DAY), 0);
    assert_eq!(tile_index(5, -1), 0);
    // `every 1w` tiles start on Thursdays, like 1970-01-01.
    let week = 7 * MICROS_PER_DAY;
    let tile_start = floor_to(i64::from(date(2026, 3, 4)) * MICROS_PER_DAY + 5, week);
    assert_eq!(mlsys_kernels::time::day_of_week_timestamp(tile_start), 4);
}

#[test]
fn bounds_are_half_open_and_hold_whole_tiles() {
    let window = Window::new(3 * MICROS_PER_HOUR, MICROS_PER_HOUR).expect("a window");
    let t = 1_772_451_900_000_000; // 11:45
    assert_eq!(window.bounds(t), 1_772_438_400_000_000..1_772_449_200_000_000);
    assert!(window.contains(t, 1_772_438_400_000_000));
    assert!(!window.contains(t, 1_772_449_200_000_000));
    assert!(window.contains(t, 1_772_449_200_000_000 - 1));
    assert!(!window.contains(t, 1_772_438_400_000_000 - 1));
    assert_eq!(window.tile_count(), 3);
    let tiles = window.tiles(t);
    assert_eq!(tiles.end - tiles.start, 3);
    assert_eq!(tiles.end, tile_index(t, MICROS_PER_HOUR));
    // An event never contributes to a read at its own timestamp.
    for event in [0, 1, -1, MICROS_PER_HOUR - 1, i64::MIN, i64::MAX] {
        assert!(!window.contains(event, event));
    }
    assert!(window.bounds(i64::MIN).is_empty());
}

#[test]
fn invalid_windows_are_errors() {
    for (length, resolution) in [(0, 1), (1, 0), (5, 2), (-4, 2), (4, -2)] {
        assert_eq!(
            Window::new(length, resolution),
            Err(AggregateError::InvalidWindow {
                window: length,
                resolution
            })
        );
    }
    let events = [(0, int(1))];
    let value = window_value(&events, AggregateFunction::Count, None, 10, 6, 4);
    assert!(matches!(value, Err(AggregateError::InvalidWindow { .. })));
}

const WORKED_EXAMPLE: &str = r#"
source payments {
  format    = parquet
  location  = "data/payments"
  timestamp = paid_at
  schema { user_id: string, amount: float64?, paid_at: timestamp }
}

entity user { key user_id: string }

features user_recent v1 {
  entity = user
  from   = payments
  n_3h      = count() over 3h every 1h
  n_amt_3h  = count(amount) over 3h every 1h
  sum_3h    = sum(amount) over 3h every 1h
  last_3h   = last(amount) over 3h every 1h
  big_3h    = count() over 3h every 1h where amount > 20.0
}
"#;

/// 2026-03-02 at hh:mm:ss.micros UTC.
fn at(hour: i64, minute: i64, second: i64, micros: i64) -> i64 {
    i64::from(date(2026, 3, 2)) * MICROS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros
}

fn event(plan: &Plan, user: Option<&str>, amount: Option<f64>, paid_at: i64) -> Bindings {
    let column = |name| find_column(plan, "payments", name).expect("a payments column");
    let (source, user_id) = column("user_id");
    let (_, amount_column) = column("amount");
    let (_, paid_at_column) = column("paid_at");
    Bindings::new()
        .with_column(source, user_id, user.map(Value::from))
        .with_column(source, amount_column, amount)
        .with_column(source, paid_at_column, Value::Timestamp(paid_at))
}

#[test]
fn worked_example_of_windows_md() {
    let plan = compile_project(WORKED_EXAMPLE);
    let events = vec![
        event(&plan, Some("u1"), Some(10.0), at(9, 10, 0, 0)),
        event(&plan, Some("u1"), Some(25.0), at(10, 30, 0, 0)),
        event(&plan, Some("u1"), Some(5.0), at(11, 0, 0, 0)),
        event(&plan, Some("u1"), None, at(11, 59, 59, 999_999)),
        event(&plan, Some("u1"), Some(40.0), at(12, 0, 0, 0)),
        // No entity: a null key is never aggregated.
        event(&plan, None, Some(1000.0), at(10, 0, 0, 0)),
    ];
    let null = Value::Null;
    // t, then n_3h, n_amt_3h, sum_3h, last_3h, big_3h.
    let table = [
        (at(9, 59, 0, 0), [int(0), int(0), null.clone(), null.clone(), int(0)]),
        (at(11, 0, 0, 0), [int(2), int(2), float(35.0), float(25.0), int(1)]),
        (at(11, 45, 0, 0), [int(2), int(2), float(35.0), float(25.0), int(1)]),
        (at(12, 0, 0, 0), [int(4), int(3), float(40.0), float(5.0), int(1)]),
        (at(13, 5, 0, 0), [int(4), int(3), float(70.0), float(40.0), int(2)]),
        (at(15, 0, 0, 0), [int(1), int(1), float(40.0), float(40.0), int(1)]),
        (at(16, 0, 0, 0), [int(0), int(0), null.clone(), null, int(0)]),
    ];
    let names = ["n_3h", "n_amt_3h", "sum_3h", "last_3h", "big_3h"];
    for (t, expected) in table {
        for (name, expected) in names.iter().zip(expected) {
            let feature = find_feature(&plan, "user_recent", 1, name).expect("a feature");
            let value = evaluate_aggregate(&plan, feature, &events, t).expect("an aggregate value");
            assert_eq!(value, expected, "{name} at {}", Value::Timestamp(t));
        }
    }
    assert_eq!(at(11, 45, 0, 0), 1_772_451_900_000_000);
}
