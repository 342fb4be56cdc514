//! The request flow in process, against the reference interpreter and the native scorer: score
//! bits, batching, fallbacks and their reasons, overload, shadow logging, hot swap.

mod fixture;

use mlsys_deploy::{DeployOptions, Reason, RequestError};
use mlsys_registry::Stage;

use fixture::{STORED_FROM, model, overflowing_model, request, serve, wait_for};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

#[test]
fn scores_have_the_bits_of_the_native_scorer_on_the_interpreters_inputs() {
    runtime().block_on(async {
        let served = serve("bits", DeployOptions::default()).await;
        let version = served.register(&model(1.0), Some(Stage::Production));
        let target = served.deployment.target("api").expect("target").clone();
        wait_for("v1 loaded", || target.primary.current().is_some()).await;
        let rows = [
            ("u1", 50.0, Some(STORED_FROM + 3_600_000_000)),
            ("u1", 150.0, Some(STORED_FROM - 1)),
            ("u2", 5000.0, None),
            ("u1", -0.0, None),
        ];
        let scored = served
            .deployment
            .score(&target, request(&target, &rows))
            .await
            .expect("scored");
        assert_eq!((scored.version, scored.fallback), (Some(version), None));
        for ((user, amount, time), score) in rows.iter().zip(&scored.scores) {
            let expected = model(1.0).predict(&served.expected_inputs(user, *amount, *time));
            assert_eq!(score.to_bits(), expected.to_bits(), "{user} {amount} {time:?}");
        }
        // The log holds each row with the inputs it was scored on.
        wait_for("the records", || {
            served.logged.0.lock().expect("records").len() == rows.len()
        })
        .await;
        let logged = served.logged.0.lock().expect("records").clone();
        assert_eq!(logged.len(), rows.len());
        assert_eq!(
            logged[0].features.values(),
            served.expected_inputs("u1", 50.0, rows[0].2).as_slice()
        );
    });
}

#[test]
fn concurrent_requests_are_batched_and_each_caller_gets_its_own_rows() {
    runtime().block_on(async {
        let served = serve("batching", DeployOptions::default()).await;
        served.register(&model(1.0), Some(Stage::Production));
        let target = served.deployment.target("api").expect("target").clone();
        wait_for("v1 loaded", || target.primary.current().is_some()).await;
        // Four requests still computing their features: a batch waits for them (up to
        // `max_wait`), so the concurrent ones below coalesce. (With none in flight a batch
        // closes at once: nothing could join it.)
        let _computing = target.in_flight.clone().try_acquire_many_owned(4).expect("permits");
        let calls = (0..24).map(|index| {
            let (deployment, target) = (served.deployment.clone(), target.clone());
            let amount = f64::from(index) * 7.5;
            tokio::spawn(async move {
                let scored = deployment
                    .score(&target, request(&target, &[("u1", amount, None)]))
                    .await
                    .expect("scored");
                (amount, scored.scores[0])
            })
        });
        let answers: Vec<(f64, f64)> = futures_join(calls.collect()).await;
        for (amount, score) in &answers {
            let expected = model(1.0).predict(&served.expected_inputs("u1", *amount, None));
            assert_eq!(score.to_bits(), expected.to_bits(), "amount {amount}");
        }
        let metrics = served.deployment.metrics().encode_body();
        let batches: f64 = metrics
            .lines()
            .find_map(|line| line.strip_prefix("mlsys_batch_rows_count{target=\"api\"} "))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or_else(|| panic!("a batch count in {metrics}"));
        assert!(batches < 24.0, "24 concurrent requests in {batches} batches");
    });
}

async fn futures_join<T: Send + 'static>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(handle.await.expect("a request task"));
    }
    results
}

#[test]
fn without_a_version_the_fallback_answers_and_without_a_fallback_the_target_refuses() {
    runtime().block_on(async {
        let served = serve("fallback", DeployOptions::default()).await;
        let api = served.deployment.target("api").expect("target").clone();
        let scored = served
            .deployment
            .score(&api, request(&api, &[("u1", 5000.0, None), ("u2", 10.0, None)]))
            .await
            .expect("the fallback answers");
        assert_eq!(scored.scores, vec![0.9, 0.1]);
        assert_eq!((scored.version, scored.fallback), (None, Some(Reason::NoModel)));
        assert!(
            !served.deployment.is_ready(),
            "`strict` has neither a model nor a fallback"
        );

        let strict = served.deployment.target("strict").expect("target").clone();
        let refused = served
            .deployment
            .score(&strict, request(&strict, &[("u1", 1.0, None)]))
            .await
            .expect_err("no model, no fallback");
        assert_eq!(refused.status_code(), 503);
        assert!(
            matches!(
                refused,
                RequestError::Unavailable {
                    reason: Reason::NoModel,
                    ..
                }
            ),
            "{refused}"
        );
        let metrics = served.deployment.metrics().encode_body();
        assert!(
            metrics.contains("mlsys_fallbacks_total{target=\"api\",reason=\"no_model\"} 1"),
            "{metrics}"
        );
    });
}

#[test]
fn a_target_at_its_in_flight_limit_refuses_with_a_retryable_error() {
    runtime().block_on(async {
        let options = DeployOptions {
            max_in_flight: 1,
            ..DeployOptions::default()
        };
        let served = serve("overload", options).await;
        let api = served.deployment.target("api").expect("target").clone();
        let _busy = api.in_flight.clone().try_acquire_owned().expect("the one permit");
        let refused = served
            .deployment
            .score(&api, request(&api, &[("u1", 1.0, None)]))
            .await
            .expect_err("over the limit");
        assert!(
            matches!(refused, RequestError::Overloaded { limit: 1, .. }),
            "{refused}"
        );
        let response = mlsys_deploy::http::error_response(&refused);
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
    });
}

#[test]
fn the_shadow_scores_every_request_off_the_path_and_both_scores_are_logged() {
    runtime().block_on(async {
        let served = serve("shadow", DeployOptions::default()).await;
        let primary = served.register(&model(1.0), Some(Stage::Production));
        let candidate = served.register(&model(2.0), None);
        let api = served.deployment.target("api").expect("target").clone();
        wait_for("both versions loaded", || {
            api.primary.current().is_some() && api.shadow_slot.current().is_some()
        })
        .await;
        let scored = served
            .deployment
            .score(&api, request(&api, &[("u1", 42.0, None)]))
            .await
            .expect("scored");
        assert_eq!(scored.version, Some(primary));
        wait_for("the shadow's record", || {
            !served.logged.0.lock().expect("records").is_empty()
        })
        .await;
        let record = served.logged.0.lock().expect("records")[0].clone();
        let inputs = served.expected_inputs("u1", 42.0, None);
        assert_eq!(record.version, Some(i64::from(primary)));
        assert_eq!(record.shadow_version, Some(i64::from(candidate)));
        assert_eq!(record.score.to_bits(), model(1.0).predict(&inputs).to_bits());
        let shadow = record.shadow_score.expect("a shadow score");
        assert_eq!(shadow.to_bits(), model(2.0).predict(&inputs).to_bits());
    });
}

#[test]
fn a_promotion_is_served_after_the_watch_swaps_it_in_and_requests_keep_their_version() {
    runtime().block_on(async {
        let served = serve("swap", DeployOptions::default()).await;
        let first = served.register(&model(1.0), Some(Stage::Production));
        let api = served.deployment.target("api").expect("target").clone();
        wait_for("v1 loaded", || api.primary.current().map(|m| m.version) == Some(first)).await;
        let held = api.primary.current().expect("v1");
        let second = served.register(&model(3.0), Some(Stage::Production));
        wait_for("v2 swapped in", || {
            api.primary.current().map(|m| m.version) == Some(second)
        })
        .await;
        // A request that started on v1 still scores with v1's model.
        assert_eq!(held.version, first);
        let inputs = served.expected_inputs("u1", 7.0, None);
        let by_held = held.score(&inputs, 1).expect("scored");
        assert_eq!(by_held[0].to_bits(), model(1.0).predict(&inputs).to_bits());
        let scored = served
            .deployment
            .score(&api, request(&api, &[("u1", 7.0, None)]))
            .await
            .expect("scored");
        assert_eq!(scored.version, Some(second));
        assert_eq!(scored.scores[0].to_bits(), model(3.0).predict(&inputs).to_bits());
    });
}

#[test]
fn a_model_that_fails_on_a_request_is_answered_by_the_fallback_with_model_error() {
    runtime().block_on(async {
        let served = serve("model-error", DeployOptions::default()).await;
        served.register(&overflowing_model(), Some(Stage::Production));
        let api = served.deployment.target("api").expect("target").clone();
        wait_for("the version loaded", || api.primary.current().is_some()).await;
        let fine = served
            .deployment
            .score(&api, request(&api, &[("u1", 10.0, None)]))
            .await
            .expect("scored");
        assert_eq!(fine.fallback, None);
        let failed = served
            .deployment
            .score(&api, request(&api, &[("u1", 1e300, None)]))
            .await
            .expect("the fallback answers");
        assert_eq!(
            (failed.fallback, failed.scores.clone()),
            (Some(Reason::ModelError), vec![0.9])
        );
        assert!(failed.detail.unwrap_or_default().contains("non-finite"));
    });
}

#[test]
fn an_onnx_version_runs_in_onnx_runtime_batched_and_agrees_with_its_native_twin() {
    runtime().block_on(async {
        let served = serve("onnx", DeployOptions::default()).await;
        served.register_onnx(&model(1.0), Some(Stage::Production));
        let api = served.deployment.target("api").expect("target").clone();
        wait_for("the ONNX version loaded", || api.primary.current().is_some()).await;
        assert!(
            api.primary.current().expect("loaded").is_onnx(),
            "{:?}",
            api.primary.problem()
        );
        let calls: Vec<_> = (0..8)
            .map(|index| {
                let (deployment, api) = (served.deployment.clone(), api.clone());
                let amount = f64::from(index) * 40.0;
                tokio::spawn(async move {
                    let scored = deployment
                        .score(&api, request(&api, &[("u1", amount, None), ("u2", amount, None)]))
                        .await
                        .expect("scored");
                    (amount, scored)
                })
            })
            .collect();
        for (amount, scored) in futures_join(calls).await {
            assert_eq!(scored.fallback, None);
            for (user, score) in ["u1", "u2"].iter().zip(&scored.scores) {
                let native = model(1.0).predict(&served.expected_inputs(user, amount, None));
                assert!((score - native).abs() < 1e-6, "{user} {amount}: {score} vs {native}");
            }
        }
    });
}
