//! Writing a version's lineage into its tables and reading versions back (rows of `model_versions`
//! with their features, metrics and approvals), exactly as registered.

use std::collections::BTreeMap;

use rusqlite::{Connection, Row, params};

use crate::error::RegistryError;
use crate::types::{Approval, Artifact, FeatureInput, ModelVersion, NewVersion, PromotionRules, Stage};

/// Inserts version `version` of `new.model` with its features and metrics (inside the caller's
/// transaction).
pub(crate) fn insert_version(
    connection: &Connection,
    new: &NewVersion,
    version: u32,
    stage: Stage,
    registered_at: i64,
) -> Result<(), RegistryError> {
    let onnx = new.onnx.as_ref();
    connection.execute(
        "INSERT INTO model_versions (
            model, version, stage, registered_at, task, spec_hash, plan_hash, training_set,
            training_manifest, training_fingerprint, inputs_fingerprint, algorithm, hyperparameters,
            metric, production_version, has_production_metrics, promote_if, promotable,
            artifact_path, artifact_sha256, artifact_bytes, onnx_path, onnx_sha256, onnx_bytes,
            git_commit, trained_at, seconds, approval_required, trigger
        ) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                  ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)",
        params![
            new.model,
            version,
            stage.as_str(),
            registered_at,
            new.task,
            new.spec_hash,
            new.plan_hash,
            new.training_set,
            new.training_manifest,
            new.training_fingerprint,
            new.inputs_fingerprint,
            new.algorithm,
            new.hyperparameters,
            new.metric,
            new.production_version,
            new.production_metrics.is_some(),
            new.promote_if,
            new.promotable,
            new.artifact.path,
            new.artifact.sha256,
            new.artifact.bytes,
            onnx.map(|artifact| &artifact.path),
            onnx.map(|artifact| &artifact.sha256),
            onnx.map(|artifact| artifact.bytes),
            new.git_commit,
            new.trained_at,
            new.seconds,
            new.promotion_rules.map(|rules| rules.approval_required),
            new.trigger.as_ref().map(serde_json::Value::to_string),
        ],
    )?;
    if let Some(baseline) = &new.baseline {
        connection.execute(
            "INSERT INTO version_baselines (model, version, baseline) VALUES (?1, ?2, ?3)",
            params![new.model, version, baseline.to_string()],
        )?;
    }
    let mut insert_feature = connection.prepare(
        "INSERT INTO version_features (model, version, position, column_name, type, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (position, feature) in new.features.iter().enumerate() {
        insert_feature.execute(params![
            new.model,
            version,
            position,
            feature.column,
            feature.ty,
            feature.hash
        ])?;
    }
    let mut insert_metric = connection
        .prepare("INSERT INTO version_metrics (model, version, side, name, value) VALUES (?1, ?2, ?3, ?4, ?5)")?;
    for (name, value) in &new.metrics {
        insert_metric.execute(params![new.model, version, "version", name, value])?;
    }
    for (name, value) in new.production_metrics.iter().flatten() {
        insert_metric.execute(params![new.model, version, "production", name, value])?;
    }
    let mut insert_reported =
        connection.prepare("INSERT INTO reported_metrics (model, version, name, value) VALUES (?1, ?2, ?3, ?4)")?;
    for (name, value) in &new.reported_metrics {
        insert_reported.execute(params![new.model, version, name, value])?;
    }
    Ok(())
}

/// A `model_versions` row before its features, metrics and approvals are attached.
struct VersionRow {
    version: u32,
    stage: String,
    registered_at: i64,
    has_production_metrics: bool,
    lineage: NewVersion,
}

const VERSION_COLUMNS: &str = "model, version, stage, registered_at, task, spec_hash, plan_hash, training_set,
    training_manifest, training_fingerprint, inputs_fingerprint, algorithm, hyperparameters, metric,
    production_version, has_production_metrics, promote_if, promotable, artifact_path, artifact_sha256,
    artifact_bytes, onnx_path, onnx_sha256, onnx_bytes, git_commit, trained_at, seconds, approval_required,
    trigger";

fn version_row(row: &Row<'_>) -> rusqlite::Result<VersionRow> {
    let onnx_path: Option<String> = row.get(21)?;
    let onnx_sha256: Option<String> = row.get(22)?;
    let onnx_bytes: Option<u64> = row.get(23)?;
    let onnx = match (onnx_path, onnx_sha256, onnx_bytes) {
        (Some(path), Some(sha256), Some(bytes)) => Some(Artifact { path, sha256, bytes }),
        _ => None,
    };
    Ok(VersionRow {
        version: row.get(1)?,
        stage: row.get(2)?,
        registered_at: row.get(3)?,
        has_production_metrics: row.get(15)?,
        lineage: NewVersion {
            model: row.get(0)?,
            task: row.get(4)?,
            spec_hash: row.get(5)?,
            plan_hash: row.get(6)?,
            features: Vec::new(),
            training_set: row.get(7)?,
            training_manifest: row.get(8)?,
            training_fingerprint: row.get(9)?,
            inputs_fingerprint: row.get(10)?,
            algorithm: row.get(11)?,
            hyperparameters: row.get(12)?,
            metric: row.get(13)?,
            metrics: BTreeMap::new(),
            reported_metrics: BTreeMap::new(),
            production_version: row.get(14)?,
            production_metrics: None,
            promote_if: row.get(16)?,
            promotable: row.get(17)?,
            promotion_rules: row
                .get::<_, Option<bool>>(27)?
                .map(|approval_required| PromotionRules { approval_required }),
            artifact: Artifact {
                path: row.get(18)?,
                sha256: row.get(19)?,
                bytes: row.get(20)?,
            },
            onnx,
            git_commit: row.get(24)?,
            trained_at: row.get(25)?,
            seconds: row.get::<_, Option<f64>>(26)?.unwrap_or(f64::NAN),
            baseline: None,
            trigger: json_column(row, 28)?,
        },
    })
}

/// A JSON text column as a value (NULL: none).
fn json_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    let Some(text) = row.get::<_, Option<String>>(index)? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|error| rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(error)))
}

/// Which versions of a model to read.
#[derive(Clone, Copy)]
pub(crate) enum Which {
    All,
    One(u32),
}

impl Which {
    /// The `?2` parameter of the queries below: NULL selects every version.
    fn parameter(self) -> Option<u32> {
        match self {
            Which::All => None,
            Which::One(version) => Some(version),
        }
    }
}

/// The versions of `model` (ascending), complete with features, metrics and approvals.
pub(crate) fn load_versions(
    connection: &Connection,
    model: &str,
    which: Which,
) -> Result<Vec<ModelVersion>, RegistryError> {
    let filter = "model = ?1 AND (?2 IS NULL OR version = ?2)";
    let selected = which.parameter();
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM model_versions WHERE {filter} ORDER BY version"
    ))?;
    let rows = statement
        .query_map(params![model, selected], version_row)?
        .collect::<Result<Vec<_>, _>>()?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }

    let mut features: BTreeMap<u32, Vec<FeatureInput>> = BTreeMap::new();
    let mut statement = connection.prepare_cached(&format!(
        "SELECT version, column_name, type, hash FROM version_features WHERE {filter} ORDER BY version, position"
    ))?;
    let mut query = statement.query(params![model, selected])?;
    while let Some(row) = query.next()? {
        features.entry(row.get(0)?).or_default().push(FeatureInput {
            column: row.get(1)?,
            ty: row.get(2)?,
            hash: row.get(3)?,
        });
    }

    type Metrics = BTreeMap<String, f64>;
    let mut metrics: BTreeMap<(u32, String), Metrics> = BTreeMap::new();
    let mut statement = connection.prepare_cached(&format!(
        "SELECT version, side, name, value FROM version_metrics WHERE {filter}"
    ))?;
    let mut query = statement.query(params![model, selected])?;
    while let Some(row) = query.next()? {
        let value: Option<f64> = row.get(3)?;
        metrics
            .entry((row.get(0)?, row.get(1)?))
            .or_default()
            .insert(row.get(2)?, value.unwrap_or(f64::NAN));
    }

    let mut reported: BTreeMap<u32, Metrics> = BTreeMap::new();
    let mut statement = connection.prepare_cached(&format!(
        "SELECT version, name, value FROM reported_metrics WHERE {filter}"
    ))?;
    let mut query = statement.query(params![model, selected])?;
    while let Some(row) = query.next()? {
        let value: Option<f64> = row.get(2)?;
        reported
            .entry(row.get(0)?)
            .or_default()
            .insert(row.get(1)?, value.unwrap_or(f64::NAN));
    }

    let mut baselines: BTreeMap<u32, serde_json::Value> = BTreeMap::new();
    let mut statement = connection.prepare_cached(&format!(
        "SELECT version, baseline FROM version_baselines WHERE {filter}"
    ))?;
    let mut query = statement.query(params![model, selected])?;
    while let Some(row) = query.next()? {
        if let Some(baseline) = json_column(row, 1)? {
            baselines.insert(row.get(0)?, baseline);
        }
    }

    let mut approvals: BTreeMap<u32, Vec<Approval>> = BTreeMap::new();
    let mut statement = connection.prepare_cached(&format!(
        "SELECT version, approved_by, approved_at, note FROM approvals WHERE {filter} ORDER BY id"
    ))?;
    let mut query = statement.query(params![model, selected])?;
    while let Some(row) = query.next()? {
        approvals.entry(row.get(0)?).or_default().push(Approval {
            by: row.get(1)?,
            at: row.get(2)?,
            note: row.get(3)?,
        });
    }

    rows.into_iter()
        .map(|row| {
            let mut lineage = row.lineage;
            lineage.features = features.remove(&row.version).unwrap_or_default();
            lineage.metrics = metrics
                .remove(&(row.version, "version".to_string()))
                .unwrap_or_default();
            lineage.reported_metrics = reported.remove(&row.version).unwrap_or_default();
            lineage.baseline = baselines.remove(&row.version);
            lineage.production_metrics = row.has_production_metrics.then(|| {
                metrics
                    .remove(&(row.version, "production".to_string()))
                    .unwrap_or_default()
            });
            Ok(ModelVersion {
                model: lineage.model.clone(),
                version: row.version,
                stage: row.stage.parse().map_err(|_| RegistryError::Corrupt {
                    path: None,
                    message: format!("{model} v{} has an unknown stage `{}`", row.version, row.stage),
                })?,
                approvals: approvals.remove(&row.version).unwrap_or_default(),
                lineage,
                registered_at: row.registered_at,
            })
        })
        .collect()
}
