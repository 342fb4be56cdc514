//! The fraud data set: determinism, the schema declared in examples/fraud/sources.mlsys, layout,
//! injected bad rows, label consistency, fraud patterns and the README command.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use arrow::datatypes::{DataType, TimeUnit};
use mlsys_compiler::plan::{Format, Source};
use mlsys_compiler::source::SourceFile;
use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, days_from_civil, format_date};
use mlsys_compiler::types::BaseType;
use mlsys_example_data::fraud::{
    CHARGEBACKS_LOCATION, FraudConfig, FraudData, TRANSACTIONS_LOCATION, day_of, generate, write,
};

use crate::read::{Row, csv, parquet, partitions, rfc3339};
use crate::{files, scratch};

/// The default data set, generated and written once for the tests that only read it.
fn default_set() -> &'static (FraudData, PathBuf) {
    static SET: OnceLock<(FraudData, PathBuf)> = OnceLock::new();
    SET.get_or_init(|| {
        let project = scratch("fraud-default");
        let data = generate(&FraudConfig::default());
        write(&data, &project).expect("written");
        (data, project)
    })
}

/// Every transaction row as read back, with the day of its partition.
fn read_transactions(project: &Path) -> Vec<(i32, Row)> {
    let mut out = Vec::new();
    for (partition, paths) in partitions(&project.join(TRANSACTIONS_LOCATION)) {
        let day = partition_day(&partition);
        for path in paths {
            out.extend(parquet(&path).1.into_iter().map(|row| (day, row)));
        }
    }
    out
}

fn read_chargebacks(project: &Path) -> Vec<(i32, Vec<String>)> {
    let mut out = Vec::new();
    for (partition, paths) in partitions(&project.join(CHARGEBACKS_LOCATION)) {
        let day = partition_day(&partition);
        for path in paths {
            out.extend(csv(&path).1.into_iter().map(|row| (day, row)));
        }
    }
    out
}

fn partition_day(name: &str) -> i32 {
    let date = name.strip_prefix("dt=").expect("dt= partition");
    mlsys_compiler::syntax::literal::parse_date(date).expect("partition date")
}

/// The sources declared by the example project.
fn declared_sources() -> Vec<Source> {
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fraud");
    let mut files = Vec::new();
    for name in ["sources.mlsys", "features.mlsys", "model.mlsys"] {
        let text = std::fs::read_to_string(project.join(name)).expect("example project");
        files.push(SourceFile::new(name, text));
    }
    let compilation = mlsys_compiler::compile(&files);
    let plan = compilation.plan.expect("the example compiles");
    plan.sources.iter().map(|(_, source)| source.clone()).collect()
}

#[test]
fn same_seed_same_bytes() {
    let config = FraudConfig {
        users: 400,
        ..FraudConfig::default()
    };
    let (first, second) = (scratch("fraud-determinism-1"), scratch("fraud-determinism-2"));
    write(&generate(&config), &first).expect("first run");
    write(&generate(&config), &second).expect("second run");
    let (first, second) = (files(&first), files(&second));
    assert_eq!(first.len(), 2 * 182, "one file per day and source");
    assert!(first == second, "two runs with the same seed differ");

    let other = scratch("fraud-determinism-other-seed");
    write(&generate(&FraudConfig { seed: 7, ..config }), &other).expect("other seed");
    assert!(files(&other) != first, "another seed gives the same data");
}

/// Labels that keep arriving after the payments end only add chargeback partitions: every file of
/// the snapshot taken on the last day is unchanged, and the reports due later are in the new days.
#[test]
fn later_labels_only_add_chargebacks_after_the_end() {
    let config = FraudConfig {
        users: 400,
        ..FraudConfig::default()
    };
    let later = FraudConfig {
        labels_until: Some(config.end() + 45),
        ..config.clone()
    };
    let (snapshot, arrived) = (scratch("fraud-labels-snapshot"), scratch("fraud-labels-arrived"));
    let (before, after) = (generate(&config), generate(&later));
    write(&before, &snapshot).expect("snapshot");
    write(&after, &arrived).expect("labels arrived");
    let (snapshot, arrived) = (files(&snapshot), files(&arrived));
    assert_eq!(arrived.len(), snapshot.len() + 45, "45 more chargeback days");
    for file in &snapshot {
        assert!(arrived.contains(file), "{} changed", file.0);
    }
    assert_eq!(after.bad_rows.len(), before.bad_rows.len());
    assert_eq!(after.reports_after_end, 0, "every report is within 45 days");
    let late = after.chargebacks.len() - before.chargebacks.len();
    assert!(late >= before.reports_after_end, "{late} late rows");
}

#[test]
fn parquet_schema_is_the_declared_one() {
    let (_, project) = default_set();
    let sources = declared_sources();
    let declared = sources
        .iter()
        .find(|source| source.name == "transactions")
        .expect("transactions");
    assert_eq!(declared.format, Format::Parquet);
    assert_eq!(declared.location, TRANSACTIONS_LOCATION);
    let device_os_from = days_from_civil(2026, 4, 1);
    for (partition, paths) in partitions(&project.join(TRANSACTIONS_LOCATION)) {
        let (schema, _) = parquet(&paths[0]);
        let fields = schema.fields();
        for (position, column) in declared.columns.iter().enumerate() {
            let field = &fields[position];
            assert_eq!(field.name(), &column.name, "{partition}");
            let expected = match column.ty.base {
                BaseType::String => DataType::Utf8,
                BaseType::Float64 => DataType::Float64,
                BaseType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                other => panic!("no Parquet type for {other:?}"),
            };
            assert_eq!(field.data_type(), &expected, "{partition} {}", column.name);
            // user_id is declared non-null but stored nullable: the injected null must be representable,
            // and the reader quarantines it (the contract's not_null).
            let nullable = column.ty.nullable || column.name == "user_id";
            assert_eq!(field.is_nullable(), nullable, "{partition} {}", column.name);
        }
        let extra: Vec<_> = fields.iter().skip(declared.columns.len()).collect();
        if partition_day(&partition) >= device_os_from {
            assert_eq!(extra.len(), 1, "{partition}");
            assert_eq!(extra[0].name(), "device_os");
            assert_eq!(extra[0].data_type(), &DataType::Utf8);
        } else {
            assert!(extra.is_empty(), "{partition} has {extra:?}");
        }
    }

    let chargebacks = sources
        .iter()
        .find(|source| source.name == "chargebacks")
        .expect("chargebacks");
    assert_eq!(chargebacks.format, Format::Csv);
    assert_eq!(chargebacks.location, CHARGEBACKS_LOCATION);
    let names: Vec<&str> = chargebacks.columns.iter().map(|column| column.name.as_str()).collect();
    for (_, paths) in partitions(&project.join(CHARGEBACKS_LOCATION)) {
        assert_eq!(csv(&paths[0]).0, names);
    }
}

#[test]
fn daily_partitions_hold_their_days_rows() {
    let (data, project) = default_set();
    let start = days_from_civil(2026, 1, 1);
    let days: Vec<String> = (start..start + 182)
        .map(|day| format!("dt={}", format_date(day)))
        .collect();
    for (location, file) in [
        (TRANSACTIONS_LOCATION, "part-00000.parquet"),
        (CHARGEBACKS_LOCATION, "part-00000.csv"),
    ] {
        let found = partitions(&project.join(location));
        assert_eq!(found.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>(), days);
        for (name, paths) in &found {
            let names: Vec<_> = paths.iter().map(|path| path.file_name().expect("name")).collect();
            assert_eq!(names, [file], "{location}/{name}");
        }
    }
    let entries: Vec<_> = std::fs::read_dir(project.join("data")).expect("data").collect();
    assert_eq!(entries.len(), 1, "only data/raw: no staging left behind");

    let rows = read_transactions(project);
    assert_eq!(rows.len(), data.transactions.len());
    assert!((80_000..=120_000).contains(&rows.len()), "{} rows", rows.len());
    assert!(
        rows.iter().all(|(day, row)| day_of(row.event_time) == *day),
        "a row outside its partition"
    );
    assert!(
        rows.windows(2)
            .all(|pair| pair[0].0 != pair[1].0 || pair[0].1.event_time <= pair[1].1.event_time),
        "rows not sorted by event_time within a file"
    );
    let mut per_day: BTreeMap<i32, usize> = BTreeMap::new();
    for (day, _) in &rows {
        *per_day.entry(*day).or_default() += 1;
    }
    assert_eq!(per_day.len(), 182);
    assert!(
        per_day.values().all(|count| *count > 300),
        "every day has payments: {per_day:?}"
    );
    let device_os_from = days_from_civil(2026, 4, 1);
    for ((day, row), expected) in rows.iter().zip(&data.transactions) {
        assert_eq!(row.txn_id, expected.txn_id);
        assert_eq!(row.user_id, expected.user_id);
        assert_eq!(row.merchant, expected.merchant);
        assert_eq!(row.amount.to_bits(), expected.amount.to_bits());
        assert_eq!(row.country, expected.country);
        assert_eq!(row.channel, expected.channel);
        assert_eq!(row.event_time, expected.event_time);
        let device_os = expected
            .device_os
            .filter(|_| *day >= device_os_from)
            .map(str::to_string);
        assert_eq!(row.device_os, device_os, "{}", row.txn_id);
    }
    let merchants_missing = rows.iter().filter(|(_, row)| row.merchant.is_none()).count();
    assert!(
        merchants_missing > 0 && merchants_missing < rows.len() / 20,
        "{merchants_missing} null merchants"
    );
    let with_device = rows
        .iter()
        .filter(|(day, row)| *day >= device_os_from && row.device_os.is_some())
        .count();
    assert!(with_device > 10_000, "device_os mostly set from April: {with_device}");

    let chargebacks = read_chargebacks(project);
    assert_eq!(chargebacks.len(), data.chargebacks.len());
    for (day, row) in &chargebacks {
        if let Some(reported) = rfc3339(&row[2]) {
            assert_eq!(day_of(reported), *day, "chargeback outside its report date's partition");
        }
    }
}

#[test]
fn injected_bad_rows_are_there() {
    let (data, project) = default_set();
    let rows = read_transactions(project);
    let negative: Vec<_> = rows.iter().filter(|(_, row)| row.amount < 0.0).collect();
    assert_eq!(negative.len(), 1, "one negative amount");
    let null_users: Vec<_> = rows.iter().filter(|(_, row)| row.user_id.is_none()).collect();
    assert_eq!(null_users.len(), 1, "one null user_id");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (_, row) in &rows {
        *counts.entry(&row.txn_id).or_default() += 1;
    }
    let duplicated: Vec<_> = counts.iter().filter(|(_, count)| **count > 1).collect();
    assert_eq!(duplicated.len(), 1, "one duplicated txn_id");
    assert_eq!(*duplicated[0].1, 2);

    let chargebacks = read_chargebacks(project);
    let bad_times: Vec<_> = chargebacks
        .iter()
        .filter(|(_, row)| rfc3339(&row[2]).is_none())
        .collect();
    assert_eq!(bad_times.len(), 1, "one unparsable reported_at: {bad_times:?}");
    let bad_bools: Vec<_> = chargebacks
        .iter()
        .filter(|(_, row)| !["true", "false"].contains(&row[1].as_str()))
        .collect();
    assert_eq!(bad_bools.len(), 1);
    assert_eq!(bad_bools[0].1[1], "maybe");

    let reported: Vec<&str> = data.bad_rows.iter().map(|bad| bad.txn_id.as_str()).collect();
    assert_eq!(reported.len(), 5);
    assert!(reported.contains(&negative[0].1.txn_id.as_str()));
    assert!(reported.contains(&null_users[0].1.txn_id.as_str()));
    assert!(reported.contains(duplicated[0].0));
    assert!(reported.contains(&bad_times[0].1[0].as_str()));
    assert!(reported.contains(&bad_bools[0].1[0].as_str()));
}

#[test]
fn chargebacks_follow_their_payments() {
    let (data, project) = default_set();
    let payments: HashMap<String, (i64, bool)> = data
        .transactions
        .iter()
        .map(|row| (row.txn_id.clone(), (row.event_time, row.fraud)))
        .collect();
    let mut reported_fraud = 0;
    let mut seen = std::collections::HashSet::new();
    for (_, row) in read_chargebacks(project) {
        let (event_time, fraud) = payments.get(&row[0]).copied().expect("chargeback of an unknown txn_id");
        let Some(reported) = rfc3339(&row[2]) else { continue };
        let delay = reported - event_time;
        assert!(
            (MICROS_PER_DAY..=45 * MICROS_PER_DAY).contains(&delay),
            "{} reported {delay} µs after the payment",
            row[0]
        );
        match row[1].as_str() {
            "true" => {
                assert!(fraud, "{} labelled fraud but legitimate", row[0]);
                assert!(seen.insert(row[0].clone()), "{} reported twice", row[0]);
                reported_fraud += 1;
            }
            "false" => assert!(!fraud, "{} labelled legitimate but fraud", row[0]),
            _ => {}
        }
    }
    let fraudulent = data.transactions.iter().filter(|row| row.fraud).count();
    assert_eq!(
        reported_fraud + data.reports_after_end,
        fraudulent,
        "every fraud reported or due later"
    );
    assert!(data.reports_after_end > 0, "some labels arrive after the data ends");
}

#[test]
fn fraud_is_rare_and_learnable() {
    let (data, _) = default_set();
    let before_drift = i64::from(data.config.drift_from) * MICROS_PER_DAY;
    let (fraud, legit): (Vec<_>, Vec<_>) = data
        .transactions
        .iter()
        .filter(|row| row.event_time < before_drift)
        .partition(|row| row.fraud);
    let rate = fraud.len() as f64 / data.transactions.len() as f64;
    assert!((0.01..=0.02).contains(&rate), "fraud rate {rate}");
    let share = |rows: &[&mlsys_example_data::fraud::Transaction], test: &dyn Fn(i64, &str) -> bool| {
        rows.iter().filter(|row| test(row.event_time, row.country)).count() as f64 / rows.len() as f64
    };
    let night = |time: i64, _: &str| time.rem_euclid(MICROS_PER_DAY) < 6 * 3_600_000_000;
    let foreign = |_: i64, country: &str| country != "US";
    assert!(share(&fraud, &night) > 3.0 * share(&legit, &night), "night");
    assert!(share(&fraud, &foreign) > 2.0 * share(&legit, &foreign), "foreign");
    let mean = |rows: &[&mlsys_example_data::fraud::Transaction]| {
        rows.iter().map(|row| row.amount).sum::<f64>() / rows.len() as f64
    };
    assert!(mean(&fraud) > 2.5 * mean(&legit), "amounts");
    let channels: std::collections::BTreeSet<&str> = data.transactions.iter().map(|row| row.channel).collect();
    assert_eq!(
        channels.into_iter().collect::<Vec<_>>(),
        ["api", "mobile", "pos", "web"]
    );
}

/// The same data set without its drift: the drift starting at the end.
fn without_drift(project: &Path) -> FraudData {
    let config = FraudConfig {
        drift_from: FraudConfig::default().end(),
        ..FraudConfig::default()
    };
    let data = generate(&config);
    write(&data, project).expect("written");
    data
}

#[test]
fn the_drift_leaves_every_file_before_it_byte_identical() {
    let (data, project) = default_set();
    let plain = scratch("fraud-without-drift");
    without_drift(&plain);
    let drift_from = format!("dt={}", format_date(data.config.drift_from));
    let before = |root: &Path| -> Vec<(String, Vec<u8>)> {
        let mut kept: Vec<_> = files(&root.join("data/raw"))
            .into_iter()
            .filter(|(path, _)| {
                path.split('/')
                    .nth(1)
                    .is_some_and(|partition| partition < drift_from.as_str())
            })
            .collect();
        kept.sort();
        kept
    };
    let (drifted, plain_files) = (before(project), before(&plain));
    assert_eq!(drifted.len(), 2 * 151, "January to May: a file per day and source");
    assert!(drifted == plain_files, "a file before the drift changed");
}

#[test]
fn june_costs_more_and_brings_in_person_fraud_at_home() {
    let (data, _) = default_set();
    let drift_from = i64::from(data.config.drift_from) * MICROS_PER_DAY;
    let month = MICROS_PER_DAY * 30;
    let median = |from: i64| {
        let mut amounts: Vec<f64> = data
            .transactions
            .iter()
            .filter(|row| !row.fraud && (from..from + month).contains(&row.event_time))
            .map(|row| row.amount)
            .collect();
        amounts.sort_by(f64::total_cmp);
        amounts[amounts.len() / 2]
    };
    let ratio = median(drift_from) / median(drift_from - month);
    assert!((1.6..2.0).contains(&ratio), "June's median amount / May's: {ratio}");
    // Fraud in person at home: rare before the drift, most of it after.
    let in_person_at_home = |from: i64, to: i64| {
        let fraud: Vec<_> = data
            .transactions
            .iter()
            .filter(|row| row.fraud && (from..to).contains(&row.event_time))
            .collect();
        let share = fraud
            .iter()
            .filter(|row| row.channel == "pos" && row.country == "US")
            .count() as f64
            / fraud.len() as f64;
        (share, fraud.len())
    };
    let (before, _) = in_person_at_home(i64::MIN, drift_from);
    let (after, count) = in_person_at_home(drift_from, i64::MAX);
    assert!(before < 0.05, "in-person fraud at home before June: {before}");
    assert!(after > 0.4 && count > 500, "after: {after} of {count}");
}

#[test]
fn rerun_replaces_the_old_data_only() {
    let project = scratch("fraud-replace");
    let small = FraudConfig {
        users: 50,
        days: 40,
        ..FraudConfig::default()
    };
    write(
        &generate(&FraudConfig {
            seed: 1,
            ..small.clone()
        }),
        &project,
    )
    .expect("first run");
    // Leftovers: a stale partition, a killed run's staging directory, and other data of the project.
    std::fs::create_dir_all(project.join(TRANSACTIONS_LOCATION).join("dt=1999-01-01")).expect("stale");
    std::fs::create_dir_all(project.join("data/.example-data.tmp/new")).expect("staging");
    std::fs::create_dir_all(project.join("data/scores")).expect("scores");
    std::fs::write(project.join("data/scores/keep.txt"), "mine").expect("keep");
    write(&generate(&small), &project).expect("second run");

    let fresh = scratch("fraud-replace-fresh");
    write(&generate(&small), &fresh).expect("fresh run");
    assert!(files(&project.join("data/raw")) == files(&fresh.join("data/raw")));
    assert!(!project.join("data/.example-data.tmp").exists());
    assert_eq!(
        std::fs::read_to_string(project.join("data/scores/keep.txt")).expect("kept"),
        "mine"
    );
}

#[test]
fn readme_command_works() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README");
    assert!(
        readme.contains("cargo run -p mlsys-example-data -- fraud --project"),
        "README command"
    );
    let project = scratch("fraud-cli");
    // The binary that `cargo run -p mlsys-example-data -- fraud --project <dir>` runs.
    let output = Command::new(env!("CARGO_BIN_EXE_example-data"))
        .args(["fraud", "--project"])
        .arg(&project)
        .output()
        .expect("example-data runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in ["transactions", "chargebacks", "bad rows      5 injected", "2026-01-01"] {
        assert!(stdout.contains(expected), "{expected} missing from:\n{stdout}");
    }
    assert!(stdout.contains(&project.join(TRANSACTIONS_LOCATION).display().to_string()));
    let (default_data, default_project) = default_set();
    assert_eq!(read_transactions(&project).len(), default_data.transactions.len());
    assert!(
        files(&project.join("data")) == files(&default_project.join("data")),
        "CLI default != library default"
    );

    let bad = Command::new(env!("CARGO_BIN_EXE_example-data"))
        .args(["fraud", "--start", "2026-02-30", "--project"])
        .arg(&project)
        .output()
        .expect("example-data runs");
    assert!(!bad.status.success(), "an impossible --start date is refused");
}
