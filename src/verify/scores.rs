//! Scores: sampled training-set rows (snapshot and holdout) scored as `build` evaluated them —
//! the model's native scorer (or ONNX Runtime) on the training set's own inputs — and through the
//! path `deploy` answers requests with — the feature server's model inputs for the client-shaped
//! request, then the version loaded as `deploy` loads it. Both scores must have the same bits.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use mlsys_batch::training::inputs::model_input;
use mlsys_compiler::plan::Plan;
use mlsys_deploy::LoadedModel;
use mlsys_kernels::Value;
use mlsys_registry::{Registry, StageRef};
use mlsys_serve::FeatureServer;

use super::requests::Row;
use super::{Mismatch, Outcome};

/// Per model, the version whose scores are checked: production, else the newest version that
/// loads with this plan's features. No registry file: nothing to check.
pub fn served_models(plan: &Plan, registry: &Path) -> anyhow::Result<BTreeMap<String, Arc<LoadedModel>>> {
    let mut models = BTreeMap::new();
    if !registry.exists() {
        return Ok(models);
    }
    let registry = Registry::open(registry)?;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    for (_, model) in plan.models.iter() {
        let production = registry.resolve(&model.name, &StageRef::Production)?;
        let mut versions = registry.versions(&model.name)?;
        versions.reverse();
        let loaded = production
            .into_iter()
            .chain(versions)
            .find_map(|version| LoadedModel::load(plan, &model.features, &version, threads).ok());
        if let Some(loaded) = loaded {
            models.insert(model.name.clone(), Arc::new(loaded));
        }
    }
    Ok(models)
}

/// Compares the offline and served scores of `rows` of a training split of `model`.
pub async fn compare(
    plan: &Plan,
    server: &FeatureServer,
    model: &LoadedModel,
    table: &str,
    rows: &[Row],
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let source = &plan.sources[plan
        .models
        .values()
        .find(|declared| declared.name == model.model)
        .ok_or_else(|| anyhow::anyhow!("no model `{}` in the plan", model.model))?
        .examples];
    let set = server.service(&model.model)?;
    let columns = set
        .fields
        .iter()
        .map(|field| {
            let index = source
                .column_index(&field.name)
                .ok_or_else(|| anyhow::anyhow!("request field `{}` is not a column of {}", field.name, source.name))?;
            Ok(rows.iter().map(|row| row.source_row[index as usize].clone()).collect())
        })
        .collect::<anyhow::Result<Vec<Vec<Value>>>>()?;
    let now = mlsys_serve::server::now_micros();
    let inputs = server.service_inputs(&set, &columns, rows.len(), now).await?;
    let served = model.score(&inputs, rows.len())?;
    let offline_inputs: Vec<f64> = rows
        .iter()
        // A value training could not take (none reaches a registered version) reads as missing.
        .flat_map(|row| row.offline.iter().map(|value| model_input(value).unwrap_or(f64::NAN)))
        .collect();
    let offline = model.score_as_built(&offline_inputs, rows.len())?;
    let time_column = source.timestamp.map(|column| column as usize);
    for ((row, offline), online) in rows.iter().zip(offline).zip(served) {
        outcome.compare(Mismatch {
            table: table.to_string(),
            key: format!("{} row {}", row.lineage.0, row.lineage.1),
            time: time_column.and_then(|column| match row.source_row[column] {
                Value::Timestamp(time) => Some(time),
                _ => None,
            }),
            feature: format!("score ({} v{})", model.model, model.version),
            offline: Value::Float(offline),
            online: Value::Float(online),
            path: "scored",
        });
    }
    Ok(())
}
