//! The report's two kinds of chart, drawn with [`svg`](super::svg): values over time (lines with
//! gaps, reference lines such as a threshold, shaded periods) and paired bars (a baseline
//! histogram next to a current one).

use super::format::{axis_time, number, percent, shorten};
use super::svg::{Anchor, Frame, Scale, Svg, Ticks};

/// Up to this many points a line also marks each point.
const MARKED_POINTS: usize = 40;
/// Bars beyond this many categories are folded into one.
pub const MAX_BAR_CATEGORIES: usize = 24;

/// A full-width chart of values over time.
pub const WIDE_FRAME: Frame = Frame {
    width: 960.0,
    height: 240.0,
    left: 56.0,
    right: 16.0,
    top: 12.0,
    bottom: 28.0,
};

/// One of several small charts side by side.
pub const SMALL_FRAME: Frame = Frame {
    width: 300.0,
    height: 140.0,
    left: 44.0,
    right: 8.0,
    top: 8.0,
    bottom: 24.0,
};

/// A histogram's paired bars, room below for turned category labels.
pub const BARS_FRAME: Frame = Frame {
    width: 560.0,
    height: 260.0,
    left: 52.0,
    right: 12.0,
    top: 28.0,
    bottom: 70.0,
};

/// A horizontal line across a chart, such as a threshold.
pub struct Reference {
    pub value: f64,
    /// `threshold` (dashed) or `baseline` (dotted).
    pub class: &'static str,
    pub label: String,
}

/// Points `first..=last` shaded, such as windows whose labels have not matured.
pub struct Band {
    pub first: usize,
    pub last: usize,
    pub class: &'static str,
    pub title: String,
}

/// Values over time: one point per entry of `times`, a NaN a gap in the line.
pub struct LineChart<'a> {
    pub label: &'a str,
    pub times: &'a [i64],
    pub values: &'a [f64],
    pub references: &'a [Reference],
    pub bands: &'a [Band],
    pub frame: Frame,
    /// Keep 0 on the value axis (PSI); a metric's axis fits its values.
    pub from_zero: bool,
}

pub fn line_chart(chart: &LineChart<'_>) -> String {
    let frame = chart.frame;
    let mut svg = Svg::new(&frame, chart.label);
    let ticks = value_ticks(chart);
    let y = Scale::new(ticks.low, ticks.high, frame.y_range());
    let x = Scale::new(0.0, chart.times.len().saturating_sub(1) as f64, frame.x_range());
    for band in chart.bands {
        draw_band(&mut svg, &frame, &x, chart.times.len(), band);
    }
    svg.y_axis(&frame, &y, &ticks, |value| ticks.label(value));
    time_labels(&mut svg, &frame, &x, chart.times);
    for reference in chart.references.iter().filter(|reference| reference.value.is_finite()) {
        let (left, right) = frame.x_range();
        let at = y.at(reference.value);
        svg.line((left, at), (right, at), reference.class);
        svg.text(
            (right - 2.0, at - 4.0),
            Anchor::End,
            "reference-label",
            &reference.label,
            0.0,
        );
    }
    draw_line(&mut svg, chart, &x, &y);
    svg.finish()
}

fn value_ticks(chart: &LineChart<'_>) -> Ticks {
    let finite = chart
        .values
        .iter()
        .chain(chart.references.iter().map(|reference| &reference.value))
        .copied()
        .filter(|value| value.is_finite());
    let zero = chart.from_zero.then_some(0.0);
    let (low, high) = finite
        .chain(zero)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
            (low.min(value), high.max(value))
        });
    if low > high || (chart.from_zero && high == 0.0) {
        return Ticks::new(0.0, 1.0, 4);
    }
    // Room above the largest value; within ±1e300 the span cannot overflow.
    let (low, high) = (low.max(-1e300), high.min(1e300));
    Ticks::new(low, high + (high - low) * 0.05, 4)
}

fn draw_band(svg: &mut Svg, frame: &Frame, x: &Scale, points: usize, band: &Band) {
    let (left, right) = frame.x_range();
    let (bottom, top) = frame.y_range();
    let half = (right - left) / (points.max(2) - 1) as f64 / 2.0;
    let start = (x.at(band.first as f64) - half).max(left);
    let end = (x.at(band.last as f64) + half).min(right);
    svg.rect((start, top), (end - start, bottom - top), band.class, &band.title);
}

/// A date under the frame every 150 pixels or so, the first and the last point's among them.
fn time_labels(svg: &mut Svg, frame: &Frame, x: &Scale, times: &[i64]) {
    let Some(last) = times.len().checked_sub(1) else {
        return;
    };
    let (left, right) = frame.x_range();
    let labels = (((right - left) / 150.0) as usize).max(2);
    let step = times.len().div_ceil(labels).max(1);
    let mut shown: Vec<usize> = (0..times.len()).step_by(step).collect();
    match shown.last().copied() {
        Some(previous) if previous == last => {}
        // Too close to the last to fit both labels.
        Some(previous) if last - previous < step.div_ceil(2) && shown.len() > 1 => {
            if let Some(slot) = shown.last_mut() {
                *slot = last;
            }
        }
        _ => shown.push(last),
    }
    let y = frame.height - frame.bottom + 16.0;
    for index in shown {
        // The outer labels stay inside the image.
        let anchor = match index {
            0 if last > 0 => Anchor::Start,
            _ if index == last && last > 0 => Anchor::End,
            _ => Anchor::Middle,
        };
        svg.text((x.at(index as f64), y), anchor, "tick", &axis_time(times[index]), 0.0);
    }
}

fn draw_line(svg: &mut Svg, chart: &LineChart<'_>, x: &Scale, y: &Scale) {
    let point = |index: usize, value: f64| (x.at(index as f64), y.at(value));
    let mut segment: Vec<(f64, f64)> = Vec::new();
    for (index, value) in chart.values.iter().enumerate() {
        if value.is_finite() {
            segment.push(point(index, *value));
        } else {
            flush_segment(svg, &mut segment);
        }
    }
    flush_segment(svg, &mut segment);
    let marked = chart.values.len() <= MARKED_POINTS;
    let gap = |index: Option<usize>| !index.and_then(|i| chart.values.get(i)).is_some_and(|v| v.is_finite());
    for (index, value) in chart.values.iter().enumerate() {
        let alone = gap(index.checked_sub(1)) && gap(Some(index + 1));
        if value.is_finite() && (marked || alone) {
            let title = format!("{}: {}", axis_time(chart.times[index]), number(*value, 4));
            svg.circle(point(index, *value), 3.0, "point", &title);
        }
    }
}

fn flush_segment(svg: &mut Svg, segment: &mut Vec<(f64, f64)>) {
    if segment.len() > 1 {
        svg.polyline(segment, "series");
    }
    segment.clear();
}

/// Two histograms over the same categories, as shares in [0, 1].
pub struct PairedBars<'a> {
    pub label: &'a str,
    pub categories: &'a [String],
    pub baseline: &'a [f64],
    pub current: &'a [f64],
    pub names: (&'a str, &'a str),
    pub frame: Frame,
}

pub fn paired_bars(chart: &PairedBars<'_>) -> String {
    let frame = chart.frame;
    let mut svg = Svg::new(&frame, chart.label);
    let groups = fold_categories(chart);
    let largest = groups
        .iter()
        .flat_map(|(_, baseline, current)| [*baseline, *current])
        .filter(|share| share.is_finite())
        .fold(0.0, f64::max);
    let ticks = Ticks::new(0.0, largest.max(0.01), 4);
    let y = Scale::new(0.0, ticks.high, frame.y_range());
    svg.y_axis(&frame, &y, &ticks, percent);
    let (left, right) = frame.x_range();
    let width = (right - left) / groups.len().max(1) as f64;
    let rotate = groups.len() > 6;
    for (index, (category, baseline, current)) in groups.iter().enumerate() {
        let start = left + width * index as f64;
        let title = format!(
            "{category}: {} {}, {} {}",
            chart.names.0,
            percent(*baseline),
            chart.names.1,
            percent(*current)
        );
        bar(
            &mut svg,
            &y,
            (start + width * 0.1, width * 0.38),
            *baseline,
            "bar-baseline",
            &title,
        );
        bar(
            &mut svg,
            &y,
            (start + width * 0.52, width * 0.38),
            *current,
            "bar-current",
            &title,
        );
        category_label(&mut svg, &frame, start + width / 2.0, category, rotate);
    }
    legend(&mut svg, &frame, chart.names);
    svg.finish()
}

/// The categories with their shares; past [`MAX_BAR_CATEGORIES`] the rest summed into one.
fn fold_categories(chart: &PairedBars<'_>) -> Vec<(String, f64, f64)> {
    let share = |shares: &[f64], index: usize| shares.get(index).copied().unwrap_or(f64::NAN);
    let mut groups: Vec<(String, f64, f64)> = chart
        .categories
        .iter()
        .enumerate()
        .map(|(index, category)| {
            (
                category.clone(),
                share(chart.baseline, index),
                share(chart.current, index),
            )
        })
        .collect();
    if groups.len() > MAX_BAR_CATEGORIES {
        let rest = groups.split_off(MAX_BAR_CATEGORIES - 1);
        let sum = |pick: fn(&(String, f64, f64)) -> f64| rest.iter().map(pick).sum::<f64>();
        let label = format!("{} more", rest.len());
        groups.push((label, sum(|group| group.1), sum(|group| group.2)));
    }
    groups
}

fn bar(svg: &mut Svg, y: &Scale, (x, width): (f64, f64), share: f64, class: &str, title: &str) {
    if !share.is_finite() {
        return;
    }
    let (bottom, top) = (y.at(0.0), y.at(share));
    svg.rect((x, top), (width, bottom - top), class, title);
}

fn category_label(svg: &mut Svg, frame: &Frame, x: f64, category: &str, rotate: bool) {
    let y = frame.height - frame.bottom + 14.0;
    if rotate {
        svg.text((x, y), Anchor::End, "tick", &shorten(category, 16), -35.0);
    } else {
        svg.text((x, y), Anchor::Middle, "tick", &shorten(category, 16), 0.0);
    }
}

fn legend(svg: &mut Svg, frame: &Frame, (baseline, current): (&str, &str)) {
    let (_, right) = frame.x_range();
    let y = frame.top - 14.0;
    svg.rect((right - 200.0, y - 9.0), (10.0, 10.0), "bar-baseline", "");
    svg.text((right - 186.0, y), Anchor::Start, "tick", &shorten(baseline, 12), 0.0);
    svg.rect((right - 100.0, y - 9.0), (10.0, 10.0), "bar-current", "");
    svg.text((right - 86.0, y), Anchor::Start, "tick", &shorten(current, 12), 0.0);
}
