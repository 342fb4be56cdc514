//! Unit tests of tree growth internals that the public API cannot reach.

use super::binning::BinnedMatrix;
use super::grow::{Gradients, GrowScratch, TreeGrower};
use super::histogram::SplitRules;
use crate::dataset::{Dataset, Task};
use crate::model::TreeNode;
use crate::rng::Rng;

/// A regression set with a few interacting features and missing values.
fn dataset() -> Dataset {
    let mut rng = Rng::from_seed(3);
    let rows = 4000;
    let columns: Vec<Vec<f64>> = (0..5)
        .map(|feature| {
            (0..rows)
                .map(|_| {
                    if feature == 1 && rng.next_unit() < 0.1 {
                        f64::NAN
                    } else {
                        rng.next_unit() * 4.0 - 2.0
                    }
                })
                .collect()
        })
        .collect();
    let labels = (0..rows)
        .map(|row| {
            let x = |feature: usize| columns[feature][row];
            let x1 = if x(1).is_nan() { 1.0 } else { x(1) };
            (3.0 * x(0)).sin() + x1 * x(2) + if x(3) > 0.5 { 2.0 } else { 0.0 }
        })
        .collect();
    let names = (0..5).map(|index| format!("x{index}")).collect();
    Dataset::new(Task::Regression, names, columns, labels).unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn a_tiny_histogram_budget_grows_the_same_tree() {
    let data = dataset();
    let binned = BinnedMatrix::build(&data, data.rows(), 2);
    let rules = SplitRules {
        l2: 1.0,
        min_rows_per_leaf: 5,
    };
    // Gradients of the squared error at the score 0.
    let gradients: Vec<f64> = data.labels().iter().map(|label| -label).collect();
    let hessians = vec![1.0; data.rows()];
    let gradients = Gradients {
        gradients: &gradients,
        hessians: &hessians,
    };
    let grow = |max_histograms: usize| {
        let mut grower = TreeGrower::new(&binned, rules, 7, 0.5, 2);
        grower.max_histograms = max_histograms;
        let mut rows: Vec<u32> = (0..data.rows() as u32).collect();
        grower
            .grow(&mut rows, true, &gradients, &mut GrowScratch::default())
            .tree
    };
    let roomy = grow(1 << 20);
    // Two histograms at a time: at most two survive a level, so most children are accumulated directly.
    let tight = grow(2);
    assert!(
        roomy.nodes.len() > 60,
        "the tree should be deep: {} nodes",
        roomy.nodes.len()
    );
    assert_eq!(roomy.nodes.len(), tight.nodes.len());
    for (roomy_node, tight_node) in roomy.nodes.iter().zip(&tight.nodes) {
        match (roomy_node, tight_node) {
            (TreeNode::Leaf { value: a }, TreeNode::Leaf { value: b }) => {
                assert!((a - b).abs() <= 1e-6 * (1.0 + a.abs()), "{a} vs {b}");
            }
            (split_a, split_b) => assert_eq!(split_a, split_b),
        }
    }
}
