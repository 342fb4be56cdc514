//! The feature plan: the checked, typed, name-resolved form of a project. It is the only thing the
//! runtime crates see. Expressions are typed, numeric promotion is explicit (`ToFloat`), and every
//! feature and feature group carries its canonical hash.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::builtins::{AggregateFunction, Builtin};
use crate::plan::arena::*;
use crate::types::Type;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub sources: Arena<SourceId, Source>,
    pub contracts: Arena<ContractId, Contract>,
    pub entities: Arena<EntityId, Entity>,
    pub groups: Arena<GroupId, FeatureGroup>,
    pub features: Arena<FeatureId, Feature>,
    pub exprs: Arena<ExprId, Expr>,
    pub models: Arena<ModelId, Model>,
    pub serves: Arena<ServeId, Serve>,
    pub monitors: Arena<MonitorId, Monitor>,
}

impl Plan {
    /// The columns of `source` that some contract `require`s.
    pub fn required_columns(&self, source: SourceId) -> std::collections::BTreeSet<ColumnIndex> {
        self.contracts
            .values()
            .filter(|contract| contract.source == source)
            .flat_map(|contract| contract.required.iter().copied())
            .collect()
    }
}

/// A canonical hash: hex SHA-256 (first 128 bits) of a canonical definition text.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Hash(pub String);

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Parquet,
    Csv,
    Json,
    Delta,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partitioning {
    None,
    Daily,
    Hourly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownColumns {
    Ignore,
    Warn,
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BadRows {
    Quarantine,
    Fail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub ty: Type,
}

/// Index of a column in its source's `columns`.
pub type ColumnIndex = u32;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub name: String,
    pub doc: Option<String>,
    pub format: Format,
    pub location: String,
    pub timestamp: Option<ColumnIndex>,
    pub partitioning: Partitioning,
    pub columns: Vec<Column>,
    pub unknown_columns: UnknownColumns,
    pub bad_rows: BadRows,
}

impl Source {
    pub fn column_index(&self, name: &str) -> Option<ColumnIndex> {
        self.columns
            .iter()
            .position(|column| column.name == name)
            .and_then(|index| u32::try_from(index).ok())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Expectation {
    /// A boolean expression over the source's columns that must not be false.
    Holds {
        expr: ExprId,
    },
    Unique {
        column: ColumnIndex,
    },
    NotNull {
        column: ColumnIndex,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deprecation {
    pub column: ColumnIndex,
    /// Days since 1970-01-01.
    pub since: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contract {
    pub name: String,
    pub doc: Option<String>,
    pub source: SourceId,
    pub owner: String,
    pub notice_micros: i64,
    pub required: Vec<ColumnIndex>,
    pub expectations: Vec<Expectation>,
    pub deprecations: Vec<Deprecation>,
    pub hash: Hash,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    pub name: String,
    pub doc: Option<String>,
    pub keys: Vec<Column>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureGroup {
    pub name: String,
    pub version: u32,
    pub doc: Option<String>,
    pub entity: Option<EntityId>,
    pub source: SourceId,
    /// For entity groups: the source column holding each entity key, in key order.
    pub key_columns: Vec<ColumnIndex>,
    /// In declaration order (the order of output columns).
    pub features: Vec<FeatureId>,
    pub hash: Hash,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub group: GroupId,
    pub name: String,
    pub doc: Option<String>,
    pub ty: Type,
    pub kind: FeatureKind,
    pub hash: Hash,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FeatureKind {
    /// Computed on one row of the group's source (or on the request, online).
    Row { expr: ExprId },
    /// A windowed aggregate of an entity group.
    Aggregate(Aggregate),
    /// Computed from other features of an entity group at lookup time.
    Derived { expr: ExprId },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub function: AggregateFunction,
    pub argument: Option<ExprId>,
    pub filter: Option<ExprId>,
    pub window_micros: i64,
    pub resolution_micros: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Type,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnaryOp {
    Negate,
    Not,
}

/// Binary operators. Operands have the same base type except `timestamp ± duration` and
/// `timestamp - timestamp`; promotion to float64 is an explicit `ToFloat` node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryOp {
    Or,
    And,
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    Add,
    Subtract,
    Multiply,
    Divide,
}

impl BinaryOp {
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Equal => "eq",
            BinaryOp::NotEqual => "ne",
            BinaryOp::Less => "lt",
            BinaryOp::LessEqual => "le",
            BinaryOp::Greater => "gt",
            BinaryOp::GreaterEqual => "ge",
            BinaryOp::Add => "add",
            BinaryOp::Subtract => "sub",
            BinaryOp::Multiply => "mul",
            BinaryOp::Divide => "div",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    /// Microseconds.
    Duration(i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricSide {
    /// The model being trained.
    Candidate,
    /// The model currently in production.
    Production,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum ExprKind {
    Literal {
        value: Literal,
    },
    Column {
        source: SourceId,
        column: ColumnIndex,
    },
    Feature {
        feature: FeatureId,
    },
    /// int64 → float64, nearest value, ties to even.
    ToFloat {
        operand: ExprId,
    },
    Unary {
        unary: UnaryOp,
        operand: ExprId,
    },
    Binary {
        binary: BinaryOp,
        lhs: ExprId,
        rhs: ExprId,
    },
    Call {
        function: Builtin,
        arguments: Vec<ExprId>,
    },
    In {
        operand: ExprId,
        list: Vec<Literal>,
        negated: bool,
    },
    If {
        branches: Vec<(ExprId, ExprId)>,
        otherwise: ExprId,
    },
    /// A training metric, in `promote_if` only.
    Metric {
        side: MetricSide,
        metric: Metric,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Auc,
    Logloss,
    Accuracy,
    F1,
    Rmse,
    Mae,
    Mape,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::Auc,
        Metric::Logloss,
        Metric::Accuracy,
        Metric::F1,
        Metric::Rmse,
        Metric::Mae,
        Metric::Mape,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Metric::Auc => "auc",
            Metric::Logloss => "logloss",
            Metric::Accuracy => "accuracy",
            Metric::F1 => "f1",
            Metric::Rmse => "rmse",
            Metric::Mae => "mae",
            Metric::Mape => "mape",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Metric::ALL.into_iter().find(|metric| metric.name() == name)
    }

    /// The metrics recorded for every version of a model of `task`, in [`Metric::ALL`]'s order.
    pub fn all_for(task: Task) -> &'static [Metric] {
        match task {
            Task::Classification => &Metric::ALL[..4],
            Task::Regression => &Metric::ALL[4..],
        }
    }

    pub fn task(self) -> Task {
        match self {
            Metric::Auc | Metric::Logloss | Metric::Accuracy | Metric::F1 => Task::Classification,
            Metric::Rmse | Metric::Mae | Metric::Mape => Task::Regression,
        }
    }

    /// Whether a larger value is better (drives monitor rule direction checks).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::Auc | Metric::Accuracy | Metric::F1)
    }

    /// Metrics bounded to [0, 1].
    pub fn is_bounded(self) -> bool {
        self.higher_is_better()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// bool label; the model outputs the probability of `true` as float64.
    Classification,
    /// numeric label; the model outputs float64.
    Regression,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub source: SourceId,
    /// The label column; for a label expression, the first column it reads (for messages).
    pub column: ColumnIndex,
    /// For a label from another source: the join key's column in the examples source and in the
    /// label source.
    pub join: Option<(ColumnIndex, ColumnIndex)>,
    pub default: Option<Literal>,
    /// A label computed from the example's own columns (`label = arr_delay > 15`): evaluated on
    /// each example row; `source` is the examples source and there is no join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expr: Option<ExprId>,
}

impl Model {
    /// The examples columns whose values find a prediction's label (lang-spec §7.7, the label
    /// key): a joined label's key column; for a label on the example's own columns, the
    /// timestamp and the columns holding the keys of the pinned groups' entities, in column order.
    pub fn label_key_columns(&self, plan: &Plan) -> Vec<ColumnIndex> {
        if let Some((example_key, _)) = self.label.join {
            return vec![example_key];
        }
        let source = &plan.sources[self.examples];
        let mut columns: Vec<ColumnIndex> = source.timestamp.into_iter().collect();
        for pin in &self.pins {
            let Some(entity) = plan.groups[pin.group].entity else {
                continue;
            };
            columns.extend(
                plan.entities[entity]
                    .keys
                    .iter()
                    .filter_map(|key| source.column_index(&key.name)),
            );
        }
        columns.sort_unstable();
        columns.dedup();
        columns
    }
}

impl Label {
    /// The columns of the example row the label is made of: the label column of the examples
    /// source, or every column a label expression reads; none for a label joined from another
    /// source. A feature or a fallback reading one of them would hand the model its answer.
    pub fn example_columns(&self, plan: &Plan, examples: SourceId) -> Vec<(SourceId, ColumnIndex)> {
        match self.expr {
            Some(expr) => crate::plan::walk::row_columns_read(plan, &[expr]),
            None if self.source == examples => vec![(self.source, self.column)],
            None => Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pin {
    pub group: GroupId,
    /// `group@v1.feature` pins one feature; `group@v1` pins them all.
    pub feature: Option<FeatureId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AlgorithmKind {
    LogisticRegression,
    LinearRegression,
    Gbdt,
    Onnx { path: String },
    Command { command: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Algorithm {
    pub kind: AlgorithmKind,
    pub hyperparameters: BTreeMap<String, Literal>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateRange {
    /// First day, days since 1970-01-01.
    pub start: i32,
    /// Last day, included.
    pub end: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    None,
    Required,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Train {
    pub snapshot: DateRange,
    pub holdout: DateRange,
    pub metric: Metric,
    pub promote_if: Option<ExprId>,
    pub approval: Approval,
    pub seed: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub name: String,
    pub doc: Option<String>,
    pub examples: SourceId,
    pub label: Label,
    /// `label_delay`: how long after an example's time its label is final (microseconds). Monitors
    /// count a prediction in a metric only once its label is final, and retraining moves its ranges
    /// to final labels; a training set's rows do not depend on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_delay: Option<i64>,
    pub task: Task,
    pub pins: Vec<Pin>,
    /// Every pinned feature, in pin order; the model's input vector.
    pub features: Vec<FeatureId>,
    pub algorithm: Algorithm,
    pub train: Train,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "stage", content = "version")]
pub enum Stage {
    Production,
    Candidate,
    Approved,
    Shadow,
    Version(u32),
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::Production => f.write_str("production"),
            Stage::Candidate => f.write_str("candidate"),
            Stage::Approved => f.write_str("approved"),
            Stage::Shadow => f.write_str("shadow"),
            Stage::Version(version) => write!(f, "v{version}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    pub model: ModelId,
    pub stage: Stage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServeMode {
    Realtime,
    Batch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batching {
    pub max_size: u32,
    pub max_wait_micros: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Serve {
    pub name: String,
    pub doc: Option<String>,
    pub model: ModelRef,
    pub mode: ServeMode,
    pub batching: Option<Batching>,
    pub timeout_micros: Option<i64>,
    /// Over the request: `Column` nodes of the model's examples source only.
    pub fallback: Option<ExprId>,
    pub shadow: Option<ModelRef>,
    pub schedule: Option<String>,
    pub output: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Alert,
    Retrain,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

impl Comparison {
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Less => "<",
            Comparison::LessEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterEqual => ">=",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftRule {
    /// The population stability index is the one drift statistic today.
    pub threshold: f64,
    pub features: Vec<FeatureId>,
    pub every_micros: i64,
    pub actions: Vec<Action>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricRule {
    pub metric: Metric,
    pub window_micros: i64,
    pub comparison: Comparison,
    pub threshold: f64,
    pub relative_to_baseline: bool,
    pub actions: Vec<Action>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    pub name: String,
    pub doc: Option<String>,
    pub target: ServeId,
    pub drift: Vec<DriftRule>,
    pub metrics: Vec<MetricRule>,
    pub channels: Vec<String>,
}
