//! A feature table always holds what its group's current definition computes: an edited group is
//! rebuilt with its new columns, a deleted table is rebuilt, and a table another definition wrote
//! is never updated in place.

use mlsys_batch::BuildOptions;

use crate::features::{SMALL_SPEC, small_project};
use crate::support::Project;

const TABLES: [&str; 2] = ["features/recent/v1", "features/signals/v1"];

/// `SMALL_SPEC` with one more aggregate in `recent v1`, and a row-level feature reading it.
fn edited_spec() -> String {
    SMALL_SPEC
        .replace(
            "  share_big = if",
            "  min_amount_2d = min(amount) over 2d every 1d\n  share_big = if",
        )
        .replace(
            "  share = recent@v1.share_big\n",
            "  share = recent@v1.share_big\n  low = recent@v1.min_amount_2d\n",
        )
}

/// Every table's rows, for comparing two stores.
async fn rows(project: &Project) -> Vec<Vec<String>> {
    let mut tables = Vec::new();
    for table in TABLES {
        tables.push(project.rows(table).await);
    }
    tables
}

/// The columns of a table, by name.
async fn columns(project: &Project, table: &str) -> Vec<String> {
    let metadata = project
        .table(table)
        .metadata()
        .await
        .expect("metadata")
        .expect("a table");
    metadata.columns.fields().map(|field| field.name().clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_group_is_rebuilt_with_its_new_columns() {
    let project = small_project("definitions-edited");
    project.build(&BuildOptions::default()).await.expect("first build");
    std::fs::write(project.root.join("spec.mlsys"), edited_spec()).expect("edit");
    let report = project
        .build(&BuildOptions::default())
        .await
        .expect("a build after the edit");
    assert!(report.features.iter().all(|table| table.full), "{:?}", report.features);
    assert!(
        columns(&project, TABLES[0])
            .await
            .contains(&"min_amount_2d".to_string())
    );
    assert!(columns(&project, TABLES[1]).await.contains(&"low".to_string()));
    // The new columns, the new rows and the removal of the old ones: one commit.
    let (_, last) = project.last_commit(TABLES[0]);
    for action in ["\"metaData\"", "\"add\"", "\"remove\""] {
        assert!(last.contains(action), "the rebuild's commit has {action}: {last}");
    }

    // The same tables as a project built from the edited spec alone.
    let fresh = small_project("definitions-fresh");
    std::fs::write(fresh.root.join("spec.mlsys"), edited_spec()).expect("edit");
    fresh.build(&BuildOptions::default()).await.expect("fresh build");
    assert_eq!(rows(&project).await, rows(&fresh).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_table_is_rebuilt() {
    let project = small_project("definitions-deleted");
    project.build(&BuildOptions::default()).await.expect("first build");
    let before = rows(&project).await;
    for table in TABLES {
        std::fs::remove_dir_all(project.table(table).path).expect("delete the table");
    }
    let report = project
        .build(&BuildOptions::default())
        .await
        .expect("a build after the deletion");
    assert!(report.features.iter().all(|table| table.full), "{:?}", report.features);
    assert_eq!(rows(&project).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_of_another_definition_is_rebuilt_even_when_the_state_says_it_is_current() {
    let project = small_project("definitions-restored");
    project.build(&BuildOptions::default()).await.expect("first build");
    let before = rows(&project).await;
    let state_file = project.store().join("_state/build.json");
    let saved_state = std::fs::read(&state_file).expect("state");
    // Build the edited spec, then go back to the original spec and its state file: the state
    // says the tables are current, the tables hold the edited definition's columns.
    std::fs::write(project.root.join("spec.mlsys"), edited_spec()).expect("edit");
    project.build(&BuildOptions::default()).await.expect("edited build");
    std::fs::write(project.root.join("spec.mlsys"), SMALL_SPEC).expect("revert");
    // The restored state keeps the run counter (a run number is never reused).
    let current: serde_json::Value = serde_json::from_slice(&std::fs::read(&state_file).expect("state")).expect("json");
    let mut restored: serde_json::Value = serde_json::from_slice(&saved_state).expect("json");
    restored["run"] = current["run"].clone();
    std::fs::write(&state_file, restored.to_string()).expect("restore the state");
    let report = project
        .build(&BuildOptions::default())
        .await
        .expect("a build of the original spec");
    assert!(report.features.iter().all(|table| table.full), "{:?}", report.features);
    assert!(
        !columns(&project, TABLES[0])
            .await
            .contains(&"min_amount_2d".to_string())
    );
    assert_eq!(rows(&project).await, before);
}
