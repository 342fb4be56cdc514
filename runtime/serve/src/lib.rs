//! The feature server: Feast's `POST /get-online-features` over the online engine — row-level and
//! derived features compiled to native code by `mlsys-jit`, windowed aggregates read from the
//! online store as materialized by `mlsysc build` — plus `/health`, `/ready` and `/metrics`.
//!
//! A request names features (`"features": ["user_activity@v1:txn_count_7d"]`) or a feature service
//! (`"feature_service": "fraud_detector"`: a model, its pinned features in order) and gives entity
//! columns (`"entities": {"user_id": ["u1"], "amount": [12.5]}`). Row-level features read the
//! source's columns from the request; windowed values are looked up for the entity keys at the
//! request time: the source's timestamp column when the request carries it, else now. The answer
//! is Feast's column-oriented response, so Feast HTTP clients work unchanged.
//!
//! ```
//! use std::sync::Arc;
//! use mlsys_compiler::{compile, source::SourceFile};
//! use mlsys_kernels::Value;
//! use mlsys_online::{EntityKey, StoreLocation, TableId, TableMeta, Timeline, meta_name, open_store};
//! use mlsys_serve::FeatureServer;
//!
//! let text = r#"
//!     source payments {
//!       format = csv
//!       location = "data/payments"
//!       timestamp = paid_at
//!       schema { user_id: string, amount: float64, paid_at: timestamp }
//!     }
//!     entity user { key user_id: string }
//!     features user_spend v1 {
//!       entity = user
//!       from = payments
//!       payments_1d = count() over 1d every 1h
//!     }
//!     features payment_signals v1 {
//!       from = payments
//!       share = amount / (user_spend@v1.payments_1d + 1)
//!     }
//! "#;
//! let plan = Arc::new(compile(&[SourceFile::new("project.mlsys", text)]).plan.expect("the project compiles"));
//! # let directory = std::env::temp_dir().join(format!("mlsys-serve-doctest-{}", std::process::id()));
//! # let location = StoreLocation::new(directory.join("online.redb").display().to_string());
//! let runtime = tokio::runtime::Runtime::new().expect("a runtime");
//! runtime.block_on(async {
//!     // What `mlsysc build` materializes: per user, the change points of the group's aggregates.
//!     let store = open_store(&location, "doc").await.expect("the store opens");
//!     let table = TableId::new("user_spend", 1).expect("a table name");
//!     let timeline = Timeline { exact_from: i64::MIN, width: 1, points: vec![(0, vec![Value::Int(3)])] };
//!     store.write(&table, &[(EntityKey::new(vec![Value::string("u1")]), timeline.to_record(0))]).await.expect("written");
//!     let group = plan.groups.values().find(|group| group.name == "user_spend").expect("the group");
//!     let meta = TableMeta { group_hash: group.hash.0.clone(), features: vec!["payments_1d".into()], watermark: 0, stamp: String::new(), exact_from: None };
//!     store.put_meta(&meta_name(&table), &serde_json::to_vec(&meta).expect("JSON")).await.expect("written");
//!
//!     let server = FeatureServer::new(plan.clone(), store).expect("the server starts");
//!     let body = r#"{"features": ["payment_signals@v1:share"],
//!                    "entities": {"user_id": ["u1", "u2"], "amount": [8.0, 1.5]}}"#;
//!     let response = server.get_online_features(body.as_bytes()).await.expect("answered");
//!     let response: serde_json::Value = serde_json::from_str(&response).expect("JSON");
//!     assert_eq!(response["metadata"]["feature_names"], serde_json::json!(["user_id", "share"]));
//!     assert_eq!(response["results"][1]["values"], serde_json::json!([2.0, 1.5]));
//!     assert_eq!(response["results"][1]["statuses"], serde_json::json!(["PRESENT", "NOT_FOUND"]));
//! });
//! # std::fs::remove_dir_all(&directory).ok();
//! ```
//!
//! Code map:
//! - [`server`]: [`FeatureServer`] (the request flow, independent of HTTP), [`ServerOptions`],
//!   readiness.
//! - [`http`]: the axum [`router`], error bodies, request timing, [`serve`] with graceful shutdown.
//! - [`listener`]: the connection loop under every server: head and body timeouts, the
//!   connection limit and its eviction policy ([`ListenerConfig`]), the open-file limit.
//! - [`catalog`]: feature references and feature services resolved to plan features (404s).
//! - [`feature_set`]: a feature set planned once and cached: the compiled function, the request
//!   fields, the tables to read, where each input comes from.
//! - [`request`]: Feast's request body and its entity columns decoded to typed values (400s).
//! - [`wire`]: the JSON form of every value type, both ways, and RFC 3339 timestamps.
//! - [`tables`]: checking that stored tables were materialized from this plan (503s).
//! - [`lookup`]: one batched store read per table and request; the values in force at a time.
//! - [`answer`]: evaluating the rows and writing Feast's response with per-value statuses.
//! - [`metrics`]: the Prometheus metrics; [`error`]: [`ServeError`] and its status codes.
//!
//! Architecture invariant: **nothing a client sends can panic the server or make it answer 5xx
//! other than 503.** Every input is decoded with its type checked, bodies and rows are bounded,
//! names echoed in messages are cut; 500 means the store holds data this plan cannot read.
//!
//! Architecture invariant: **the server answers with the values the reference interpreter gives**
//! for the same request columns and stored windowed values, bit for bit through the JSON encoding
//! (validated by the integration tests against `mlsys_kernels::interpret::evaluate_features`).

pub mod answer;
pub mod catalog;
pub mod error;
pub mod feature_set;
pub mod http;
pub mod listener;
pub mod lookup;
pub mod metrics;
pub mod request;
pub mod server;
pub mod tables;
pub mod wire;

pub use error::ServeError;
pub use http::{feature_routes, router, serve, serve_until};
pub use listener::ListenerConfig;
pub use server::{FeatureServer, Readiness, ServerOptions};
