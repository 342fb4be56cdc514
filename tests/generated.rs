//! Everything the checker accepts, `build` builds and `verify` confirms: generated valid projects
//! (an events source, an entity group of random windowed aggregates and derived features, a
//! row-level group reading the source and the group's aggregates at the row's time, sometimes a
//! second source whose group the rows read across sources, a model over them labelled by a column
//! or an expression) with generated data (nulls, duplicated times, values on tile boundaries, a few bad rows)
//! go through `check`, `build` and `verify` with no error other than the data's quarantine.

use std::fmt::Write;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use crate::train::{mlsysc, text};

/// splitmix64: the project and its data from one seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const DAYS: u64 = 6;
/// 2026-01-01T00:00:00Z in seconds.
const START: u64 = 1_767_225_600;

/// The windowed aggregates an entity group may have: (name, definition, type is int64 non-null).
const AGGREGATES: [(&str, &str, bool); 10] = [
    ("n_events", "count()", true),
    ("n_x", "count(x)", true),
    ("sum_x", "sum(x)", false),
    ("avg_x", "avg(x)", false),
    ("min_n", "min(n)", false),
    ("max_x", "max(x)", false),
    ("last_x", "last(x)", false),
    ("kinds", "count_distinct(c)", true),
    ("sum_n", "sum(n)", false),
    ("n_a", "count() where c == \"a\"", true),
];

/// A second source keyed by the same entity, and its group: read by the first source's rows (the
/// request-time rule across sources).
const OTHER: &str = "source other {\n  format = json\n  location = \"data/other\"\n  timestamp = t2\n  \
    partition = daily\n  schema {\n    k: string\n    t2: timestamp\n    v: float64\n  }\n}\n\n\
    features oagg v1 {\n  entity = key\n  from = other\n  v_sum = sum(v) over 1d every 1h\n  \
    v_n = count() over 6h every 1h\n}\n\n";

fn spec(rng: &mut Rng, other: bool) -> String {
    let mut text = String::from(if other { OTHER } else { "" });
    text.push_str(
        "source events {\n  format = json\n  location = \"data/events\"\n  timestamp = t\n  partition = daily\n  \
         schema {\n    k: string\n    t: timestamp\n    x: float64?\n    n: int64\n    c: string\n    flag: bool\n    y: float64?\n  }\n  \
         bad_rows = quarantine\n}\n\nentity key { key k: string }\n\nfeatures agg v1 {\n  entity = key\n  from = events\n",
    );
    let mut counts = Vec::new();
    let mut chosen = Vec::new();
    for (name, definition, is_count) in AGGREGATES {
        if chosen.is_empty() || rng.chance(50) {
            let window = rng.pick(&["2h", "6h", "1d", "3d"]);
            let every = rng.pick(&["1h", "2h"]);
            let _ = writeln!(text, "  {name} = {definition} over {window} every {every}");
            chosen.push(name);
            if is_count {
                counts.push(name);
            }
        }
    }
    if counts.len() >= 2 {
        let _ = writeln!(
            text,
            "  ratio = if {a} == 0 then 0.0 else {b} / {a}",
            a = counts[0],
            b = counts[1]
        );
    }
    text.push_str("}\n\nfeatures row v1 {\n  from = events\n  doubled = coalesce(x, 0.0) * 2.0\n");
    let aggregate = chosen[rng.below(chosen.len() as u64) as usize];
    let _ = writeln!(text, "  seen = agg@v1.{aggregate}");
    if rng.chance(70) {
        text.push_str("  is_a = c in [\"a\", \"b\"]\n  plus = n + 1\n");
    }
    if let Some(count) = counts.first() {
        let _ = writeln!(text, "  share = coalesce(x, 0.0) / (agg@v1.{count} + 1)");
    }
    if other {
        text.push_str("  other_n = oagg@v1.v_n\n  other_mix = coalesce(oagg@v1.v_sum, 0.0) + coalesce(x, 0.0)\n");
    }
    let label = if rng.chance(30) { "y > 0.5" } else { "flag" };
    let features = if other {
        "[row@v1, agg@v1, oagg@v1]"
    } else {
        "[row@v1, agg@v1]"
    };
    let algorithm = rng.pick(&[
        "gbdt(trees = 3, depth = 2, min_rows_per_leaf = 2)",
        "logistic_regression",
    ]);
    let _ = write!(
        text,
        "}}\n\nmodel guess {{\n  examples = events\n  label = {label}\n  features = {features}\n  \
         algorithm = {algorithm}\n  train {{\n    snapshot = 2026-01-01 .. 2026-01-04\n    \
         holdout = 2026-01-05 .. 2026-01-06\n    metric = auc\n  }}\n}}\n"
    );
    text
}

/// One JSON line per event, per day; a few bad rows (no contract is declared, so bad means a value
/// that does not parse as its type).
fn write_data(rng: &mut Rng, project: &Path, other: bool) {
    if other {
        write_other(rng, project);
    }
    for day in 0..DAYS {
        let date = format!("2026-01-{:02}", day + 1);
        let directory = project.join(format!("data/events/dt={date}"));
        std::fs::create_dir_all(&directory).expect("directory");
        let mut lines = String::new();
        for _ in 0..(20 + rng.below(40)) {
            // On the hour now and then: a value exactly on a tile boundary.
            let second = if rng.chance(15) {
                rng.below(24) * 3600
            } else {
                rng.below(86_400)
            };
            let time = START + day * 86_400 + second;
            let x = match rng.below(10) {
                0 => "null".to_string(),
                1 => "0.0".to_string(),
                2 => "-0.0".to_string(),
                _ => format!("{}", (rng.below(20_000) as f64 - 10_000.0) / 64.0),
            };
            let _ = writeln!(
                lines,
                r#"{{"k": "k{}", "t": "{}", "x": {x}, "n": {}, "c": "{}", "flag": {}, "y": {}}}"#,
                rng.below(5),
                rfc3339(time),
                rng.below(1000) as i64 - 500,
                rng.pick(&["a", "b", "c"]),
                rng.chance(30),
                if rng.chance(10) {
                    "null".to_string()
                } else {
                    format!("{}", rng.below(100) as f64 / 100.0)
                }
            );
        }
        if rng.chance(30) {
            lines.push_str(r#"{"k": "k1", "t": "not a time", "x": 1.0, "n": 1, "c": "a", "flag": true}"#);
            lines.push('\n');
        }
        std::fs::write(directory.join("part-0.json"), lines).expect("data");
    }
}

fn write_other(rng: &mut Rng, project: &Path) {
    for day in 0..DAYS {
        let directory = project.join(format!("data/other/dt=2026-01-{:02}", day + 1));
        std::fs::create_dir_all(&directory).expect("directory");
        let mut lines = String::new();
        for _ in 0..(5 + rng.below(20)) {
            let time = START + day * 86_400 + rng.below(86_400);
            let value = (rng.below(2000) as f64 - 1000.0) / 8.0;
            let _ = writeln!(
                lines,
                r#"{{"k": "k{}", "t2": "{}", "v": {value}}}"#,
                rng.below(5),
                rfc3339(time)
            );
        }
        std::fs::write(directory.join("part-0.json"), lines).expect("data");
    }
}

fn rfc3339(seconds: u64) -> String {
    let days = seconds / 86_400 - START / 86_400;
    let within = seconds % 86_400;
    format!(
        "2026-01-{:02}T{:02}:{:02}:{:02}Z",
        days + 1,
        within / 3600,
        within / 60 % 60,
        within % 60
    )
}

fn check_build_verify(seed: u64) {
    let mut rng = Rng(seed);
    let project = std::env::temp_dir().join(format!("mlsysc-generated-{}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(&project).expect("project");
    let other = rng.chance(50);
    let text_of_spec = spec(&mut rng, other);
    std::fs::write(project.join("project.mlsys"), &text_of_spec).expect("spec");
    write_data(&mut rng, &project, other);
    let mut outputs = Vec::new();
    for arguments in [
        &["check", "."][..],
        &["build", "."],
        &["verify", ".", "--sample", "100"],
    ] {
        let output = mlsysc(&project, arguments);
        let output_text = text(&output);
        assert!(
            output.status.success(),
            "seed {seed}: `mlsysc {}` failed:\n{output_text}\n--- the spec:\n{text_of_spec}",
            arguments.join(" "),
        );
        outputs.push(output_text);
    }
    // The model trained, and verify compared the windows, the rows and the scores.
    assert!(outputs[1].contains("guess "), "seed {seed}: {}", outputs[1]);
    for compared in ["online agg@v1", "features/row/v1", "/holdout"] {
        assert!(
            outputs[2].contains(compared),
            "seed {seed}: {compared} in {}",
            outputs[2]
        );
    }
    assert!(outputs[2].contains("\n0 mismatches in "), "seed {seed}: {}", outputs[2]);
    let _ = std::fs::remove_dir_all(&project);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4,
        // A seed is the whole case: shrinking it gives another project, not a smaller one.
        max_shrink_iters: 0,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/proptest-regressions/generated.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_projects_check_build_and_verify(seed in any::<u64>()) {
        check_build_verify(seed);
    }
}
