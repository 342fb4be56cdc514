//! [`FeatureServer`]: the plan, the online store, the compiled feature sets and the metrics, and
//! the request flow of `/get-online-features` and `/ready` independent of HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mlsys_compiler::plan::{FeatureId, Plan};
use mlsys_jit::JitCache;
use mlsys_kernels::Value;
use mlsys_online::{OnlineStore, Timeline};

use crate::answer::{answer, model_inputs};
use crate::catalog::Catalog;
use crate::error::ServeError;
use crate::feature_set::{FeatureSet, RequestTime};
use crate::lookup::read_timelines;
use crate::metrics::Metrics;
use crate::request::{RequestBody, Selection};
use crate::tables::{Expected, TableChecks, check, materialized_tables};
use crate::wire::write_string;

/// Limits and cache settings. The defaults suit a feature server behind a model endpoint.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Most rows (entities) in one request (400 beyond).
    pub max_rows: usize,
    /// Most features in one request (400 beyond): each new feature set is compiled, so the
    /// size of what a client can make the server compile is bounded.
    pub max_features: usize,
    /// Most distinct feature sets kept compiled; when full, the cache starts over (a client
    /// sending ever new feature lists cannot grow memory without bound).
    pub max_feature_sets: usize,
    /// How long a table's verified metadata is trusted before it is read again.
    pub metadata_fresh_for: Duration,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            max_body_bytes: 4 << 20,
            max_rows: 10_000,
            max_features: 1_000,
            max_feature_sets: 256,
            metadata_fresh_for: Duration::from_secs(1),
        }
    }
}

/// The answer of `/ready`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// A JSON object: `status`, and `problems` / `not_materialized` lists.
    pub body: String,
}

/// A planned feature set's identity: what is read, and at whose time.
type SetKey = (RequestTime, Vec<FeatureId>);

/// Serves the features of one plan from one online store. Share it (`Arc`) between requests.
pub struct FeatureServer {
    plan: Arc<Plan>,
    store: Arc<dyn OnlineStore>,
    options: ServerOptions,
    catalog: Catalog,
    jit: JitCache,
    feature_sets: Mutex<HashMap<SetKey, Arc<FeatureSet>>>,
    tables: TableChecks,
    metrics: Metrics,
}

impl std::fmt::Debug for FeatureServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureServer")
            .field("store", &self.store.location())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl FeatureServer {
    /// A server with the default options. See [`FeatureServer::with_options`].
    pub fn new(plan: Arc<Plan>, store: Arc<dyn OnlineStore>) -> Result<FeatureServer, ServeError> {
        FeatureServer::with_options(plan, store, ServerOptions::default())
    }

    /// Verifies the plan and compiles every feature service (each model's features) up front, so
    /// their first requests do not pay for compilation. Does not touch the store: a server may
    /// start before its store is reachable (`/ready` says when it is).
    pub fn with_options(
        plan: Arc<Plan>,
        store: Arc<dyn OnlineStore>,
        options: ServerOptions,
    ) -> Result<FeatureServer, ServeError> {
        let problems = mlsys_compiler::plan::verify::verify(&plan);
        if let Some(problem) = problems.first() {
            return Err(ServeError::Internal(format!(
                "the plan fails verification ({} problems), first: {problem:?}",
                problems.len()
            )));
        }
        let server = FeatureServer {
            catalog: Catalog::new(&plan),
            plan,
            store,
            options,
            jit: JitCache::new(),
            feature_sets: Mutex::new(HashMap::new()),
            tables: TableChecks::default(),
            metrics: Metrics::new(),
        };
        let services: Vec<SetKey> = server
            .catalog
            .service_names()
            .filter_map(|name| server.catalog.service(name).ok())
            .map(|service| (RequestTime::Examples(service.examples), service.features.clone()))
            .collect();
        for (time, features) in services {
            match server.feature_set(time, &features) {
                // A model whose fields conflict is answered with that 400 on each request.
                Ok(_) | Err(ServeError::BadRequest(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(server)
    }

    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    pub fn store(&self) -> &Arc<dyn OnlineStore> {
        &self.store
    }

    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The planned and compiled feature set of `features` read at `time`, from the cache or
    /// built now.
    fn feature_set(&self, time: RequestTime, features: &[FeatureId]) -> Result<Arc<FeatureSet>, ServeError> {
        let key = (time, features.to_vec());
        if let Some(set) = self.cached_sets().get(&key) {
            return Ok(set.clone());
        }
        // Built outside the lock: a compile takes milliseconds and other sets need not wait.
        let set = Arc::new(FeatureSet::build(&self.plan, features, time, &self.jit)?);
        let mut sets = self.cached_sets();
        if sets.len() >= self.options.max_feature_sets {
            sets.clear();
            self.jit.clear();
        }
        Ok(sets.entry(key).or_insert(set).clone())
    }

    fn cached_sets(&self) -> std::sync::MutexGuard<'_, HashMap<SetKey, Arc<FeatureSet>>> {
        // The map holds no invariant a panicking holder could break.
        self.feature_sets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers a `/get-online-features` body with the response JSON.
    pub async fn get_online_features(&self, body: &[u8]) -> Result<String, ServeError> {
        if body.len() > self.options.max_body_bytes {
            return Err(ServeError::PayloadTooLarge(format!(
                "request body of {} bytes; at most {} are accepted",
                body.len(),
                self.options.max_body_bytes
            )));
        }
        let request = RequestBody::parse(body)?;
        let (time, features) = match request.selection()? {
            Selection::Service(name) => {
                let service = self.catalog.service(name)?;
                (RequestTime::Examples(service.examples), service.features.clone())
            }
            Selection::Features(references) => {
                let features = references
                    .iter()
                    .map(|reference| self.catalog.resolve(&self.plan, reference))
                    .collect::<Result<Vec<_>, _>>()?;
                (RequestTime::OwnSource, features)
            }
        };
        if features.len() > self.options.max_features {
            return Err(ServeError::bad_request(format!(
                "{} features in one request; at most {} are accepted",
                features.len(),
                self.options.max_features
            )));
        }
        let mut distinct = features.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != features.len() {
            return Err(ServeError::bad_request(
                "a feature is requested twice: the response would have two columns of the same name",
            ));
        }
        let set = self.feature_set(time, &features)?;
        let collision = if request.full_feature_names {
            &set.full_name_collision
        } else {
            &set.short_name_collision
        };
        if let Some(name) = collision {
            return Err(ServeError::bad_request(format!(
                "the response would have two columns named `{name}`{}",
                if request.full_feature_names {
                    ": request each feature once"
                } else {
                    ": set `full_feature_names` to true, or request each feature once"
                }
            )));
        }
        let rows = request.row_count(self.options.max_rows)?;
        let now = now_micros();
        let columns = set
            .fields
            .iter()
            .map(|field| request.decode_field(field, rows, now))
            .collect::<Result<Vec<_>, _>>()?;
        let timelines = self.read_lookups(&set, &columns, rows).await?;
        let response = answer(&set, &columns, &timelines, rows, now, request.full_feature_names)?;
        self.metrics.count_rows(rows as u64);
        Ok(response)
    }

    /// The planned and compiled feature set of a feature service (a model's pinned features,
    /// read at its examples source's time): its `fields` are what a request must carry.
    pub fn service(&self, name: &str) -> Result<Arc<FeatureSet>, ServeError> {
        let service = self.catalog.service(name)?;
        let features = service.features.clone();
        self.feature_set(RequestTime::Examples(service.examples), &features)
    }

    /// A model's inputs for `rows` request rows: `columns` holds each of `set.fields`' values
    /// (typed, one per row; a null request time reads at `now`). Row-major, one float64 per
    /// feature of the set, converted as training converts them ([`model_inputs`]).
    pub async fn service_inputs(
        &self,
        set: &FeatureSet,
        columns: &[Vec<Value>],
        rows: usize,
        now: i64,
    ) -> Result<Vec<f64>, ServeError> {
        let timelines = self.read_lookups(set, columns, rows).await?;
        let inputs = model_inputs(set, columns, &timelines, rows, now)?;
        self.metrics.count_rows(rows as u64);
        Ok(inputs)
    }

    /// Each lookup's stored timelines for the request's rows, after checking its table was
    /// materialized from this plan.
    async fn read_lookups(
        &self,
        set: &FeatureSet,
        columns: &[Vec<Value>],
        rows: usize,
    ) -> Result<Vec<Vec<Option<Timeline>>>, ServeError> {
        let mut timelines = Vec::with_capacity(set.lookups.len());
        for lookup in &set.lookups {
            let expected = Expected {
                table: &lookup.table,
                group_hash: &lookup.group_hash,
                aggregate_names: &lookup.aggregate_names,
            };
            self.tables
                .ensure(self.store.as_ref(), expected, self.options.metadata_fresh_for)
                .await?;
            timelines.push(read_timelines(self.store.as_ref(), lookup, columns, rows, &self.metrics).await?);
        }
        Ok(timelines)
    }

    /// Whether the store answers and every materialized table matches the plan. Tables never
    /// materialized do not make the server unready (a plan may define groups no client reads
    /// yet); they are listed, and requests needing them get 503.
    pub async fn readiness(&self) -> Readiness {
        let tables = materialized_tables(&self.plan);
        let mut problems = Vec::new();
        let mut not_materialized = Vec::new();
        if tables.is_empty()
            && let Err(error) = self.store.get_meta("serve/ready-probe").await
        {
            problems.push(ServeError::from(error).to_string());
        }
        for (group, table, aggregate_names) in &tables {
            let expected = Expected {
                table,
                group_hash: &self.plan.groups[*group].hash.0,
                aggregate_names,
            };
            match check(self.store.as_ref(), &expected).await {
                Ok(()) => {}
                Err(ServeError::NeverMaterialized(_)) => {
                    not_materialized.push(table.to_string());
                }
                Err(error @ ServeError::StoreUnavailable(_)) => {
                    // One unreachable store answer says it all; do not wait for a timeout per table.
                    problems.push(error.to_string());
                    break;
                }
                Err(error) => problems.push(error.to_string()),
            }
        }
        let ready = problems.is_empty();
        let mut body = String::from("{\"status\":");
        write_string(&mut body, if ready { "ready" } else { "not ready" });
        for (key, list) in [("problems", &problems), ("not_materialized", &not_materialized)] {
            body.push_str(",\"");
            body.push_str(key);
            body.push_str("\":[");
            for (index, item) in list.iter().enumerate() {
                if index > 0 {
                    body.push(',');
                }
                write_string(&mut body, item);
            }
            body.push(']');
        }
        body.push('}');
        Readiness { ready, body }
    }
}

/// The request time when a request carries none: the wall clock, in microseconds.
pub fn now_micros() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}
