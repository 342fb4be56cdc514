//! Windows (lang-spec/windows.md): the UTC epoch grid, the half-open window `[floor(t, R) - W,
//! floor(t, R))` of complete tiles, tile indexes, and [`window_value`], the reference definition of
//! a windowed aggregate that batch tiles and online tile merges must reproduce bit for bit.

use std::ops::Range;

use mlsys_compiler::builtins::AggregateFunction;
use mlsys_compiler::types::BaseType;

use crate::aggregate::{Accumulator, AggregateError};
use crate::value::Value;

/// `floor(t, R) = t - (t mod R)` with the non-negative residue, on the grid anchored at the epoch:
/// `floor_to(-1, 1d)` is `-1d`. `resolution` must be positive (the checker guarantees it); for a
/// non-positive one `t` is returned unchanged rather than dividing by zero. A floor below the
/// `i64` range saturates at `i64::MIN` (no timestamp lies below it, so no window changes).
pub fn floor_to(t: i64, resolution: i64) -> i64 {
    if resolution <= 0 {
        return t;
    }
    t.saturating_sub(t.rem_euclid(resolution))
}

/// The index of the tile `[n·R, (n+1)·R)` holding `timestamp`: `floor_div(timestamp, R)`.
/// `resolution` must be positive; 0 is returned for a non-positive one.
pub fn tile_index(timestamp: i64, resolution: i64) -> i64 {
    if resolution <= 0 {
        return 0;
    }
    timestamp.div_euclid(resolution)
}

/// A checked window length `W` and resolution `R`: both positive, `W` a multiple of `R`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    window: i64,
    resolution: i64,
}

impl Window {
    pub fn new(window: i64, resolution: i64) -> Result<Window, AggregateError> {
        if resolution <= 0 || window <= 0 || window % resolution != 0 {
            return Err(AggregateError::InvalidWindow { window, resolution });
        }
        Ok(Window { window, resolution })
    }

    pub fn length(self) -> i64 {
        self.window
    }

    pub fn resolution(self) -> i64 {
        self.resolution
    }

    /// `W / R`: how many tiles a window holds.
    pub fn tile_count(self) -> i64 {
        self.window / self.resolution
    }

    /// The half-open bounds `[floor(t, R) - W, floor(t, R))` of the window read at `t`. Bounds
    /// beyond the `i64` range saturate, which leaves the set of timestamps inside unchanged.
    pub fn bounds(self, t: i64) -> Range<i64> {
        let end = floor_to(t, self.resolution);
        end.saturating_sub(self.window)..end
    }

    /// Whether an event at `timestamp` is in the window read at `t`.
    pub fn contains(self, t: i64, timestamp: i64) -> bool {
        self.bounds(t).contains(&timestamp)
    }

    /// The indexes of the tiles the window read at `t` merges: the `W / R` tiles before the one
    /// holding `t`.
    pub fn tiles(self, t: i64) -> Range<i64> {
        let current = tile_index(t, self.resolution);
        current.saturating_sub(self.tile_count())..current
    }
}

/// The value at `t` of `function` over `events` (timestamp, argument value), with window `window`
/// and resolution `resolution`: the reference definition. `argument` is the argument's type (`None`
/// for `count()`, whose event values are ignored). Events that failed the `where` condition, or
/// belong to other keys, must already be left out.
pub fn window_value(
    events: &[(i64, Value)],
    function: AggregateFunction,
    argument: Option<BaseType>,
    t: i64,
    window: i64,
    resolution: i64,
) -> Result<Value, AggregateError> {
    let window = Window::new(window, resolution)?;
    let bounds = window.bounds(t);
    let mut accumulator = Accumulator::new(function, argument)?;
    for (timestamp, value) in events {
        if bounds.contains(timestamp) {
            accumulator.update(value, *timestamp)?;
        }
    }
    Ok(accumulator.finish())
}
