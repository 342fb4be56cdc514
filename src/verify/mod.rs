//! `mlsysc verify`: recomputes sampled offline values another way and reports every value that is
//! not bit-identical, with the feature, the key, the time and both bit patterns.
//!
//! 0. [`stale`]: every feature table, offline and online, is what the plan computes (present, of
//!    the plan's definition, with its columns); otherwise nothing is compared and verify fails.
//! 1. [`online`]: for sampled entities of every materialized group, the stored timeline (decoded
//!    from the store) equals the timeline made from the offline change points by the same function
//!    that materialized it.
//! 2. [`windows`]: for the same entities, sampled change points are recomputed from the processed
//!    source rows with the reference kernels, so a wrong batch window is caught, not only a wrong
//!    store.
//! 3. [`requests`]: sampled rows of row-level tables and training sets are sent through the feature
//!    server's own request path, shaped as a client sends them (the row's own columns), against a
//!    scratch store holding the entities' timelines from the rows' times on; every answered value
//!    must equal the offline table's.
//! 4. [`scores`]: the training sets' sampled rows are also scored as `build` evaluated them and
//!    through `deploy`'s path (the served inputs, the version loaded as `deploy` loads it): the
//!    same bits.
//!
//! Memory: tables are streamed; only the sampled rows, the sampled entities' histories and their
//! events are held (a deterministic reservoir sample, [`sample`]).

mod online;
mod requests;
mod sample;
mod scores;
mod stale;
mod windows;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use mlsys_batch::state::BuildState;
use mlsys_batch::store::OfflineStore;
use mlsys_compiler::compile;
use mlsys_kernels::Value;

use crate::{project, report};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// The offline store (default: `.mlsys/offline` in the project).
    #[arg(long, value_name = "DIR")]
    offline: Option<PathBuf>,
    /// The online store (default: `.mlsys/online.redb` in the project).
    // `--help` never shows the variable's value: it may hold a password.
    #[arg(long, value_name = "LOCATION", env = "MLSYS_ONLINE", hide_env_values = true)]
    online: Option<String>,
    /// Key namespace in a shared online store.
    #[arg(long, value_name = "NAME", default_value = mlsys_online::DEFAULT_NAMESPACE)]
    namespace: String,
    /// Rows (or entities) sampled per table.
    #[arg(long, default_value_t = 1000)]
    sample: usize,
    /// The model registry whose versions' scores are checked (default: `.mlsys/registry.db`).
    #[arg(long, value_name = "DB")]
    registry: Option<PathBuf>,
}

/// One value that differs.
pub struct Mismatch {
    pub table: String,
    /// The entity keys (and, for a table row, its lineage).
    pub key: String,
    /// The time the value is read at, when it is read at one.
    pub time: Option<i64>,
    pub feature: String,
    /// What the checked table holds.
    pub offline: Value,
    /// What the other path computed.
    pub online: Value,
    /// Which path that is: `online` (the store), `recomputed` (the reference kernels), `served`
    /// (the feature server's answer).
    pub path: &'static str,
}

#[derive(Default)]
pub struct Outcome {
    /// Table → values compared.
    pub compared: BTreeMap<String, u64>,
    pub mismatches: Vec<Mismatch>,
    /// Tables that are not what the plan says: their values are not compared.
    pub stale_tables: Vec<String>,
}

impl Outcome {
    /// Counts one compared value of `table`, recording it when the two differ.
    pub fn compare(&mut self, mismatch: Mismatch) {
        *self.compared.entry(mismatch.table.clone()).or_default() += 1;
        if mismatch.offline != mismatch.online {
            self.mismatches.push(mismatch);
        }
    }
}

pub fn verify(arguments: VerifyArgs) -> anyhow::Result<ExitCode> {
    let project = project::load(&arguments.path)?;
    let compilation = compile(&project.files);
    let Some(plan) = &compilation.plan else {
        eprint!("{}", report::human(&compilation.diagnostics, &project.files));
        eprintln!("not verified: {}", report::summary(&compilation.diagnostics));
        return Ok(ExitCode::from(1));
    };
    let directory = project::directory(&arguments.path);
    let store_root = arguments
        .offline
        .clone()
        .unwrap_or_else(|| directory.join(".mlsys").join("offline"));
    let location = crate::materialize::online_location(&directory, arguments.online.as_deref());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(async {
        let store = OfflineStore::new(&store_root);
        let state = BuildState::load(&store.state_file())?;
        let online_store = mlsys_online::open_store(&location, &arguments.namespace).await?;
        let mut outcome = Outcome::default();
        let registry = crate::train::Places::of(&directory, arguments.registry.as_deref()).registry;
        let context = Context {
            plan,
            store: &store,
            state: &state,
            sample: arguments.sample.max(1),
            models: scores::served_models(plan, &registry)?,
        };
        outcome.stale_tables = stale::stale_feature_tables(&context).await?;
        outcome
            .stale_tables
            .extend(stale::stale_online_tables(&context, online_store.as_ref()).await?);
        if !outcome.stale_tables.is_empty() {
            return anyhow::Ok(outcome);
        }
        for group in online::materialized_groups(plan) {
            let sampled = online::verify_group(&context, online_store.as_ref(), group, &mut outcome).await?;
            windows::verify_group(&context, group, &sampled, &mut outcome).await?;
        }
        requests::verify_tables(&context, &store_root.join("_verify"), &mut outcome).await?;
        anyhow::Ok(outcome)
    })?;
    if !outcome.stale_tables.is_empty() {
        for problem in &outcome.stale_tables {
            println!("STALE {problem}");
        }
        println!(
            "{} tables do not match the plan: run `mlsysc build`",
            outcome.stale_tables.len()
        );
        return Ok(ExitCode::from(1));
    }
    print_outcome(&outcome);
    let total: u64 = outcome.compared.values().sum();
    Ok(if outcome.mismatches.is_empty() && total > 0 {
        ExitCode::SUCCESS
    } else {
        if total == 0 {
            eprintln!("nothing to verify: run `mlsysc build` first");
        }
        ExitCode::from(1)
    })
}

/// What every check reads.
pub struct Context<'a> {
    pub plan: &'a mlsys_compiler::plan::Plan,
    pub store: &'a OfflineStore,
    pub state: &'a BuildState,
    pub sample: usize,
    /// Per model, the version whose scores are checked: production, else the newest version
    /// trained on this plan's features, loaded as `deploy` loads it.
    pub models: BTreeMap<String, std::sync::Arc<mlsys_deploy::LoadedModel>>,
}

/// Mismatches listed per table and feature (all are counted).
const MISMATCHES_SHOWN_PER_FEATURE: usize = 20;

fn print_outcome(outcome: &Outcome) {
    for (table, compared) in &outcome.compared {
        println!("{table:<48} {compared:>10} values compared");
    }
    let mut shown: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for mismatch in &outcome.mismatches {
        let count = shown
            .entry((mismatch.table.as_str(), mismatch.feature.as_str()))
            .or_default();
        *count += 1;
        if *count > MISMATCHES_SHOWN_PER_FEATURE {
            continue;
        }
        let time = mismatch
            .time
            .map(|time| format!(" at {}", Value::Timestamp(time)))
            .unwrap_or_default();
        println!(
            "MISMATCH {} [{}]{time} {}: offline {} ({}) vs {} {} ({})",
            mismatch.table,
            mismatch.key,
            mismatch.feature,
            mismatch.offline,
            bits(&mismatch.offline),
            mismatch.path,
            mismatch.online,
            bits(&mismatch.online)
        );
    }
    let total: u64 = outcome.compared.values().sum();
    println!("{} mismatches in {total} values", outcome.mismatches.len());
}

/// A value's bit pattern, for reports: floats by their IEEE bits, the others by their encoding.
fn bits(value: &Value) -> String {
    match value {
        Value::Float(float) => format!("{:#018x}", float.to_bits()),
        Value::Int(int) | Value::Duration(int) | Value::Timestamp(int) => format!("{:#018x}", *int as u64),
        Value::Date(days) => format!("{:#010x}", *days as u32),
        Value::Bool(flag) => u8::from(*flag).to_string(),
        Value::Null => "null".to_string(),
        Value::String(text) => format!("{} bytes", text.len()),
    }
}

/// Entity keys as one text, for reports and as a map key.
pub fn key_text(keys: &[Value]) -> String {
    keys.iter().map(Value::to_string).collect::<Vec<_>>().join(", ")
}
