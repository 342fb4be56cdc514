//! `mlsysc serve-features`: the feature server (Feast's `POST /get-online-features`, `/health`,
//! `/ready`, `/metrics`) over the project's online store, until ctrl-c or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mlsys_compiler::compile;
use mlsys_serve::ListenerConfig;

use crate::{project, report};

#[derive(clap::Args)]
pub struct ServeFeaturesArgs {
    /// Project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Port to listen on (Feast's default).
    #[arg(long, default_value_t = 6566)]
    port: u16,
    #[command(flatten)]
    server: ServerArgs,
}

/// What every mlsys server takes: where to listen, the online store, the connection limits.
#[derive(clap::Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The online store: a file path (embedded) or a `redis://host:port` URL (default:
    /// `.mlsys/online.redb` in the project).
    // `--help` never shows the variable's value: it may hold a password.
    #[arg(long, value_name = "LOCATION", env = "MLSYS_ONLINE", hide_env_values = true)]
    pub online: Option<String>,
    /// Key namespace in a shared online store.
    #[arg(long, value_name = "NAME", default_value = mlsys_online::DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Seconds a client may take to send a request's head (request line and headers), counted
    /// from connecting or from the previous response: also how long an idle kept-alive
    /// connection stays open.
    #[arg(long, value_name = "SECONDS", default_value_t = ListenerConfig::default().head_timeout.as_secs())]
    head_timeout: u64,
    /// Seconds a client may take to send a request's body, counted from the end of its head
    /// (answered 408 beyond).
    #[arg(long, value_name = "SECONDS", default_value_t = ListenerConfig::default().body_timeout.as_secs())]
    body_timeout: u64,
    /// Most connections open at once (kept under the open-file limit). A connection beyond it
    /// closes the oldest connection that is between requests, or is refused if all are in one.
    #[arg(long, value_name = "N", default_value_t = ListenerConfig::default().max_connections)]
    max_connections: usize,
}

impl ServerArgs {
    pub fn listener(&self) -> ListenerConfig {
        ListenerConfig {
            head_timeout: Duration::from_secs(self.head_timeout),
            body_timeout: Duration::from_secs(self.body_timeout),
            max_connections: self.max_connections,
        }
    }
}

/// The project's plan, or `None` after printing why it has none.
pub fn load_plan(path: &std::path::Path, doing: &str) -> anyhow::Result<Option<mlsys_compiler::plan::Plan>> {
    let project = project::load(path)?;
    let compilation = compile(&project.files);
    if compilation.plan.is_none() {
        eprint!("{}", report::human(&compilation.diagnostics, &project.files));
        eprintln!("not {doing}: {}", report::summary(&compilation.diagnostics));
    }
    Ok(compilation.plan)
}

pub fn serve_features(arguments: ServeFeaturesArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = load_plan(&arguments.path, "serving")? else {
        return Ok(ExitCode::from(1));
    };
    let directory = project::directory(&arguments.path);
    let server = &arguments.server;
    let location = crate::materialize::online_location(&directory, server.online.as_deref());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = mlsys_online::open_store(&location, &server.namespace).await?;
        let features = Arc::new(mlsys_serve::FeatureServer::new(Arc::new(plan), store)?);
        let listener = tokio::net::TcpListener::bind((server.host.as_str(), arguments.port)).await?;
        let address = listener.local_addr()?;
        println!("serving features on http://{address} (online store: {location}); ctrl-c stops");
        mlsys_serve::serve(listener, features, server.listener()).await?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
