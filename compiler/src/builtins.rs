//! The builtin function table: names, signatures (for messages and the editor) and typing rules.
//! Semantics live in lang-spec/builtins.md and, executable, in the runtime kernel crate.

use serde::{Deserialize, Serialize};

use crate::types::{BaseType, Type};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    Ln,
    Log10,
    Exp,
    Sqrt,
    Abs,
    Pow,
    Round,
    Floor,
    Ceil,
    Clamp,
    Least,
    Greatest,
    Lower,
    Upper,
    Length,
    Contains,
    StartsWith,
    Concat,
    Hour,
    DayOfWeek,
    Day,
    Month,
    Year,
    DateOf,
    Coalesce,
    IsNull,
    HashBucket,
    Bucketize,
}

/// How a builtin's arguments are typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One numeric argument, float64 result.
    FloatMath,
    /// `abs`: int64 → int64, float64 → float64.
    Abs,
    /// Two numeric arguments, float64 result.
    Pow,
    /// `clamp(x, lo, hi)`: numeric; int64 only if all three are.
    Clamp,
    /// Two or more arguments of one orderable type.
    LeastGreatest,
    /// string → string.
    StringToString,
    /// string → int64.
    StringLength,
    /// (string, string) → bool.
    StringPredicate,
    /// one or more strings → string.
    Concat,
    /// timestamp → int64.
    TimestampPart,
    /// date or timestamp → int64.
    DatePart,
    /// timestamp → date.
    DateOf,
    Coalesce,
    IsNull,
    /// (string | int64, int literal ≥ 1) → int64.
    HashBucket,
    /// (numeric, [increasing numeric literals]) → int64.
    Bucketize,
}

impl Builtin {
    pub const ALL: [Builtin; 28] = [
        Builtin::Ln,
        Builtin::Log10,
        Builtin::Exp,
        Builtin::Sqrt,
        Builtin::Abs,
        Builtin::Pow,
        Builtin::Round,
        Builtin::Floor,
        Builtin::Ceil,
        Builtin::Clamp,
        Builtin::Least,
        Builtin::Greatest,
        Builtin::Lower,
        Builtin::Upper,
        Builtin::Length,
        Builtin::Contains,
        Builtin::StartsWith,
        Builtin::Concat,
        Builtin::Hour,
        Builtin::DayOfWeek,
        Builtin::Day,
        Builtin::Month,
        Builtin::Year,
        Builtin::DateOf,
        Builtin::Coalesce,
        Builtin::IsNull,
        Builtin::HashBucket,
        Builtin::Bucketize,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Ln => "ln",
            Builtin::Log10 => "log10",
            Builtin::Exp => "exp",
            Builtin::Sqrt => "sqrt",
            Builtin::Abs => "abs",
            Builtin::Pow => "pow",
            Builtin::Round => "round",
            Builtin::Floor => "floor",
            Builtin::Ceil => "ceil",
            Builtin::Clamp => "clamp",
            Builtin::Least => "least",
            Builtin::Greatest => "greatest",
            Builtin::Lower => "lower",
            Builtin::Upper => "upper",
            Builtin::Length => "length",
            Builtin::Contains => "contains",
            Builtin::StartsWith => "starts_with",
            Builtin::Concat => "concat",
            Builtin::Hour => "hour",
            Builtin::DayOfWeek => "day_of_week",
            Builtin::Day => "day",
            Builtin::Month => "month",
            Builtin::Year => "year",
            Builtin::DateOf => "date_of",
            Builtin::Coalesce => "coalesce",
            Builtin::IsNull => "is_null",
            Builtin::HashBucket => "hash_bucket",
            Builtin::Bucketize => "bucketize",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Builtin::ALL.into_iter().find(|builtin| builtin.name() == name)
    }

    pub fn shape(self) -> Shape {
        match self {
            Builtin::Ln | Builtin::Log10 | Builtin::Exp | Builtin::Sqrt => Shape::FloatMath,
            Builtin::Round | Builtin::Floor | Builtin::Ceil => Shape::FloatMath,
            Builtin::Abs => Shape::Abs,
            Builtin::Pow => Shape::Pow,
            Builtin::Clamp => Shape::Clamp,
            Builtin::Least | Builtin::Greatest => Shape::LeastGreatest,
            Builtin::Lower | Builtin::Upper => Shape::StringToString,
            Builtin::Length => Shape::StringLength,
            Builtin::Contains | Builtin::StartsWith => Shape::StringPredicate,
            Builtin::Concat => Shape::Concat,
            Builtin::Hour => Shape::TimestampPart,
            Builtin::DayOfWeek | Builtin::Day | Builtin::Month | Builtin::Year => Shape::DatePart,
            Builtin::DateOf => Shape::DateOf,
            Builtin::Coalesce => Shape::Coalesce,
            Builtin::IsNull => Shape::IsNull,
            Builtin::HashBucket => Shape::HashBucket,
            Builtin::Bucketize => Shape::Bucketize,
        }
    }

    /// The signature as shown in messages, hover and completion.
    pub fn signature(self) -> String {
        let name = self.name();
        match self.shape() {
            Shape::FloatMath => format!("{name}(x: numeric) -> float64"),
            Shape::Abs => format!("{name}(x: int64 | float64) -> same type"),
            Shape::Pow => format!("{name}(x: numeric, y: numeric) -> float64"),
            Shape::Clamp => format!("{name}(x: numeric, lo: numeric, hi: numeric) -> numeric"),
            Shape::LeastGreatest => format!("{name}(a: T, b: T, ...) -> T"),
            Shape::StringToString => format!("{name}(s: string) -> string"),
            Shape::StringLength => format!("{name}(s: string) -> int64"),
            Shape::StringPredicate => format!("{name}(s: string, part: string) -> bool"),
            Shape::Concat => format!("{name}(s: string, ...) -> string"),
            Shape::TimestampPart => format!("{name}(t: timestamp) -> int64"),
            Shape::DatePart => format!("{name}(t: date | timestamp) -> int64"),
            Shape::DateOf => format!("{name}(t: timestamp) -> date"),
            Shape::Coalesce => format!("{name}(a: T?, b: T?, ...) -> T"),
            Shape::IsNull => format!("{name}(x: any) -> bool"),
            Shape::HashBucket => format!("{name}(x: string | int64, n: int literal) -> int64"),
            Shape::Bucketize => format!("{name}(x: numeric, edges: [numeric literals]) -> int64"),
        }
    }

    /// Whether a null argument makes the result null (all but `coalesce` and `is_null`).
    pub fn propagates_null(self) -> bool {
        !matches!(self, Builtin::Coalesce | Builtin::IsNull)
    }

    /// The result base type for already-validated argument types.
    pub fn result_base(self, arguments: &[Type]) -> BaseType {
        match self.shape() {
            Shape::FloatMath | Shape::Pow => BaseType::Float64,
            Shape::Abs => arguments.first().map_or(BaseType::Float64, |ty| ty.base),
            Shape::Clamp => {
                if arguments.iter().all(|ty| ty.base == BaseType::Int64) {
                    BaseType::Int64
                } else {
                    BaseType::Float64
                }
            }
            Shape::LeastGreatest | Shape::Coalesce => arguments.first().map_or(BaseType::Float64, |ty| ty.base),
            Shape::StringToString | Shape::Concat => BaseType::String,
            Shape::StringLength | Shape::TimestampPart | Shape::DatePart => BaseType::Int64,
            Shape::HashBucket | Shape::Bucketize => BaseType::Int64,
            Shape::StringPredicate | Shape::IsNull => BaseType::Bool,
            Shape::DateOf => BaseType::Date,
        }
    }
}

/// Aggregate functions of windowed features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateFunction {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    Last,
    CountDistinct,
}

impl AggregateFunction {
    pub const ALL: [AggregateFunction; 7] = [
        AggregateFunction::Count,
        AggregateFunction::Sum,
        AggregateFunction::Avg,
        AggregateFunction::Min,
        AggregateFunction::Max,
        AggregateFunction::Last,
        AggregateFunction::CountDistinct,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AggregateFunction::Count => "count",
            AggregateFunction::Sum => "sum",
            AggregateFunction::Avg => "avg",
            AggregateFunction::Min => "min",
            AggregateFunction::Max => "max",
            AggregateFunction::Last => "last",
            AggregateFunction::CountDistinct => "count_distinct",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        AggregateFunction::ALL
            .into_iter()
            .find(|function| function.name() == name)
    }

    pub fn signature(self) -> &'static str {
        match self {
            AggregateFunction::Count => "count() | count(x) -> int64",
            AggregateFunction::Sum => "sum(x: numeric) -> numeric?",
            AggregateFunction::Avg => "avg(x: numeric) -> float64?",
            AggregateFunction::Min => "min(x: T) -> T?",
            AggregateFunction::Max => "max(x: T) -> T?",
            AggregateFunction::Last => "last(x: T) -> T?",
            AggregateFunction::CountDistinct => "count_distinct(x: T) -> int64",
        }
    }

    /// The result type given the argument type (`None` for `count()`).
    pub fn result_type(self, argument: Option<Type>) -> Type {
        match self {
            AggregateFunction::Count | AggregateFunction::CountDistinct => Type::new(BaseType::Int64),
            AggregateFunction::Avg => Type::nullable(BaseType::Float64),
            AggregateFunction::Sum | AggregateFunction::Min | AggregateFunction::Max | AggregateFunction::Last => {
                Type::nullable(argument.map_or(BaseType::Int64, |ty| ty.base))
            }
        }
    }
}
