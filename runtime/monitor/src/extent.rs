//! What a run reads of a target's rows: the example times the table holds, summarised in spans
//! (so that the first due period and the windows without rows are known without reading rows), and
//! the time ranges of the periods and windows to evaluate, merged into as few scans as they allow.

/// Rows whose example times lie in `[first, last]` (a reader's group, such as a UTC day).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub first: i64,
    pub last: i64,
    pub rows: u64,
}

/// The example times a table holds, as spans that together cover every row.
#[derive(Clone, Debug, Default)]
pub struct Extent {
    spans: Vec<Span>,
}

impl Extent {
    pub fn new(spans: Vec<Span>) -> Extent {
        Extent {
            spans: spans.into_iter().filter(|span| span.rows > 0).collect(),
        }
    }

    /// The earliest example time, none without rows.
    pub fn first(&self) -> Option<i64> {
        self.spans.iter().map(|span| span.first).min()
    }

    /// At most how many rows have an example time in `[start, end)`: those of every span that
    /// overlaps it.
    pub fn rows_within(&self, start: i64, end: i64) -> u64 {
        let overlaps = |span: &&Span| span.first < end && span.last >= start;
        self.spans.iter().filter(overlaps).map(|span| span.rows).sum()
    }

    /// Whether a row's example time falls in `[start, end)`; `None` when the spans cannot tell
    /// (a span starts before the range and ends after it).
    pub fn holds_rows(&self, start: i64, end: i64) -> Option<bool> {
        let inside = |time: i64| start <= time && time < end;
        if self.spans.iter().any(|span| inside(span.first) || inside(span.last)) {
            return Some(true);
        }
        let disjoint = |span: &Span| span.last < start || span.first >= end;
        self.spans.iter().all(disjoint).then_some(false)
    }
}

/// The union of time ranges `[start, end)`: sorted, overlapping or touching ranges joined.
pub fn merge(mut ranges: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    ranges.retain(|(start, end)| start < end);
    ranges.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}
