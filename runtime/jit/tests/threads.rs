//! Concurrent use: one compiled feature set evaluated from several threads at once, each with its
//! own row buffer, and one cache asked for the same feature set from several threads.

use std::sync::Arc;

use mlsys_compiler::plan::Plan;
use mlsys_jit::{CompiledFeatures, JitCache, Row, compile};

use crate::support::{Rng, compare_on, mlsys_files, project, random_bindings, workspace_root};

fn fraud_plan() -> Plan {
    let files: Vec<(String, String)> = mlsys_files(&workspace_root().join("examples/fraud"))
        .iter()
        .map(|path| {
            (
                path.display().to_string(),
                std::fs::read_to_string(path).expect("a file"),
            )
        })
        .collect();
    project(&files)
}

#[test]
fn compiled_features_and_rows_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<CompiledFeatures>();
    send_sync::<JitCache>();
    send::<Row>();
}

#[test]
fn one_feature_set_evaluated_from_several_threads() {
    let plan = Arc::new(fraud_plan());
    let model = plan.models.values().next().expect("the fraud model");
    let compiled = Arc::new(compile(&plan, &model.features).expect("the model's features compile"));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (plan, compiled) = (plan.clone(), compiled.clone());
            std::thread::spawn(move || -> Result<usize, String> {
                let mut rng = Rng(1000 + worker);
                let mut row = compiled.new_row();
                let mut compared = 0;
                for _ in 0..300 {
                    let bindings = random_bindings(&plan, &mut rng);
                    compared += compare_on(&plan, &compiled, &mut row, &bindings)?;
                }
                Ok(compared)
            })
        })
        .collect();
    for worker in workers {
        let compared = worker.join().expect("no panic").expect("the engines agree");
        assert_eq!(compared, 300 * model.features.len());
    }
}

#[test]
fn a_cache_compiles_a_feature_set_once_for_all_threads() {
    let plan = Arc::new(fraud_plan());
    let cache = Arc::new(JitCache::new());
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (plan, cache) = (plan.clone(), cache.clone());
            std::thread::spawn(move || {
                let model = plan.models.values().next().expect("the fraud model");
                cache.get_or_compile(&plan, &model.features).expect("it compiles")
            })
        })
        .collect();
    let compiled: Vec<Arc<CompiledFeatures>> = workers
        .into_iter()
        .map(|worker| worker.join().expect("no panic"))
        .collect();
    assert!(compiled.iter().all(|each| Arc::ptr_eq(each, &compiled[0])));
    assert_eq!(cache.len(), 1);
}
