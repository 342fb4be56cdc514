//! SVG drawing for the report's charts: linear scales, nice ticks, axes, and an element writer
//! whose coordinates are always finite numbers and whose text is always escaped. Colours come
//! from the page's stylesheet through class names.

use std::fmt::Write as _;

use super::format::{escape, number};

/// Where the data is drawn inside a chart of `width` × `height`: the margins hold the axes' labels.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
}

impl Frame {
    pub fn x_range(&self) -> (f64, f64) {
        (self.left, self.width - self.right)
    }

    /// Bottom to top: larger values are drawn higher.
    pub fn y_range(&self) -> (f64, f64) {
        (self.height - self.bottom, self.top)
    }
}

/// A linear map from a domain of values onto a range of pixels; values outside the domain are
/// drawn at its edge.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    low: f64,
    high: f64,
    range: (f64, f64),
}

impl Scale {
    /// A domain that is not finite becomes [0, 1]; an empty one is widened around its value.
    pub fn new(low: f64, high: f64, range: (f64, f64)) -> Scale {
        let (low, high) = usable_domain(low, high);
        Scale { low, high, range }
    }

    /// The pixel of `value`; the range's start for a value that is not finite.
    pub fn at(&self, value: f64) -> f64 {
        if !value.is_finite() {
            return self.range.0;
        }
        let fraction = ((value - self.low) / (self.high - self.low)).clamp(0.0, 1.0);
        self.range.0 + fraction * (self.range.1 - self.range.0)
    }
}

fn usable_domain(low: f64, high: f64) -> (f64, f64) {
    if !(low.is_finite() && high.is_finite()) {
        return (0.0, 1.0);
    }
    // Beyond ±1e300 the span itself would overflow.
    let (low, high) = (low.min(high).max(-1e300), high.max(low).min(1e300));
    if high > low {
        return (low, high);
    }
    let pad = if low == 0.0 { 1.0 } else { low.abs() * 0.1 };
    (low - pad, high + pad)
}

/// Round tick values (steps of 1, 2 or 5 times a power of ten) covering a domain, and the domain
/// widened to the outer ticks.
#[derive(Clone, Debug)]
pub struct Ticks {
    pub values: Vec<f64>,
    pub step: f64,
    pub low: f64,
    pub high: f64,
}

impl Ticks {
    /// About `target` ticks over `low..=high` (made usable as [`Scale::new`] does).
    pub fn new(low: f64, high: f64, target: usize) -> Ticks {
        let (low, high) = usable_domain(low, high);
        let step = nice_step((high - low) / target.max(1) as f64);
        let (first, last) = ((low / step).floor(), (high / step).ceil());
        let count = (last - first) as usize;
        let values: Vec<f64> = (0..=count.min(4 * target + 4))
            .map(|index| (first + index as f64) * step)
            .collect();
        let widened_high = values.last().copied().unwrap_or(high).max(high);
        Ticks {
            low: (first * step).min(low),
            high: widened_high,
            values,
            step,
        }
    }

    /// A tick's label with as many decimals as the step needs.
    pub fn label(&self, value: f64) -> String {
        let decimals = (-self.step.log10().floor()).clamp(0.0, 8.0) as usize;
        number(value, decimals)
    }
}

fn nice_step(rough: f64) -> f64 {
    if !(rough.is_finite() && rough > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(rough.log10().floor());
    let nice = match rough / magnitude {
        residual if residual <= 1.0 => 1.0,
        residual if residual <= 2.0 => 2.0,
        residual if residual <= 5.0 => 5.0,
        _ => 10.0,
    };
    nice * magnitude
}

/// A coordinate as SVG text: one decimal, never NaN or infinite.
pub fn coordinate(value: f64) -> String {
    if !value.is_finite() {
        return "0".into();
    }
    let rounded = (value * 10.0).round() / 10.0;
    if rounded == 0.0 {
        "0".into()
    } else {
        format!("{rounded}")
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn name(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// Writes one `<svg>` element. Class names are the report's own; every text is escaped.
pub struct Svg {
    out: String,
}

impl Svg {
    /// An image of `frame`'s size, described by `label` for screen readers and tooltips.
    pub fn new(frame: &Frame, label: &str) -> Svg {
        let (width, height) = (coordinate(frame.width), coordinate(frame.height));
        let label = escape(label);
        let out = format!(
            "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
             role=\"img\" aria-label=\"{label}\"><title>{label}</title>"
        );
        Svg { out }
    }

    pub fn line(&mut self, from: (f64, f64), to: (f64, f64), class: &str) {
        let _ = write!(
            self.out,
            "<line class=\"{class}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
            coordinate(from.0),
            coordinate(from.1),
            coordinate(to.0),
            coordinate(to.1)
        );
    }

    pub fn polyline(&mut self, points: &[(f64, f64)], class: &str) {
        let _ = write!(self.out, "<polyline class=\"{class}\" points=\"");
        for (index, (x, y)) in points.iter().enumerate() {
            let separator = if index == 0 { "" } else { " " };
            let _ = write!(self.out, "{separator}{},{}", coordinate(*x), coordinate(*y));
        }
        self.out.push_str("\"/>");
    }

    /// A rectangle; a non-empty `title` shows on hover.
    pub fn rect(&mut self, corner: (f64, f64), size: (f64, f64), class: &str, title: &str) {
        let _ = write!(
            self.out,
            "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\">",
            coordinate(corner.0),
            coordinate(corner.1),
            coordinate(size.0.max(0.0)),
            coordinate(size.1.max(0.0))
        );
        self.title_and_close(title, "</rect>");
    }

    pub fn circle(&mut self, center: (f64, f64), radius: f64, class: &str, title: &str) {
        let _ = write!(
            self.out,
            "<circle class=\"{class}\" cx=\"{}\" cy=\"{}\" r=\"{}\">",
            coordinate(center.0),
            coordinate(center.1),
            coordinate(radius)
        );
        self.title_and_close(title, "</circle>");
    }

    /// Text at `at`, turned by `rotation` degrees around it; `title` holds the full text when
    /// `text` was shortened.
    pub fn text(&mut self, at: (f64, f64), anchor: Anchor, class: &str, text: &str, rotation: f64) {
        let (x, y) = (coordinate(at.0), coordinate(at.1));
        let transform = if rotation == 0.0 {
            String::new()
        } else {
            format!(" transform=\"rotate({} {x} {y})\"", coordinate(rotation))
        };
        let _ = write!(
            self.out,
            "<text class=\"{class}\" x=\"{x}\" y=\"{y}\" text-anchor=\"{}\"{transform}>{}</text>",
            anchor.name(),
            escape(text)
        );
    }

    fn title_and_close(&mut self, title: &str, close: &str) {
        if !title.is_empty() {
            let _ = write!(self.out, "<title>{}</title>", escape(title));
        }
        self.out.push_str(close);
    }

    /// Horizontal grid lines at `ticks` with their labels left of the frame.
    pub fn y_axis(&mut self, frame: &Frame, scale: &Scale, ticks: &Ticks, label: impl Fn(f64) -> String) {
        let (left, right) = frame.x_range();
        for value in &ticks.values {
            let y = scale.at(*value);
            self.line((left, y), (right, y), "grid");
            self.text((left - 6.0, y + 4.0), Anchor::End, "tick", &label(*value), 0.0);
        }
        let (bottom, top) = frame.y_range();
        self.line((left, bottom), (left, top), "axis");
        self.line((left, bottom), (right, bottom), "axis");
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}
