//! The value types of the language: seven base types, each optionally nullable (`T?`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaseType {
    Bool,
    Int64,
    Float64,
    String,
    Date,
    Timestamp,
    Duration,
}

impl BaseType {
    pub const ALL: [BaseType; 7] = [
        BaseType::Bool,
        BaseType::Int64,
        BaseType::Float64,
        BaseType::String,
        BaseType::Date,
        BaseType::Timestamp,
        BaseType::Duration,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BaseType::Bool => "bool",
            BaseType::Int64 => "int64",
            BaseType::Float64 => "float64",
            BaseType::String => "string",
            BaseType::Date => "date",
            BaseType::Timestamp => "timestamp",
            BaseType::Duration => "duration",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        BaseType::ALL.into_iter().find(|base| base.name() == name)
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, BaseType::Int64 | BaseType::Float64)
    }

    /// Types with a total order usable by `<`, `min`, `max`, `least`, ...
    pub fn is_orderable(self) -> bool {
        !matches!(self, BaseType::Bool)
    }
}

/// A base type and whether the value may be null.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Type {
    pub base: BaseType,
    pub nullable: bool,
}

impl Type {
    pub const fn new(base: BaseType) -> Self {
        Type { base, nullable: false }
    }

    pub const fn nullable(base: BaseType) -> Self {
        Type { base, nullable: true }
    }

    pub fn with_nullable(self, nullable: bool) -> Self {
        Type {
            base: self.base,
            nullable,
        }
    }
}

impl std::fmt::Display for Type {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.base.name())?;
        if self.nullable {
            f.write_str("?")?;
        }
        Ok(())
    }
}
