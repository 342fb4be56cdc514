//! Compiled models against the reference scorer `Model::predict`, bit for bit: generated tree
//! ensembles (thresholds equal to inputs, NaN, ±0.0, infinities, NaN thresholds, single-leaf
//! trees, both tasks) and linear models, models trained on a small data set, the interpreted
//! fallback of huge ensembles, and the refusal of malformed trees.

use mlsys_jit::{CompiledModel, JitError, compile_model, compile_model_with_node_limit};
use mlsys_train::{
    Algorithm, Dataset, GbdtParams, LinearModel, LogisticRegressionParams, Model, Task, TrainOptions, Tree,
    TreeEnsemble, TreeNode, train,
};
use proptest::prelude::*;

use crate::support::Rng;

/// Values that are both thresholds and inputs, so that inputs land exactly on thresholds.
const EDGES: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -2.5,
    0.1f32 as f64,
    f64::MIN_POSITIVE,
    1e30,
    -1e30,
    f64::INFINITY,
    f64::NEG_INFINITY,
];

fn edge_or_random(rng: &mut Rng) -> f64 {
    match rng.below(4) {
        0 => (rng.below(2001) as f64 - 1000.0) / 64.0,
        1 => {
            // Next to an edge value, on either side.
            let edge = rng.pick(EDGES);
            if rng.chance(50) {
                edge.next_up()
            } else {
                edge.next_down()
            }
        }
        _ => rng.pick(EDGES),
    }
}

fn input(rng: &mut Rng) -> f64 {
    if rng.chance(15) { f64::NAN } else { edge_or_random(rng) }
}

fn threshold(rng: &mut Rng) -> f64 {
    // A NaN threshold is refused by `Model::validate` but not by the compiler: it must still agree.
    if rng.chance(3) { f64::NAN } else { edge_or_random(rng) }
}

fn leaf_value(rng: &mut Rng) -> f64 {
    let unit = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
    // Now and then large enough for the sum to overflow, and for +inf + -inf to make NaN.
    if rng.chance(2) { unit * 1e308 } else { unit * 4.0 }
}

/// A tree in breadth-first order, splits until `max_depth` (a single leaf at depth 0).
fn random_tree(rng: &mut Rng, features: usize, max_depth: usize) -> Tree {
    let mut nodes = vec![TreeNode::Leaf { value: 0.0 }];
    let mut queue = std::collections::VecDeque::from([(0usize, 0usize)]);
    while let Some((index, depth)) = queue.pop_front() {
        if depth >= max_depth || rng.chance(20) {
            nodes[index] = TreeNode::Leaf { value: leaf_value(rng) };
            continue;
        }
        let left = nodes.len();
        nodes.extend([TreeNode::Leaf { value: 0.0 }; 2]);
        nodes[index] = TreeNode::Split {
            feature: rng.below(features) as u32,
            threshold: threshold(rng),
            missing_goes_left: rng.chance(50),
            left: left as u32,
            right: left as u32 + 1,
        };
        queue.extend([(left, depth + 1), (left + 1, depth + 1)]);
    }
    Tree { nodes }
}

fn names(count: usize) -> Vec<String> {
    (0..count).map(|index| format!("x{index}")).collect()
}

fn random_ensemble(rng: &mut Rng) -> Model {
    let features = 1 + rng.below(6);
    let trees = (0..rng.below(9))
        .map(|_| {
            let depth = rng.below(8);
            random_tree(rng, features, depth)
        })
        .collect();
    ensemble_of(rng, features, trees)
}

/// An ensemble of more than `nodes` nodes.
fn large_random_ensemble(rng: &mut Rng, nodes: usize) -> Model {
    let features = 1 + rng.below(6);
    let mut trees = Vec::new();
    let mut total = 0;
    while total <= nodes {
        let depth = 4 + rng.below(6);
        let tree = random_tree(rng, features, depth);
        total += tree.nodes.len();
        trees.push(tree);
    }
    ensemble_of(rng, features, trees)
}

fn ensemble_of(rng: &mut Rng, features: usize, trees: Vec<Tree>) -> Model {
    Model::TreeEnsemble(TreeEnsemble {
        task: if rng.chance(50) {
            Task::Classification
        } else {
            Task::Regression
        },
        feature_names: names(features),
        base_score: (rng.below(2001) as f64 - 1000.0) / 100.0,
        trees,
    })
}

fn random_linear(rng: &mut Rng) -> Model {
    let features = rng.below(6);
    let linear = LinearModel {
        feature_names: names(features),
        intercept: leaf_value(rng),
        weights: (0..features).map(|_| edge_or_random(rng)).collect(),
    };
    if rng.chance(50) {
        Model::Linear(linear)
    } else {
        Model::Logistic(linear)
    }
}

fn random_rows(rng: &mut Rng, features: usize, count: usize) -> Vec<f64> {
    (0..features * count).map(|_| input(rng)).collect()
}

/// Every row scored by `score` (whole, and cut short) and by `score_many` has the bits of
/// `Model::predict`.
fn assert_scores_match(model: &Model, compiled: &CompiledModel, rows: &[f64]) {
    let features = model.feature_names().len();
    assert_eq!(compiled.feature_count(), features);
    assert_eq!(compiled.task(), model.task());
    let rows: Vec<&[f64]> = if features == 0 {
        vec![&[]; 4]
    } else {
        rows.chunks_exact(features).collect()
    };
    for row in &rows {
        for length in [row.len(), row.len() / 2, 0] {
            let row = &row[..length];
            let (expected, actual) = (model.predict(row), compiled.score(row));
            assert_eq!(
                actual.to_bits(),
                expected.to_bits(),
                "row {row:?}: compiled {actual}, reference {expected}"
            );
        }
    }
    if features > 0 {
        let matrix: Vec<f64> = rows.concat();
        let mut scores = vec![7.0];
        compiled
            .score_many(&matrix, features, &mut scores)
            .expect("a whole number of rows");
        let expected: Vec<u64> = rows.iter().map(|row| model.predict(row).to_bits()).collect();
        let actual: Vec<u64> = scores[1..].iter().map(|score| score.to_bits()).collect();
        assert_eq!(actual, expected);
    }
}

fn check_model(model: &Model, rows: &[f64]) {
    let compiled = compile_model(model).expect("the model compiles");
    assert_eq!(compiled.is_native(), matches!(model, Model::TreeEnsemble(_)));
    assert_scores_match(model, &compiled, rows);
    let interpreted = compile_model_with_node_limit(model, 0).expect("the model is accepted");
    assert!(!interpreted.is_native() || matches!(model, Model::TreeEnsemble(e) if e.trees.is_empty()));
    assert_scores_match(model, &interpreted, rows);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_ensembles_score_as_the_reference(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let model = random_ensemble(&mut rng);
        let rows = random_rows(&mut rng, model.feature_names().len(), 64);
        check_model(&model, &rows);
    }

    #[test]
    fn generated_linear_models_score_as_the_reference(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let model = random_linear(&mut rng);
        let rows = random_rows(&mut rng, model.feature_names().len(), 16);
        check_model(&model, &rows);
    }
}

proptest! {
    // Each case compiles thousands of nodes: fewer cases.
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    // Past 4096 nodes the trees are compiled into several functions, and batches of more than
    // 256 rows go through them a chunk of rows at a time.
    #[test]
    fn large_generated_ensembles_score_as_the_reference(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let nodes = 4096 + rng.below(8192);
        let model = large_random_ensemble(&mut rng, nodes);
        let rows = random_rows(&mut rng, model.feature_names().len(), 600);
        let compiled = compile_model(&model).expect("the model compiles");
        assert_scores_match(&model, &compiled, &rows);
    }
}

/// A data set with missing values whose label depends on thresholds the trainer will find.
fn training_set(task: Task) -> Dataset {
    let mut rng = Rng(42);
    let rows = 600;
    let columns: Vec<Vec<f64>> = (0..3)
        .map(|_| {
            (0..rows)
                .map(|_| {
                    if rng.chance(10) {
                        f64::NAN
                    } else {
                        (rng.below(200) as f64 - 100.0) / 8.0
                    }
                })
                .collect()
        })
        .collect();
    let labels = (0..rows)
        .map(|row| {
            let signal = columns[0][row].max(-3.0)
                + if columns[1][row].is_nan() {
                    4.0
                } else {
                    columns[1][row] / 2.0
                };
            match task {
                Task::Classification => f64::from(u8::from(signal + rng.below(5) as f64 > 3.0)),
                Task::Regression => signal + rng.below(3) as f64,
            }
        })
        .collect();
    Dataset::new(task, names(3), columns, labels).expect("a valid data set")
}

/// Rows of the data set, plus rows whose inputs are exactly the model's thresholds or NaN.
fn rows_for(model: &Model, data: &Dataset) -> Vec<f64> {
    let mut rows: Vec<f64> = (0..data.rows())
        .flat_map(|row| data.columns().iter().map(move |column| column[row]))
        .collect();
    if let Model::TreeEnsemble(ensemble) = model {
        for node in ensemble.trees.iter().flat_map(|tree| &tree.nodes) {
            if let TreeNode::Split { feature, threshold, .. } = *node {
                for value in [threshold, threshold.next_up(), threshold.next_down()] {
                    let mut alone = [f64::NAN; 3];
                    alone[feature as usize] = value;
                    rows.extend(alone);
                    rows.extend([value; 3]);
                }
            }
        }
    }
    rows
}

#[test]
fn trained_models_score_as_the_reference() {
    let gbdt = Algorithm::Gbdt(GbdtParams {
        trees: 40,
        depth: 4,
        min_rows_per_leaf: 5,
        ..GbdtParams::default()
    });
    let logistic = Algorithm::LogisticRegression(LogisticRegressionParams::default());
    for (task, algorithm) in [
        (Task::Classification, &gbdt),
        (Task::Regression, &gbdt),
        (Task::Classification, &logistic),
    ] {
        let data = training_set(task);
        let model = train(&data, algorithm, &TrainOptions { threads: 1 }).expect("the model trains");
        if let Model::TreeEnsemble(ensemble) = &model {
            assert!(
                ensemble.trees.iter().any(|tree| tree.nodes.len() > 1),
                "the trees split"
            );
        }
        check_model(&model, &rows_for(&model, &data));
    }
}

fn ensemble(trees: Vec<Tree>) -> Model {
    Model::TreeEnsemble(TreeEnsemble {
        task: Task::Regression,
        feature_names: names(2),
        base_score: 0.5,
        trees,
    })
}

fn split(feature: u32, threshold: f64, left: u32, right: u32) -> TreeNode {
    TreeNode::Split {
        feature,
        threshold,
        missing_goes_left: true,
        left,
        right,
    }
}

#[test]
fn malformed_trees_are_refused() {
    let leaf = TreeNode::Leaf { value: 1.0 };
    let empty = ensemble(vec![Tree { nodes: vec![leaf] }, Tree { nodes: vec![] }]);
    assert_eq!(
        compile_model(&empty).expect_err("an empty tree"),
        JitError::EmptyTree { tree: 1 }
    );
    let cycle = ensemble(vec![Tree {
        nodes: vec![split(0, 0.0, 1, 2), split(1, 0.0, 0, 2), leaf],
    }]);
    assert_eq!(
        compile_model(&cycle).expect_err("a cycle"),
        JitError::TreeChild {
            tree: 0,
            node: 1,
            child: 0
        }
    );
    let dangling = ensemble(vec![Tree {
        nodes: vec![split(0, 0.0, 1, 3), leaf, leaf],
    }]);
    assert_eq!(
        compile_model(&dangling).expect_err("a dangling child"),
        JitError::TreeChild {
            tree: 0,
            node: 0,
            child: 3
        }
    );
}

#[test]
fn a_split_past_the_feature_names_reads_missing_on_short_rows() {
    // Not a valid model (`Model::validate` refuses it), yet scoring it stays in bounds and agrees.
    let leaf = |value| TreeNode::Leaf { value };
    let model = ensemble(vec![Tree {
        nodes: vec![split(5, 1.0, 1, 2), leaf(1.0), leaf(2.0)],
    }]);
    let compiled = compile_model(&model).expect("the model compiles");
    for row in [&[0.0, 0.0][..], &[0.0; 6], &[0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 9.0]] {
        assert_eq!(compiled.score(row).to_bits(), model.predict(row).to_bits());
        let mut scores = Vec::new();
        compiled
            .score_many(&row.repeat(3), row.len(), &mut scores)
            .expect("three rows");
        assert_eq!(scores, vec![model.predict(row); 3]);
    }
}

#[test]
fn score_many_refuses_a_ragged_matrix() {
    let model = ensemble(vec![]);
    let compiled = compile_model(&model).expect("the model compiles");
    let mut out = Vec::new();
    for (values, features) in [(3, 2), (2, 0)] {
        assert_eq!(
            compiled.score_many(&vec![0.0; values], features, &mut out),
            Err(JitError::RowMatrixShape { values, features })
        );
    }
    assert!(out.is_empty());
}

#[test]
fn compiled_models_are_shared_between_threads() {
    fn shareable<T: Send + Sync>(_: &T) {}
    let mut rng = Rng(7);
    let model = random_ensemble(&mut rng);
    let compiled = compile_model(&model).expect("the model compiles");
    shareable(&compiled);
    let rows = random_rows(&mut rng, model.feature_names().len(), 256);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| assert_scores_match(&model, &compiled, &rows));
        }
    });
}
