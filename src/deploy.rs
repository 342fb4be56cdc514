//! `mlsysc deploy`: every realtime serve target of the project over HTTP, with the feature API of
//! `serve-features` on the same port, until ctrl-c or SIGTERM (which drain requests in flight).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use mlsys_batch::prediction_log::{LogOptions, PredictionLog};
use mlsys_batch::score::latest::LatestScores;
use mlsys_deploy::log::TargetLogs;
use mlsys_deploy::predictions::BatchPredictions;
use mlsys_deploy::{DeployOptions, Deployment, Target};

use crate::serve::{ServerArgs, load_plan};
use crate::{project, train};

#[derive(clap::Args)]
pub struct DeployArgs {
    /// Project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Port to listen on.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Serve only this target (repeatable; default: every realtime target).
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
    /// The model registry (default: `.mlsys/registry.db` in the project).
    #[arg(long, value_name = "DB")]
    registry: Option<PathBuf>,
    /// Requests scored at once per target; more are answered 503 with `Retry-After`.
    #[arg(long, value_name = "N", default_value_t = DeployOptions::default().max_in_flight)]
    max_in_flight: usize,
    /// ONNX Runtime's intra-op threads per scoring call of an ONNX model.
    #[arg(long, value_name = "N", default_value_t = DeployOptions::default().onnx_threads)]
    onnx_threads: usize,
    /// Milliseconds between reads of the registry for promotions and rollbacks.
    #[arg(long, value_name = "MS", default_value_t = DeployOptions::default().registry_poll.as_millis() as u64)]
    registry_poll: u64,
    /// Do not evaluate the monitors here: another process runs `mlsysc monitor` (a scheduled job,
    /// or one replica of several), so that each period is evaluated by one.
    #[arg(long)]
    no_monitors: bool,
    /// How often the feature refresh runs the incremental pipeline (new partitions ingested, the
    /// served groups' windows recomputed and materialized), e.g. `5m` [default: the smallest
    /// `every` of the served groups' windowed features].
    #[arg(long, value_name = "DURATION", value_parser = refresh_every)]
    refresh_every: Option<i64>,
    /// Do not refresh the features here: another process runs `mlsysc build` on a schedule.
    #[arg(long, conflicts_with = "refresh_every")]
    no_refresh: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// What `deploy` runs beside serving, each on its own thread, stopped when dropped: the batch
/// targets' schedule, the feature refresh, the monitors.
struct Background {
    _scheduler: Option<crate::schedule::Scheduler>,
    _refresh: Option<crate::refresh::Refresh>,
    _monitors: Option<crate::monitor_schedule::MonitorSchedule>,
}

impl Background {
    fn start(
        arguments: &DeployArgs,
        directory: &std::path::Path,
        deployment: &Arc<Deployment>,
        online: Arc<dyn mlsys_online::OnlineStore>,
        batch: &[String],
    ) -> anyhow::Result<Background> {
        let plan = deployment.plan().clone();
        let registry = arguments.registry.as_deref();
        let places = crate::score::ScorePlaces::of(directory, registry);
        let scheduler = crate::schedule::start(plan.clone(), places, batch.to_vec())?;
        let every = arguments.refresh_every.or_else(|| crate::refresh::cadence(&plan));
        let refresh = match (arguments.no_refresh, every) {
            (false, Some(every)) => Some(crate::refresh::start(crate::refresh::Refresher {
                plan: plan.clone(),
                directory: directory.to_path_buf(),
                online,
                metrics: deployment.metrics().clone(),
                freshness: deployment.freshness().clone(),
                every,
            })?),
            _ => None,
        };
        let places = crate::monitor::Places::of(directory, None, registry);
        let monitors = match arguments.no_monitors {
            true => None,
            false => crate::monitor_schedule::start(plan, places, deployment.metrics().clone())?,
        };
        Ok(Background {
            _scheduler: scheduler,
            _refresh: refresh,
            _monitors: monitors,
        })
    }
}

/// `--refresh-every`: a duration of the language (`30s`, `5m`, `1h`).
fn refresh_every(text: &str) -> Result<i64, String> {
    match mlsys_compiler::syntax::literal::parse_duration(text).map_err(|error| error.to_string())? {
        micros if micros > 0 => Ok(micros),
        _ => Err("must be longer than 0".to_string()),
    }
}

pub fn deploy(arguments: DeployArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = load_plan(&arguments.path, "deploying")? else {
        return Ok(ExitCode::from(1));
    };
    let directory = project::directory(&arguments.path);
    let server = &arguments.server;
    let location = crate::materialize::online_location(&directory, server.online.as_deref());
    let registry = train::Places::of(&directory, arguments.registry.as_deref()).registry;
    let options = DeployOptions {
        max_in_flight: arguments.max_in_flight.max(1),
        registry_poll: std::time::Duration::from_millis(arguments.registry_poll.max(10)),
        onnx_threads: arguments.onnx_threads.max(1),
        ..DeployOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = mlsys_online::open_store(&location, &server.namespace).await?;
        let features = Arc::new(mlsys_serve::FeatureServer::new(Arc::new(plan), store)?);
        let targets = Target::plan_all(features.plan(), &features, &arguments.targets, options.max_in_flight)?;
        let names: Vec<String> = targets.iter().map(|target| target.name.clone()).collect();
        let offline = mlsys_batch::store::OfflineStore::new(directory.join(".mlsys").join("offline"));
        let mut logs = TargetLogs::default();
        for name in &names {
            let log = PredictionLog::start(&offline, name, LogOptions::default()).await?;
            logs.logs.insert(name.clone(), log);
        }
        let sink: Arc<dyn mlsys_deploy::PredictionSink> = Arc::new(logs.clone());
        let plan = features.plan().clone();
        let batch = batch_targets(&plan, &arguments.targets);
        let predictions = batch_predictions(&plan, &directory, &batch).await?;
        let online = features.store().clone();
        let deployment = Deployment::new(features, targets, &options, Some(sink)).with_predictions(predictions);
        let deployment = Arc::new(deployment);
        let _jobs = Background::start(&arguments, &directory, &deployment, online, &batch)?;
        let events = Arc::new(|message: String| eprintln!("{message}"));
        let _watch = mlsys_deploy::watch::start(deployment.clone(), registry, &options, events);
        let listener = tokio::net::TcpListener::bind((server.host.as_str(), arguments.port)).await?;
        let address = listener.local_addr()?;
        let serving: Vec<String> = names.iter().chain(&batch).cloned().collect();
        let serving = if serving.is_empty() {
            "no target".to_string()
        } else {
            serving.join(", ")
        };
        println!("deploying {serving} on http://{address} (online store: {location}); ctrl-c stops");
        let router = mlsys_deploy::http::router(deployment.clone());
        mlsys_serve::listener::serve_router(
            listener,
            router,
            server.listener(),
            mlsys_serve::http::shutdown_signal(),
        )
        .await?;
        // Requests in flight are answered: write what they logged, shadow scores included.
        deployment.drain().await;
        for (name, log) in &logs.logs {
            if let Err(error) = log.close().await {
                eprintln!("the prediction log of {name} could not be flushed: {error:#}");
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// The batch targets to schedule: every one, or those `--target` names.
fn batch_targets(plan: &mlsys_compiler::plan::Plan, only: &[String]) -> Vec<String> {
    mlsys_batch::score::batch_targets(plan)
        .into_iter()
        .filter(|name| only.is_empty() || only.contains(name))
        .collect()
}

/// Each batch target's stored scores, indexed by its keys.
async fn batch_predictions(
    plan: &mlsys_compiler::plan::Plan,
    directory: &std::path::Path,
    targets: &[String],
) -> anyhow::Result<BatchPredictions> {
    let store = mlsys_batch::store::OfflineStore::new(directory.join(".mlsys").join("offline"));
    let mut indexed = std::collections::BTreeMap::new();
    for name in targets {
        let target = mlsys_batch::score::BatchTarget::new(plan, directory, name)?;
        let keys = target.key_columns()?;
        let scores = LatestScores::load(&store, target.output.clone(), target.timestamp_column(), keys).await?;
        indexed.insert(name.clone(), tokio::sync::Mutex::new(scores));
    }
    Ok(BatchPredictions {
        store,
        targets: indexed,
    })
}
