//! Names: which table (feature group version) and which namespace a value lives in, and how those
//! map to redb table names and Redis keys.
//!
//! Redis keys are `mlsys:{namespace}:{group}@v{version}:` followed by the key's canonical bytes
//! (binary-safe), and `mlsys:{namespace}:meta:{name}` for metadata. The namespace and the group name
//! cannot contain `:` and a table always contains `@`, so no table prefix is a prefix of another
//! table's or of the metadata's: several projects and tables share one server without collisions.
//! redb uses the same names for its tables, so one file could hold several namespaces too.

use std::fmt;
use std::str::FromStr;

use crate::error::StoreError;

/// The namespace used when none is given.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The longest namespace, group name or metadata name accepted: names end up in every Redis key.
const MAX_NAME_LEN: usize = 200;

/// One stored table: a feature group version such as `user_activity@v1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId {
    group: String,
    version: u32,
}

impl TableId {
    /// A table for a feature group name (a language identifier) and version.
    pub fn new(group: &str, version: u32) -> Result<TableId, StoreError> {
        let is_identifier = group
            .chars()
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && group
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || character == '_');
        if !is_identifier || group.len() > MAX_NAME_LEN {
            return Err(StoreError::InvalidName {
                what: "feature group name",
                name: group.to_string(),
                rule: "an identifier: a letter or `_`, then letters, digits or `_` (at most 200)",
            });
        }
        Ok(TableId {
            group: group.to_string(),
            version,
        })
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    pub fn version(&self) -> u32 {
        self.version
    }
}

/// `user_activity@v1`, the form the language uses for a feature group version.
impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@v{}", self.group, self.version)
    }
}

/// Parses `group@vN`.
impl FromStr for TableId {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<TableId, StoreError> {
        let invalid = || StoreError::InvalidName {
            what: "table",
            name: text.to_string(),
            rule: "`group@vN`, e.g. `user_activity@v1`",
        };
        let (group, version) = text.split_once("@v").ok_or_else(invalid)?;
        // Digits only and no leading zero, so the text form round-trips.
        let is_plain_number = !version.is_empty()
            && version.bytes().all(|byte| byte.is_ascii_digit())
            && (version == "0" || !version.starts_with('0'));
        let version = version
            .parse::<u32>()
            .ok()
            .filter(|_| is_plain_number)
            .ok_or_else(invalid)?;
        TableId::new(group, version)
    }
}

/// A namespace: lets several projects or environments share one store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Namespace(String);

impl Namespace {
    /// Letters, digits, `_`, `-` and `.`; not empty.
    pub fn new(name: &str) -> Result<Namespace, StoreError> {
        let is_valid = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || "_-.".contains(character));
        if !is_valid {
            return Err(StoreError::InvalidName {
                what: "namespace",
                name: name.to_string(),
                rule: "letters, digits, `_`, `-` or `.` (1 to 200 of them)",
            });
        }
        Ok(Namespace(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Redis key prefix of a table: `mlsys:{namespace}:{table}:`.
    pub fn redis_table_prefix(&self, table: &TableId) -> Vec<u8> {
        format!("mlsys:{}:{table}:", self.0).into_bytes()
    }

    /// The Redis key of a metadata entry: `mlsys:{namespace}:meta:{name}`.
    pub fn redis_meta_key(&self, name: &MetaName) -> Vec<u8> {
        format!("mlsys:{}:meta:{}", self.0, name.0).into_bytes()
    }

    /// The redb table of a feature table: `mlsys:{namespace}:{table}`.
    pub fn redb_table_name(&self, table: &TableId) -> String {
        format!("mlsys:{}:{table}", self.0)
    }

    /// The redb table holding this namespace's metadata: `mlsys:{namespace}:meta`.
    pub fn redb_meta_table_name(&self) -> String {
        format!("mlsys:{}:meta", self.0)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a metadata entry, e.g. `user_activity@v1/plan_hash`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MetaName(String);

impl MetaName {
    /// Printable ASCII without spaces; not empty.
    pub fn new(name: &str) -> Result<MetaName, StoreError> {
        let is_valid =
            !name.is_empty() && name.len() <= MAX_NAME_LEN && name.bytes().all(|byte| byte.is_ascii_graphic());
        if !is_valid {
            return Err(StoreError::InvalidName {
                what: "metadata name",
                name: name.to_string(),
                rule: "printable ASCII without spaces (1 to 200 characters)",
            });
        }
        Ok(MetaName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
