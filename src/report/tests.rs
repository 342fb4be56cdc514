//! The terminal renderer reads spans through the line index; what it renders must be exactly what
//! miette renders reading the whole text itself.

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Report};
use mlsys_compiler::source::LineIndex;

use super::{IndexedSource, WithSource};

/// Line endings of both kinds, tabs, multi-byte characters, empty lines, no final newline.
const TEXT: &str = "first line\r\n\tsecond — with unicode ✓\n\nfourth line, longer than the others\nfifth\r\nsixth\n\n\neighth\nthe last line has no newline";

/// The same diagnostic rendered by miette from the whole text, and through the line index.
fn render_both(labels: Vec<LabeledSpan>) -> (String, String) {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let diagnostic = MietteDiagnostic::new("message").with_code("E0000").with_labels(labels);
    let mut expected = String::new();
    let report = Report::new(diagnostic.clone()).with_source_code(NamedSource::new("test.mlsys", TEXT.to_string()));
    handler
        .render_report(&mut expected, report.as_ref())
        .expect("miette renders");
    let lines = LineIndex::new(TEXT);
    let indexed = WithSource {
        diagnostic,
        source: IndexedSource {
            name: "test.mlsys",
            text: TEXT,
            lines: &lines,
        },
    };
    let mut actual = String::new();
    handler.render_report(&mut actual, &indexed).expect("miette renders");
    (expected, actual)
}

fn boundaries() -> Vec<usize> {
    TEXT.char_indices()
        .map(|(index, _)| index)
        .chain([TEXT.len()])
        .collect()
}

#[test]
fn one_label_renders_as_from_the_whole_text() {
    let boundaries = boundaries();
    for (position, &start) in boundaries.iter().enumerate() {
        for step in [0, 1, 2, 7, 15, 40, boundaries.len()] {
            let end = boundaries[(position + step).min(boundaries.len() - 1)];
            let label = LabeledSpan::new_primary_with_span(Some("here".to_string()), (start, end - start));
            let (expected, actual) = render_both(vec![label]);
            assert_eq!(actual, expected, "span {start}..{end}");
        }
    }
}

#[test]
fn several_labels_render_as_from_the_whole_text() {
    let boundaries = boundaries();
    let span = |position: usize, characters: usize| {
        let start = boundaries[position];
        let end = boundaries[(position + characters).min(boundaries.len() - 1)];
        (start, end - start)
    };
    for first in (0..boundaries.len()).step_by(3) {
        for second in (0..boundaries.len()).step_by(5) {
            let labels = vec![
                LabeledSpan::new_primary_with_span(Some("primary".to_string()), span(first, 3)),
                LabeledSpan::new_with_span(Some("secondary".to_string()), span(second, 1)),
            ];
            let (expected, actual) = render_both(labels);
            assert_eq!(actual, expected, "spans at {first} and {second}");
        }
    }
}

#[test]
fn a_span_past_the_end_is_reported_not_a_panic() {
    // miette's own `str` source panics here; the indexed one says it cannot read the span.
    let lines = LineIndex::new(TEXT);
    let label = LabeledSpan::new_primary_with_span(None, (TEXT.len() + 1, 0));
    let indexed = WithSource {
        diagnostic: MietteDiagnostic::new("message").with_labels(vec![label]),
        source: IndexedSource {
            name: "test.mlsys",
            text: TEXT,
            lines: &lines,
        },
    };
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, &indexed)
        .expect("renders");
    assert!(out.contains("Failed to read contents"), "{out}");
}
