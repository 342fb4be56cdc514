//! One small project served in process: a plan with a model and two realtime targets, a redb
//! online store holding one user's windowed values, a registry with native versions whose
//! artifacts are hand-made tree ensembles, and a sink that keeps the logged records.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mlsys_compiler::plan::{FeatureId, Plan};
use mlsys_compiler::{compile, source::SourceFile};
use mlsys_deploy::log::{PredictionRecord, PredictionSink};
use mlsys_deploy::watch::Watch;
use mlsys_deploy::{DeployOptions, Deployment, Target};
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Bindings, evaluate_features, find_column, find_feature};
use mlsys_online::{EntityKey, OnlineStore, StoreLocation, TableId, TableMeta, Timeline, meta_name, open_store};
use mlsys_registry::{FeatureInput, NewVersion, PromotionRules, Registry, Stage, store_artifact};
use mlsys_train::{Model, Task, Tree, TreeEnsemble, TreeNode};

pub const SPEC: &str = r#"
source payments {
  format = csv
  location = "data/payments"
  timestamp = paid_at
  schema { payment_id: string, user_id: string, amount: float64, paid_at: timestamp, fraud: bool }
}
entity user { key user_id: string }
features spend v1 {
  entity = user
  from = payments
  n_1d = count() over 1d every 1h
}
features signals v1 {
  from = payments
  big = amount > 100.0
  share = amount / (spend@v1.n_1d + 1)
}
model risk {
  examples = payments
  label = fraud
  features = [signals@v1, spend@v1]
  algorithm = gbdt(trees = 2, depth = 2)
  train {
    snapshot = 2026-01-01 .. 2026-01-31
    holdout = 2026-02-01 .. 2026-02-28
    metric = auc
  }
}
serve api {
  model = risk@production
  mode = realtime
  batching { max_size = 64, max_wait = 30ms }
  fallback = if amount > 1000.0 then 0.9 else 0.1
  shadow = risk@candidate
}
serve strict {
  model = risk@v9
  mode = realtime
}
"#;

/// A linear model whose score overflows to infinity for a large `amount` (through `share`).
pub fn overflowing_model() -> Model {
    Model::Linear(mlsys_train::LinearModel {
        feature_names: vec![
            "signals@v1.big".into(),
            "signals@v1.share".into(),
            "spend@v1.n_1d".into(),
        ],
        intercept: 0.0,
        weights: vec![0.0, 1e10, 0.0],
    })
}

/// When user u1's stored windowed value (`n_1d` = 3) holds from.
pub const STORED_FROM: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

/// Keeps every record the deployment logs.
#[derive(Default)]
pub struct Collected(pub Mutex<Vec<PredictionRecord>>);

impl PredictionSink for Collected {
    fn append(&self, _target: &str, records: Vec<PredictionRecord>) {
        self.0.lock().expect("records").extend(records);
    }
}

pub struct Served {
    pub plan: Arc<Plan>,
    pub deployment: Arc<Deployment>,
    pub registry: PathBuf,
    pub artifacts: PathBuf,
    pub logged: Arc<Collected>,
    pub directory: PathBuf,
    _watch: Watch,
}

impl Drop for Served {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.directory).ok();
    }
}

pub fn plan() -> Plan {
    let compilation = compile(&[SourceFile::new("project.mlsys", SPEC)]);
    compilation
        .plan
        .unwrap_or_else(|| panic!("the spec compiles: {:?}", compilation.diagnostics))
}

/// A tree ensemble over the model's three inputs (big, share, n_1d); `scale` makes versions differ.
pub fn model(scale: f64) -> Model {
    let split = |feature, threshold: f64, low: f64, high: f64| Tree {
        nodes: vec![
            TreeNode::Split {
                feature,
                threshold,
                missing_goes_left: false,
                left: 1,
                right: 2,
            },
            TreeNode::Leaf { value: low * scale },
            TreeNode::Leaf { value: high * scale },
        ],
    };
    Model::TreeEnsemble(TreeEnsemble {
        task: Task::Classification,
        feature_names: vec![
            "signals@v1.big".into(),
            "signals@v1.share".into(),
            "spend@v1.n_1d".into(),
        ],
        base_score: -0.25,
        trees: vec![
            split(0, 0.5, -0.5, 0.75),
            split(1, 20.0, 0.125, -1.0),
            split(2, 2.5, -0.25, 0.5),
        ],
    })
}

/// Starts a deployment of every realtime target over a fresh store and registry.
pub async fn serve(name: &str, options: DeployOptions) -> Served {
    let directory = std::env::temp_dir().join(format!("mlsys-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("directory");
    let plan = Arc::new(plan());
    let store = open_store(
        &StoreLocation::new(directory.join("online.redb").display().to_string()),
        "test",
    )
    .await
    .expect("store");
    materialize(&plan, store.as_ref()).await;
    let features = Arc::new(mlsys_serve::FeatureServer::new(plan.clone(), store).expect("feature server"));
    let targets = Target::plan_all(&plan, &features, &[], options.max_in_flight).expect("targets");
    let logged = Arc::new(Collected::default());
    let sink: Arc<dyn PredictionSink> = logged.clone();
    let deployment = Arc::new(Deployment::new(features, targets, &options, Some(sink)));
    let registry = directory.join("registry.db");
    let options = DeployOptions {
        registry_poll: Duration::from_millis(10),
        ..options
    };
    let watch = mlsys_deploy::watch::start(deployment.clone(), registry.clone(), &options, Arc::new(|_| {}));
    Served {
        plan,
        deployment,
        registry,
        artifacts: directory.join("artifacts"),
        logged,
        directory,
        _watch: watch,
    }
}

/// u1 has `n_1d` = 3 from [`STORED_FROM`] on.
async fn materialize(plan: &Plan, store: &dyn OnlineStore) {
    let table = TableId::new("spend", 1).expect("table");
    let timeline = Timeline {
        exact_from: STORED_FROM,
        width: 1,
        points: vec![(STORED_FROM, vec![Value::Int(3)])],
    };
    let key = EntityKey::new(vec![Value::string("u1")]);
    store
        .write(&table, &[(key, timeline.to_record(0))])
        .await
        .expect("written");
    let group = plan.groups.values().find(|group| group.name == "spend").expect("group");
    let meta = TableMeta {
        group_hash: group.hash.0.clone(),
        features: vec!["n_1d".into()],
        watermark: 0,
        stamp: String::new(),
        exact_from: None,
    };
    store
        .put_meta(&meta_name(&table), &serde_json::to_vec(&meta).expect("JSON"))
        .await
        .expect("written");
}

impl Served {
    /// Registers `model` as the next version of `risk`, approved, and moves it to `stage`.
    pub fn register(&self, model: &Model, stage: Option<Stage>) -> u32 {
        self.register_as(model, "gbdt", &model.to_bytes().expect("bytes"), stage)
    }

    /// Registers `model` exported to ONNX, as a model trained outside mlsys is registered.
    pub fn register_onnx(&self, model: &Model, stage: Option<Stage>) -> u32 {
        let onnx = mlsys_train::to_onnx(model, model.feature_names()).expect("exported");
        self.register_as(model, "onnx", &onnx, stage)
    }

    fn register_as(&self, model: &Model, algorithm: &str, bytes: &[u8], stage: Option<Stage>) -> u32 {
        let mut registry = Registry::open(&self.registry).expect("registry");
        let artifact = store_artifact(&self.artifacts, bytes).expect("artifact");
        let inputs = self.inputs();
        let version = registry
            .register(&NewVersion {
                model: "risk".into(),
                task: "classification".into(),
                spec_hash: "s".into(),
                plan_hash: "p".into(),
                features: inputs
                    .iter()
                    .zip(model.feature_names())
                    .map(|(feature, column)| FeatureInput {
                        column: column.clone(),
                        ty: self.plan.features[*feature].ty.to_string(),
                        hash: self.plan.features[*feature].hash.0.clone(),
                    })
                    .collect(),
                training_set: "t".into(),
                training_manifest: "{}".into(),
                training_fingerprint: "f".into(),
                inputs_fingerprint: format!("inputs-{}", artifact.sha256),
                algorithm: algorithm.into(),
                hyperparameters: "{}".into(),
                metric: "auc".into(),
                metrics: [("auc".to_string(), 0.9)].into(),
                reported_metrics: Default::default(),
                production_version: None,
                production_metrics: None,
                promote_if: None,
                promotable: true,
                promotion_rules: Some(PromotionRules {
                    approval_required: false,
                }),
                artifact,
                onnx: None,
                git_commit: None,
                trained_at: 0,
                seconds: 1.0,
                baseline: None,
                trigger: None,
            })
            .expect("registered")
            .version;
        if let Some(stage) = stage {
            registry.promote("risk", version, stage, None).expect("promoted");
        }
        version
    }

    pub fn inputs(&self) -> Vec<FeatureId> {
        self.plan.models.values().next().expect("a model").features.clone()
    }

    /// The model's inputs for a request row as the reference interpreter computes them, with
    /// `n_1d` as the store answers: 3 for u1 at or after [`STORED_FROM`], unknown (null) for u1
    /// before what the store holds, the empty window (0) for a user it does not hold.
    pub fn expected_inputs(&self, user: &str, amount: f64, time: Option<i64>) -> Vec<f64> {
        let plan = &self.plan;
        let column = |name| find_column(plan, "payments", name).expect("column");
        let n_1d = find_feature(plan, "spend", 1, "n_1d").expect("feature");
        let n_1d_value = match (user, time) {
            ("u1", Some(time)) if time < STORED_FROM => Value::Null,
            ("u1", _) => Value::Int(3),
            _ => Value::Int(0),
        };
        let (source, user_column) = column("user_id");
        let bindings = Bindings::new()
            .with_column(source, user_column, Value::string(user))
            .with_column(source, column("amount").1, Value::Float(amount))
            .with_feature(n_1d, n_1d_value);
        evaluate_features(plan, &self.inputs(), &bindings)
            .expect("evaluated")
            .iter()
            .map(|value| match value {
                Value::Bool(value) => f64::from(u8::from(*value)),
                Value::Int(value) => *value as f64,
                Value::Float(value) => *value,
                _ => f64::NAN,
            })
            .collect()
    }
}

/// A request's columns for the target's fields, from (user, amount, time) rows.
pub fn request(target: &Target, rows: &[(&str, f64, Option<i64>)]) -> mlsys_deploy::ScoreRequest {
    let columns = target
        .fields
        .iter()
        .map(|field| {
            rows.iter()
                .map(|(user, amount, time)| match field.name.as_str() {
                    "user_id" => Value::string(*user),
                    "amount" => Value::Float(*amount),
                    "paid_at" => time.map_or(Value::Null, Value::Timestamp),
                    other => panic!("unexpected field {other}"),
                })
                .collect()
        })
        .collect();
    mlsys_deploy::ScoreRequest {
        request_id: "test".into(),
        columns,
        rows: rows.len(),
    }
}

/// Waits for `condition`, checking every 5 ms; fails after 30 s.
pub async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
