//! Hot swap: a thread reads the registry every `registry_poll` (250 ms by default) and resolves
//! each target's stages (`model@production`, `@candidate`, `@shadow`, ...). When a stage resolves
//! to another version (`promote`, `rollback`, an approval), that version is loaded and checked on
//! this thread, off the request path, then swapped into the target's slot in one store: requests
//! that started before keep the version they hold; later ones get the new one. So a change reaches
//! a running `deploy` within one poll interval plus the new version's load time.
//!
//! A version that cannot be loaded (a missing or corrupted artifact, features of another plan)
//! does not replace the served one; the slot records why, and the load is tried again every
//! [`RETRY_FAILED`]. A stage with no version empties the slot: the fallback answers (`no_model`).
//! A registry file that does not exist yet is waited for; `deploy` never creates one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mlsys_compiler::plan::{FeatureId, Plan};
use mlsys_registry::{Registry, RegistryError, StageRef};

use crate::deployment::{DeployOptions, Deployment, error_chain};
use crate::model::LoadedModel;
use crate::target::{ModelSlot, Target};

/// How long a version that failed to load waits before it is tried again.
pub const RETRY_FAILED: Duration = Duration::from_secs(5);

/// What the watch reports (loaded, replaced, refused): the CLI prints it.
pub type EventLog = Arc<dyn Fn(String) + Send + Sync>;

/// The registry watch of a deployment. Dropping it stops the thread after its current poll.
#[derive(Debug)]
pub struct Watch {
    stop: Arc<AtomicBool>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One role of one target: which slot, which model and stage, which inputs.
struct Role<'a> {
    target: &'a Target,
    role: &'static str,
    slot: &'a ModelSlot,
    model: &'a str,
    stage: StageRef,
    inputs: &'a [FeatureId],
}

/// A version that failed to load, and when.
struct Failed {
    key: (String, &'static str, u32),
    at: Instant,
}

/// Loads every target's versions now (so `deploy` is ready when it starts listening), then
/// starts the polling thread.
pub fn start(deployment: Arc<Deployment>, registry: PathBuf, options: &DeployOptions, events: EventLog) -> Watch {
    let poll = options.registry_poll;
    let mut state = State {
        registry: None,
        path: registry,
        onnx_threads: options.onnx_threads,
        failed: Vec::new(),
        events,
    };
    state.refresh(&deployment);
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::Builder::new()
        .name("registry-watch".into())
        .spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(poll);
                state.refresh(&deployment);
            }
        })
        .map_or_else(
            |error| {
                eprintln!("the registry watch cannot start ({error}); promotions need a restart");
            },
            |_| {},
        );
    Watch { stop }
}

struct State {
    registry: Option<Registry>,
    path: PathBuf,
    onnx_threads: usize,
    failed: Vec<Failed>,
    events: EventLog,
}

impl State {
    fn refresh(&mut self, deployment: &Deployment) {
        let plan = deployment.plan().clone();
        for target in deployment.targets() {
            let mut roles = vec![Role {
                target,
                role: "primary",
                slot: &target.primary,
                model: &target.model,
                stage: target.stage,
                inputs: &target.inputs,
            }];
            if let Some((model, stage)) = &target.shadow {
                roles.push(Role {
                    target,
                    role: "shadow",
                    slot: &target.shadow_slot,
                    model,
                    stage: *stage,
                    inputs: &target.shadow_inputs,
                });
            }
            for role in roles {
                self.refresh_role(&plan, &role);
                let version = role.slot.current().map(|model| model.version);
                deployment.metrics().set_version(&target.name, role.role, version);
            }
        }
    }

    fn refresh_role(&mut self, plan: &Plan, role: &Role<'_>) {
        let resolved = match self.resolve(role.model, role.stage) {
            Ok(resolved) => resolved,
            Err(problem) => {
                if role.slot.current().is_none() {
                    role.slot.set_problem(Some(problem));
                }
                return;
            }
        };
        let served = role.slot.current().map(|model| model.version);
        let Some(version) = resolved else {
            if served.is_some() || role.slot.problem().is_none() {
                let problem = format!("no version of {} at {}", role.model, role.stage);
                self.report(role, &problem);
                role.slot.swap(None, Some(problem));
            }
            return;
        };
        if served == Some(version.version) {
            return;
        }
        let key = (role.target.name.clone(), role.role, version.version);
        if let Some(failed) = self.failed.iter().find(|failed| failed.key == key)
            && failed.at.elapsed() < RETRY_FAILED
        {
            return;
        }
        self.failed.retain(|failed| failed.key != key);
        match LoadedModel::load(plan, role.inputs, &version, self.onnx_threads) {
            Ok(model) => {
                let message = match served {
                    Some(old) => format!("now serving {} v{} (was v{old})", role.model, version.version),
                    None => format!("serving {} v{}", role.model, version.version),
                };
                self.report(role, &message);
                role.slot.swap(Some(Arc::new(model)), None);
            }
            Err(error) => {
                let problem = error_chain(&error);
                self.report(role, &format!("cannot load: {problem}"));
                role.slot.set_problem(Some(problem));
                self.failed.push(Failed {
                    key,
                    at: Instant::now(),
                });
            }
        }
    }

    /// The version at `stage`, or why the registry cannot say.
    fn resolve(&mut self, model: &str, stage: StageRef) -> Result<Option<mlsys_registry::ModelVersion>, String> {
        if self.registry.is_none() {
            if !self.path.exists() {
                return Err(format!(
                    "no model registry at {}: run `mlsysc build` to train and register models",
                    self.path.display()
                ));
            }
            self.registry = Some(open(&self.path).map_err(|error| error_chain(&error))?);
        }
        let registry = self.registry.as_ref().ok_or_else(String::new)?;
        registry.resolve(model, &stage).map_err(|error| {
            // Reopened on the next poll: the file may have been replaced.
            self.registry = None;
            error_chain(&error)
        })
    }

    fn report(&self, role: &Role<'_>, message: &str) {
        (self.events)(format!("target {} ({}): {message}", role.target.name, role.role));
    }
}

fn open(path: &Path) -> Result<Registry, RegistryError> {
    Registry::open(path)
}
