//! Every example project and every `ok` case of the compiler: each row-level or derived feature
//! alone, each feature group, each model's input vector and the whole plan, compiled and compared
//! with the interpreter over random rows (aggregates are random inputs).

use mlsys_compiler::compile;
use mlsys_compiler::plan::{FeatureId, FeatureKind, Plan};
use mlsys_compiler::source::SourceFile;

use crate::support::{Rng, check_feature_set, mlsys_files, workspace_root};

fn feature_sets(plan: &Plan) -> Vec<(String, Vec<FeatureId>)> {
    let mut sets = Vec::new();
    for (id, feature) in plan.features.iter() {
        if !matches!(feature.kind, FeatureKind::Aggregate(_)) {
            sets.push((format!("feature {}", feature.name), vec![id]));
        }
    }
    for group in plan.groups.values() {
        sets.push((
            format!("group {}@v{}", group.name, group.version),
            group.features.clone(),
        ));
    }
    for model in plan.models.values() {
        sets.push((format!("model {}", model.name), model.features.clone()));
    }
    sets.push((
        "every feature".to_string(),
        plan.features.iter().map(|(id, _)| id).collect(),
    ));
    sets
}

#[test]
fn example_projects_agree_with_the_interpreter() {
    let root = workspace_root();
    let mut projects: Vec<Vec<std::path::PathBuf>> = mlsys_files(&root.join("compiler/tests/cases/ok"))
        .into_iter()
        .map(|file| vec![file])
        .collect();
    projects.push(mlsys_files(&root.join("examples/fraud")));
    let (mut compiled_projects, mut sets, mut values, mut failures) = (0, 0, 0, Vec::new());
    for (index, files) in projects.iter().enumerate() {
        let sources: Vec<SourceFile> = files
            .iter()
            .map(|path| {
                SourceFile::new(
                    path.display().to_string(),
                    std::fs::read_to_string(path).expect("a file"),
                )
            })
            .collect();
        let compilation = compile(&sources);
        if compilation.has_errors() {
            continue;
        }
        let Some(plan) = compilation.plan else { continue };
        compiled_projects += 1;
        let mut rng = Rng(index as u64 + 1);
        for (name, features) in feature_sets(&plan) {
            sets += 1;
            match check_feature_set(&plan, &features, 120, &mut rng) {
                Ok(count) => values += count,
                Err(failure) => failures.push(format!("{files:?} {name}: {failure}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compiled_projects >= 6, "only {compiled_projects} projects compile");
    assert!(sets > 40, "only {sets} feature sets");
    assert!(values > 10_000, "only {values} values compared");
}
