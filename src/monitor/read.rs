//! Reading a monitor's scored rows (a realtime target's prediction log, a batch target's output):
//! their extent in time, the rows per period and version, and the rows of due periods and windows
//! only, with the time range pushed down to the scan.

use std::collections::HashMap;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::functions_aggregate::expr_fn::{count, max, min};
use datafusion::prelude::{DataFrame, Expr, SessionContext, cast, ident, lit};
use datafusion::scalar::ScalarValue;
use mlsys_batch::convert::UTC;
use mlsys_batch::store::TableLocation;
use mlsys_compiler::plan::Plan;
use mlsys_compiler::syntax::literal::MICROS_PER_DAY;
use mlsys_compiler::types::BaseType;
use mlsys_kernels::Value;
use mlsys_monitor::evaluate::{Predictions, in_sample};
use mlsys_monitor::extent::{Extent, Span};
use mlsys_monitor::inputs::InputNames;

use crate::tables;

/// A target's scored rows and where they keep what monitors read: the prediction log's columns, or
/// a batch target's output (the examples' timestamp, and the label key made from its columns).
pub(super) struct Layout {
    pub(super) table: TableLocation,
    pub(super) time: (String, BaseType),
    key: Vec<(String, BaseType)>,
    /// The key is stored as its text (`label_key`), not made from columns.
    stored_key: bool,
}

impl Layout {
    pub(super) fn log(table: TableLocation) -> Layout {
        Layout {
            table,
            time: ("example_time".into(), BaseType::Timestamp),
            key: vec![("label_key".into(), BaseType::String)],
            stored_key: true,
        }
    }

    pub(super) fn scores(table: TableLocation, plan: &Plan, model: &mlsys_compiler::plan::Model) -> Layout {
        let source = &plan.sources[model.examples];
        let column = |index: mlsys_compiler::plan::ColumnIndex| {
            let column = &source.columns[index as usize];
            (column.name.clone(), column.ty.base)
        };
        Layout {
            table,
            time: source
                .timestamp
                .map_or(("scored_at".into(), BaseType::Timestamp), column),
            key: model.label_key_columns(plan).into_iter().map(column).collect(),
            stored_key: false,
        }
    }

    fn key_of(&self, values: &[Value]) -> Option<String> {
        match (self.stored_key, values) {
            (true, [Value::String(text)]) => Some(text.to_string()),
            (true, _) => None,
            (false, values) if values.iter().any(Value::is_null) => None,
            (false, values) => Some(mlsys_batch::prediction_log::label_key(values)),
        }
    }

    /// The example time as microseconds since the epoch.
    fn micros(&self) -> Expr {
        let time = cast(ident(&self.time.0), DataType::Timestamp(TimeUnit::Microsecond, None));
        cast(time, DataType::Int64)
    }

    /// The scored rows (fallback answers left out: they have no version), `within` the time ranges
    /// when given.
    async fn scored(&self, within: Option<Expr>) -> anyhow::Result<DataFrame> {
        let scored = ["version", "features", "score"]
            .into_iter()
            .fold(self.micros().is_not_null(), |all, column| {
                all.and(ident(column).is_not_null())
            });
        let frame = SessionContext::new().read_table(self.table.provider().await?)?;
        let scored = match within {
            Some(within) => scored.and(within),
            None => scored,
        };
        Ok(frame.filter(scored)?)
    }

    /// The example times of the scored rows, as one span per UTC day: a scan of the time column
    /// alone, aggregated by the query engine.
    pub(super) async fn extent(&self) -> anyhow::Result<Extent> {
        let micros = self.micros();
        let frame = self.scored(None).await?.aggregate(
            vec![micros.clone() / lit(MICROS_PER_DAY)],
            vec![
                min(micros.clone()).alias("first"),
                max(micros.clone()).alias("last"),
                count(micros).alias("rows"),
            ],
        )?;
        let mut spans = Vec::new();
        for batch in frame.select_columns(&["first", "last", "rows"])?.collect().await? {
            let first = batch.column(0).as_primitive::<Int64Type>();
            let last = batch.column(1).as_primitive::<Int64Type>();
            let rows = batch.column(2).as_primitive::<Int64Type>();
            for index in 0..batch.num_rows() {
                spans.push(Span {
                    first: first.value(index),
                    last: last.value(index),
                    rows: u64::try_from(rows.value(index)).unwrap_or(0),
                });
            }
        }
        Ok(Extent::new(spans))
    }

    /// How many scored rows each version has in each period of length `every` (`[k·every,
    /// (k+1)·every)`, keyed by its end) within `ranges`: names a period's main version before its
    /// rows are read.
    pub(super) async fn versions_per_period(
        &self,
        every: i64,
        ranges: &[(i64, i64)],
    ) -> anyhow::Result<HashMap<i64, HashMap<i64, u64>>> {
        let Some(within) = in_ranges(&self.time.0, ranges) else {
            return Ok(HashMap::new());
        };
        let micros = self.micros();
        // The period's start, rounding down for times before 1970 too.
        let start = micros.clone() - (micros.clone() % lit(every) + lit(every)) % lit(every);
        let frame = self.scored(Some(within)).await?.aggregate(
            vec![start.alias("start"), ident("version")],
            vec![count(micros).alias("rows")],
        )?;
        let mut periods: HashMap<i64, HashMap<i64, u64>> = HashMap::new();
        for batch in frame.select_columns(&["start", "version", "rows"])?.collect().await? {
            let start = batch.column(0).as_primitive::<Int64Type>();
            let version = batch.column(1).as_primitive::<Int64Type>();
            let rows = batch.column(2).as_primitive::<Int64Type>();
            for index in 0..batch.num_rows() {
                let period = periods.entry(start.value(index).saturating_add(every)).or_default();
                period.insert(version.value(index), u64::try_from(rows.value(index)).unwrap_or(0));
            }
        }
        Ok(periods)
    }

    /// Streams the scored rows within `ranges` to `row`, the inputs as `names` orders them;
    /// nothing is held. The number of rows.
    pub(super) async fn each_scored(
        &self,
        names: &[String],
        ranges: &[(i64, i64)],
        row: &mut dyn FnMut(ScoredRow<'_>),
    ) -> anyhow::Result<usize> {
        let Some(filter) = in_ranges(&self.time.0, ranges) else {
            return Ok(0);
        };
        let columns: Vec<(&str, BaseType)> = vec![
            (self.time.0.as_str(), self.time.1),
            ("version", BaseType::Int64),
            ("features", BaseType::String),
            ("score", BaseType::Float64),
        ];
        let inputs = InputNames::new(names);
        let mut values = vec![f64::NAN; names.len()];
        let mut rows = 0;
        tables::each_row(&self.table, &columns, Some(filter), &mut |values_of_row| {
            if let [
                Value::Timestamp(time),
                Value::Int(version),
                Value::String(features),
                Value::Float(score),
            ] = values_of_row
            {
                inputs.read(features, &mut values)?;
                row(ScoredRow {
                    time: *time,
                    version: *version,
                    inputs: &values,
                    score: *score,
                });
                rows += 1;
            }
            Ok(())
        })
        .await?;
        Ok(rows)
    }

    /// The scored rows within `ranges` with their label keys, inputs left out (metric windows
    /// need the scores and the labels only), in time order; a sample of `rate` of them by label
    /// key when `rate` is below 1 (rows without a key, which no label can reach, then left out).
    pub(super) async fn labelled(&self, ranges: &[(i64, i64)], rate: f64) -> anyhow::Result<Predictions> {
        let mut predictions = Predictions::default();
        let Some(filter) = in_ranges(&self.time.0, ranges) else {
            return Ok(predictions);
        };
        // The rows drift counts (with their inputs), without reading the inputs' text.
        let filter = filter.and(ident("features").is_not_null());
        let mut columns: Vec<(&str, BaseType)> = vec![
            (self.time.0.as_str(), self.time.1),
            ("version", BaseType::Int64),
            ("score", BaseType::Float64),
        ];
        columns.extend(self.key.iter().map(|(name, base)| (name.as_str(), *base)));
        tables::each_row(&self.table, &columns, Some(filter), &mut |row| {
            let [
                Value::Timestamp(time),
                Value::Int(version),
                Value::Float(score),
                key @ ..,
            ] = row
            else {
                return Ok(());
            };
            let key = self.key_of(key);
            if rate < 1.0 && !key.as_deref().is_some_and(|key| in_sample(key, rate)) {
                return Ok(());
            }
            predictions.example_time.push(*time);
            predictions.version.push(*version);
            predictions.score.push(*score);
            predictions.label_key.push(key);
            Ok(())
        })
        .await?;
        Ok(predictions.sorted_by_time())
    }
}

/// One scored row as a scan passes it on.
pub(super) struct ScoredRow<'a> {
    /// The example time.
    pub(super) time: i64,
    pub(super) version: i64,
    pub(super) inputs: &'a [f64],
    pub(super) score: f64,
}

/// Past this many separate ranges, a scan reads from the first range's start to the last's end.
const MOST_RANGES: usize = 32;

/// `time` falls in one of `ranges`; `None` for no range.
fn in_ranges(time: &str, ranges: &[(i64, i64)]) -> Option<Expr> {
    let timestamp = |micros: i64| lit(ScalarValue::TimestampMicrosecond(Some(micros), Some(UTC.into())));
    let range = |(start, end): (i64, i64)| ident(time).gt_eq(timestamp(start)).and(ident(time).lt(timestamp(end)));
    match (ranges.first(), ranges.last()) {
        (Some(first), Some(last)) if ranges.len() > MOST_RANGES => Some(range((first.0, last.1))),
        _ => ranges.iter().copied().map(range).reduce(Expr::or),
    }
}
