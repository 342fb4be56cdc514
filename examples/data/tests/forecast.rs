//! The forecast data set: determinism, the schema declared in examples/forecast/sources.mlsys, layout,
//! injected bad rows, learnable demand structure and the README command.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit, TimestampMicrosecondType};
use mlsys_compiler::plan::{Format, Source};
use mlsys_compiler::source::SourceFile;
use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, days_from_civil, format_date, parse_date};
use mlsys_compiler::types::BaseType;
use mlsys_example_data::forecast::{
    DEMAND_LOCATION, DemandRow, ForecastConfig, ForecastData, WEATHER_LOCATION, day_of_week, generate, write,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::read::{csv, partitions, rfc3339};
use crate::{files, scratch};

/// The default data set, generated and written once for the tests that only read it.
fn default_set() -> &'static (ForecastData, PathBuf) {
    static SET: OnceLock<(ForecastData, PathBuf)> = OnceLock::new();
    SET.get_or_init(|| {
        let project = scratch("forecast-default");
        let data = generate(&ForecastConfig::default());
        write(&data, &project).expect("written");
        (data, project)
    })
}

/// One row of `daily_demand` as read back.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    site_id: Option<String>,
    region: String,
    day_start: i64,
    demand: i64,
    promotion: bool,
    holiday: bool,
}

/// The Arrow schema stored in a `daily_demand` Parquet file, and its rows.
fn read_demand_file(path: &Path) -> (SchemaRef, Vec<Row>) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).expect("open")).expect("parquet");
    let schema = builder.schema().clone();
    let mut rows = Vec::new();
    for batch in builder.build().expect("reader") {
        let batch = batch.expect("batch");
        let column = |name: &str| batch.column_by_name(name).expect(name).clone();
        let (site_id, region) = (column("site_id"), column("region"));
        let (site_id, region) = (site_id.as_string::<i32>(), region.as_string::<i32>());
        let day_start = column("day_start");
        let day_start = day_start.as_primitive::<TimestampMicrosecondType>();
        let demand = column("demand");
        let demand = demand.as_primitive::<Int64Type>();
        let (promotion, holiday) = (column("promotion"), column("holiday"));
        let (promotion, holiday) = (promotion.as_boolean(), holiday.as_boolean());
        for row in 0..batch.num_rows() {
            rows.push(Row {
                site_id: site_id.is_valid(row).then(|| site_id.value(row).to_string()),
                region: region.value(row).to_string(),
                day_start: day_start.value(row),
                demand: demand.value(row),
                promotion: promotion.value(row),
                holiday: holiday.value(row),
            });
        }
    }
    (schema, rows)
}

/// Every demand row as read back, with the day of its partition.
fn read_demand(project: &Path) -> Vec<(i32, Row)> {
    let mut out = Vec::new();
    for (partition, paths) in partitions(&project.join(DEMAND_LOCATION)) {
        let day = partition_day(&partition);
        for path in paths {
            out.extend(read_demand_file(&path).1.into_iter().map(|row| (day, row)));
        }
    }
    out
}

fn read_weather(project: &Path) -> Vec<(i32, Vec<String>)> {
    let mut out = Vec::new();
    for (partition, paths) in partitions(&project.join(WEATHER_LOCATION)) {
        let day = partition_day(&partition);
        for path in paths {
            out.extend(csv(&path).1.into_iter().map(|row| (day, row)));
        }
    }
    out
}

fn partition_day(name: &str) -> i32 {
    parse_date(name.strip_prefix("dt=").expect("dt= partition")).expect("partition date")
}

/// The sources declared by the example project, which must compile without a diagnostic.
fn declared_sources() -> Vec<Source> {
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../forecast");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&project).expect("example project") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|extension| extension == "mlsys") {
            let name = path.file_name().expect("name").to_string_lossy().into_owned();
            files.push(SourceFile::new(name, std::fs::read_to_string(&path).expect("readable")));
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let compilation = mlsys_compiler::compile(&files);
    assert!(compilation.diagnostics.is_empty(), "{:?}", compilation.diagnostics);
    let plan = compilation.plan.expect("the example compiles");
    plan.sources.iter().map(|(_, source)| source.clone()).collect()
}

fn arrow_type(base: BaseType) -> DataType {
    match base {
        BaseType::String => DataType::Utf8,
        BaseType::Int64 => DataType::Int64,
        BaseType::Bool => DataType::Boolean,
        BaseType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        other => panic!("no Parquet type for {other:?}"),
    }
}

#[test]
fn same_seed_same_bytes() {
    let config = ForecastConfig {
        sites: 12,
        ..ForecastConfig::default()
    };
    let (first, second) = (scratch("forecast-determinism-1"), scratch("forecast-determinism-2"));
    write(&generate(&config), &first).expect("first run");
    write(&generate(&config), &second).expect("second run");
    let (first, second) = (files(&first), files(&second));
    assert_eq!(first.len(), 2 * 273, "one file per day and source");
    assert!(first == second, "two runs with the same seed differ");

    let other = scratch("forecast-determinism-other-seed");
    write(&generate(&ForecastConfig { seed: 7, ..config }), &other).expect("other seed");
    assert!(files(&other) != first, "another seed gives the same data");
}

#[test]
fn files_have_the_declared_schema() {
    let (_, project) = default_set();
    let sources = declared_sources();
    let demand = sources
        .iter()
        .find(|source| source.name == "daily_demand")
        .expect("daily_demand");
    assert_eq!(demand.format, Format::Parquet);
    assert_eq!(demand.location, DEMAND_LOCATION);
    for (partition, paths) in partitions(&project.join(DEMAND_LOCATION)) {
        let (schema, _) = read_demand_file(&paths[0]);
        assert_eq!(schema.fields().len(), demand.columns.len(), "{partition}");
        for (field, column) in schema.fields().iter().zip(&demand.columns) {
            assert_eq!(field.name(), &column.name, "{partition}");
            assert_eq!(
                field.data_type(),
                &arrow_type(column.ty.base),
                "{partition} {}",
                column.name
            );
            // site_id is declared non-null but stored nullable, so that the injected null can exist.
            let nullable = column.ty.nullable || column.name == "site_id";
            assert_eq!(field.is_nullable(), nullable, "{partition} {}", column.name);
        }
    }

    let weather = sources.iter().find(|source| source.name == "weather").expect("weather");
    assert_eq!(weather.format, Format::Csv);
    assert_eq!(weather.location, WEATHER_LOCATION);
    let names: Vec<&str> = weather.columns.iter().map(|column| column.name.as_str()).collect();
    for (_, paths) in partitions(&project.join(WEATHER_LOCATION)) {
        assert_eq!(csv(&paths[0]).0, names);
    }
}

#[test]
fn daily_partitions_hold_their_days_rows() {
    let (data, project) = default_set();
    let start = days_from_civil(2026, 1, 1);
    let days: Vec<String> = (start..start + 273)
        .map(|day| format!("dt={}", format_date(day)))
        .collect();
    for (location, file) in [
        (DEMAND_LOCATION, "part-00000.parquet"),
        (WEATHER_LOCATION, "part-00000.csv"),
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

    let rows = read_demand(project);
    assert_eq!(rows.len(), data.demand.len());
    assert!((12_500..=13_650).contains(&rows.len()), "{} rows", rows.len());
    for ((day, row), expected) in rows.iter().zip(&data.demand) {
        assert_eq!(
            row.day_start,
            i64::from(*day) * MICROS_PER_DAY,
            "a row outside its partition"
        );
        assert_eq!(row.site_id, expected.site_id);
        assert_eq!(row.region, expected.region);
        assert_eq!(row.day_start, expected.day_start());
        assert_eq!(row.demand, expected.demand);
        assert_eq!((row.promotion, row.holiday), (expected.promotion, expected.holiday));
    }
    let mut per_day: BTreeMap<i32, Vec<&str>> = BTreeMap::new();
    for (day, row) in &rows {
        per_day
            .entry(*day)
            .or_default()
            .push(row.site_id.as_deref().unwrap_or(""));
    }
    assert_eq!(per_day.len(), 273);
    for (day, sites) in &per_day {
        assert!(sites.len() >= 40, "{} has {} sites", format_date(*day), sites.len());
        let known: Vec<&&str> = sites.iter().filter(|site| !site.is_empty()).collect();
        assert!(
            known.windows(2).all(|pair| pair[0] < pair[1]),
            "sites unsorted or repeated on a day"
        );
    }
    let opening = data.sites_opening as usize;
    assert!(opening >= 1, "some sites open during the period");
    assert_eq!(
        per_day[&start].len(),
        50 - opening,
        "late sites have no rows before they open"
    );
    assert_eq!(per_day[&(start + 272)].len(), 50);

    let weather = read_weather(project);
    assert_eq!(weather.len(), 5 * 273, "one row per region and day");
    for (day, row) in &weather {
        let observed = rfc3339(&row[1]).expect("observed_at is RFC 3339");
        assert_eq!(
            observed.div_euclid(MICROS_PER_DAY),
            i64::from(*day),
            "a row outside its partition"
        );
    }
}

#[test]
fn injected_bad_rows_are_there() {
    let (data, project) = default_set();
    let rows = read_demand(project);
    let negative: Vec<_> = rows.iter().filter(|(_, row)| row.demand < 0).collect();
    assert_eq!(negative.len(), 1, "one negative demand");
    let null_sites: Vec<_> = rows.iter().filter(|(_, row)| row.site_id.is_none()).collect();
    assert_eq!(null_sites.len(), 1, "one null site_id");
    assert!(
        rows.iter().all(|(_, row)| row.demand != 0),
        "no zero demand: MAPE needs y != 0"
    );

    let weather = read_weather(project);
    let unparsable: Vec<_> = weather
        .iter()
        .filter(|(_, row)| row[2].parse::<f64>().is_err() || row[3].parse::<f64>().is_err())
        .collect();
    assert_eq!(unparsable.len(), 2, "{unparsable:?}");
    assert!(unparsable.iter().any(|(_, row)| row[2] == "n/a"));
    assert!(unparsable.iter().any(|(_, row)| row[3].ends_with("°C")));
    let parsed = weather.iter().filter_map(|(_, row)| row[2].parse::<f64>().ok());
    assert!(
        parsed.clone().all(|rain| rain >= 0.0),
        "the contract's expect rain_mm >= 0 holds"
    );

    assert_eq!(data.bad_rows.len(), 4);
    let reported = |source: &str, key: &str, day: i32| {
        data.bad_rows
            .iter()
            .any(|bad| bad.source == source && bad.key == key && bad.day == day)
    };
    let (day, row) = negative[0];
    assert!(reported("daily_demand", row.site_id.as_deref().expect("site"), *day));
    assert!(
        data.bad_rows
            .iter()
            .any(|bad| bad.source == "daily_demand" && bad.day == null_sites[0].0)
    );
    for (day, row) in unparsable {
        assert!(reported("weather", &row[0], *day), "{row:?} not reported");
    }
    // In the middle of the period: the holdout month and the windows' warm-up stay clean.
    let start = days_from_civil(2026, 1, 1);
    assert!(
        data.bad_rows
            .iter()
            .all(|bad| bad.day >= start + 45 && bad.day < start + 164)
    );
}

/// Mean absolute percentage error of `forecast` against the demand of `rows`.
fn mape(rows: &[&DemandRow], forecast: impl Fn(&DemandRow) -> f64) -> f64 {
    let errors: Vec<f64> = rows
        .iter()
        .map(|row| ((row.demand as f64 - forecast(row)) / row.demand as f64).abs())
        .collect();
    errors.iter().sum::<f64>() / errors.len() as f64
}

#[test]
fn demand_has_learnable_structure() {
    let (data, _) = default_set();
    let rows: Vec<&DemandRow> = data
        .demand
        .iter()
        .filter(|row| row.demand > 0 && row.site_id.is_some())
        .collect();
    // Noise alone: the ground-truth mean is within about 6% of the demand.
    let noise = mape(&rows, |row| row.expected);
    assert!((0.04..0.09).contains(&noise), "noise MAPE {noise}");

    // A seasonal-naive forecast made at the start of the row's week (Thursday, as the example's `every 7d`
    // windows): the site's mean on the same kind of day over the four weeks before. It is far better
    // than the site's overall mean: weekly shape and recent level carry signal.
    let mut history: BTreeMap<&str, Vec<&DemandRow>> = BTreeMap::new();
    for row in &rows {
        history
            .entry(row.site_id.as_deref().expect("site"))
            .or_default()
            .push(row);
    }
    let weekend = |day: i32| day_of_week(day) >= 6;
    let mut naive_errors = Vec::new();
    let mut flat_errors = Vec::new();
    for site_rows in history.values() {
        let site_mean = site_rows.iter().map(|row| row.demand as f64).sum::<f64>() / site_rows.len() as f64;
        let first_day = site_rows[0].day;
        for row in site_rows.iter().filter(|row| row.day >= first_day + 35) {
            let week_start = row.day - row.day.rem_euclid(7); // day 0, 1970-01-01, was a Thursday
            let same_kind: Vec<f64> = site_rows
                .iter()
                .filter(|past| {
                    (week_start - 28..week_start).contains(&past.day) && weekend(past.day) == weekend(row.day)
                })
                .map(|past| past.demand as f64)
                .collect();
            let naive = same_kind.iter().sum::<f64>() / same_kind.len() as f64;
            naive_errors.push(((row.demand as f64 - naive) / row.demand as f64).abs());
            flat_errors.push(((row.demand as f64 - site_mean) / row.demand as f64).abs());
        }
    }
    let naive = naive_errors.iter().sum::<f64>() / naive_errors.len() as f64;
    let flat = flat_errors.iter().sum::<f64>() / flat_errors.len() as f64;
    assert!(naive < 0.2 && naive < 0.7 * flat, "seasonal-naive {naive}, flat {flat}");
    assert!(
        naive > 1.3 * noise,
        "promotions, holidays and weather leave room to learn: {naive}"
    );

    // Weekends differ, in both directions depending on the site.
    let ratios: Vec<f64> = history
        .values()
        .map(|site_rows| {
            let mean = |weekend_days: bool| {
                let values: Vec<f64> = site_rows
                    .iter()
                    .filter(|row| weekend(row.day) == weekend_days && !row.promotion && !row.holiday)
                    .map(|row| row.demand as f64)
                    .collect();
                values.iter().sum::<f64>() / values.len() as f64
            };
            mean(true) / mean(false)
        })
        .collect();
    assert!(ratios.iter().any(|ratio| *ratio < 0.75), "{ratios:?}");
    assert!(ratios.iter().any(|ratio| *ratio > 1.1), "{ratios:?}");

    // Promotions lift demand and holidays lower it, relative to the ground truth's other factors.
    let lift = |test: &dyn Fn(&DemandRow) -> bool| {
        let chosen: Vec<f64> = rows
            .iter()
            .filter(|row| test(row))
            .map(|row| row.demand as f64)
            .collect();
        let rest: Vec<f64> = rows
            .iter()
            .filter(|row| !test(row))
            .map(|row| row.demand as f64)
            .collect();
        (chosen.iter().sum::<f64>() / chosen.len() as f64) / (rest.iter().sum::<f64>() / rest.len() as f64)
    };
    let promotion_share = rows.iter().filter(|row| row.promotion).count() as f64 / rows.len() as f64;
    assert!(
        (0.05..0.25).contains(&promotion_share),
        "promotion share {promotion_share}"
    );
    assert!(lift(&|row| row.promotion) > 1.1, "promotion lift");
    assert!(lift(&|row| row.holiday) < 0.9, "holiday dip");
}

#[test]
fn the_regime_change_leaves_every_file_before_it_byte_identical() {
    let (data, project) = default_set();
    let plain = scratch("forecast-without-drift");
    let config = ForecastConfig {
        drift_from: ForecastConfig::default().end(),
        ..ForecastConfig::default()
    };
    write(&generate(&config), &plain).expect("written");
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
    assert_eq!(drifted.len(), 2 * 243, "January to August: a file per day and source");
    assert!(drifted == plain_files, "a file before the drift changed");
}

#[test]
fn september_steps_up_two_sites_in_five() {
    let (data, _) = default_set();
    let drift_from = data.config.drift_from;
    // Each site's mean expected demand in the four weeks after the drift over the four before.
    let step = |site: &str| {
        let mean = |from: i32| {
            let values: Vec<f64> = data
                .demand
                .iter()
                .filter(|row| row.site_id.as_deref() == Some(site) && (from..from + 28).contains(&row.day))
                .map(|row| row.expected)
                .collect();
            values.iter().sum::<f64>() / values.len() as f64
        };
        mean(drift_from) / mean(drift_from - 28)
    };
    for index in 0..10 {
        let ratio = step(&format!("site_{index:03}"));
        if mlsys_example_data::forecast::drift::changes(index) {
            assert!(ratio > 1.5, "site_{index:03}: {ratio}");
        } else {
            assert!((0.8..1.2).contains(&ratio), "site_{index:03}: {ratio}");
        }
    }
}

#[test]
fn rerun_replaces_the_old_data_only() {
    let project = scratch("forecast-replace");
    let small = ForecastConfig {
        sites: 6,
        days: 40,
        ..ForecastConfig::default()
    };
    write(
        &generate(&ForecastConfig {
            seed: 1,
            ..small.clone()
        }),
        &project,
    )
    .expect("first run");
    std::fs::create_dir_all(project.join(DEMAND_LOCATION).join("dt=1999-01-01")).expect("stale");
    std::fs::create_dir_all(project.join("data/.example-data.tmp/new")).expect("staging");
    std::fs::create_dir_all(project.join("data/scores")).expect("scores");
    std::fs::write(project.join("data/scores/keep.txt"), "mine").expect("keep");
    write(&generate(&small), &project).expect("second run");

    let fresh = scratch("forecast-replace-fresh");
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
        readme.contains("cargo run -p mlsys-example-data -- forecast --project"),
        "README command"
    );
    let project = scratch("forecast-cli");
    let output = Command::new(env!("CARGO_BIN_EXE_example-data"))
        .args(["forecast", "--project"])
        .arg(&project)
        .output()
        .expect("example-data runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "daily_demand",
        "weather",
        "bad rows      4 injected",
        "2026-01-01 .. 2026-09-30",
    ] {
        assert!(stdout.contains(expected), "{expected} missing from:\n{stdout}");
    }
    assert!(stdout.contains(&project.join(DEMAND_LOCATION).display().to_string()));
    let (_, default_project) = default_set();
    assert!(
        files(&project.join("data")) == files(&default_project.join("data")),
        "CLI default != library default"
    );

    for arguments in [["--start", "2026-02-30"], ["--sites", "0"]] {
        let refused = Command::new(env!("CARGO_BIN_EXE_example-data"))
            .arg("forecast")
            .args(arguments)
            .arg("--project")
            .arg(&project)
            .output()
            .expect("example-data runs");
        assert!(!refused.status.success(), "{arguments:?} is refused");
    }
}
