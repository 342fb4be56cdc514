//! Growing one tree depth-wise on binned data: row partitioning, histogram subtraction (build the
//! smaller child, subtract it from the parent for the larger) and a memory budget for histograms.

use super::binning::{BinnedMatrix, MISSING_BIN};
use super::histogram::{BINS_PER_FEATURE, BinStats, SplitCandidate, SplitRules};
use super::parallel::{HistogramJob, HistogramWorkers, RowsView, SiblingSource};
use crate::model::{Tree, TreeNode};

/// Memory for live histograms. Deep trees on many rows would otherwise keep one histogram per open
/// node; beyond the budget, parents' histograms are dropped and both children accumulated directly.
const HISTOGRAM_BUDGET_BYTES: usize = 512 << 20;

/// What stays fixed while growing the trees of one training run.
pub(crate) struct TreeGrower<'a> {
    pub(crate) binned: &'a BinnedMatrix,
    rules: SplitRules,
    depth: usize,
    learning_rate: f64,
    workers: HistogramWorkers<'a>,
    /// How many node histograms may be alive at once (from [`HISTOGRAM_BUDGET_BYTES`]).
    pub(crate) max_histograms: usize,
}

/// A tree plus what the training loop needs to update its scores cheaply.
pub(crate) struct GrownTree {
    pub(crate) tree: Tree,
    /// The same tree on bin codes, for rows not in the sample (out-of-bag and validation rows).
    pub(crate) binned: BinnedTree,
    /// For every leaf: its value and the range of the `rows` array holding its rows.
    pub(crate) leaf_ranges: Vec<(f64, usize, usize)>,
}

#[derive(Debug, Clone, Copy)]
enum BinnedNode {
    Split {
        feature: usize,
        bin: u8,
        missing_goes_left: bool,
        left: usize,
        right: usize,
    },
    Leaf {
        value: f64,
    },
}

pub(crate) struct BinnedTree {
    nodes: Vec<BinnedNode>,
}

impl BinnedTree {
    /// The leaf value reached by one row of the binned matrix (the same leaf as the raw values reach).
    pub(crate) fn leaf_value(&self, binned: &BinnedMatrix, row: usize) -> f64 {
        let mut index = 0;
        loop {
            match self.nodes[index] {
                BinnedNode::Leaf { value } => return value,
                BinnedNode::Split {
                    feature,
                    bin,
                    missing_goes_left,
                    left,
                    right,
                } => {
                    let code = binned.columns[feature][row];
                    let go_left = if code == MISSING_BIN {
                        missing_goes_left
                    } else {
                        code <= bin
                    };
                    index = if go_left { left } else { right };
                }
            }
        }
    }
}

/// Buffers reused from tree to tree.
#[derive(Default)]
pub(crate) struct GrowScratch {
    ordered_gradients: Vec<f64>,
    ordered_hessians: Vec<f64>,
    partition: Vec<u32>,
}

/// A node of the level being split; its rows are `rows[begin..end]`.
struct OpenNode {
    tree_index: usize,
    begin: usize,
    end: usize,
    stats: BinStats,
    histogram: Option<Vec<BinStats>>,
    split: Option<SplitCandidate>,
}

/// A pair of children whose histograms and best splits are computed together.
struct PendingPair {
    smaller: usize,
    larger: usize,
    parent_histogram: Option<Vec<BinStats>>,
}

/// The gradients of a tree's rows, indexed by row.
pub(crate) struct Gradients<'g> {
    pub(crate) gradients: &'g [f64],
    pub(crate) hessians: &'g [f64],
}

impl<'a> TreeGrower<'a> {
    pub(crate) fn new(
        binned: &'a BinnedMatrix,
        rules: SplitRules,
        depth: usize,
        learning_rate: f64,
        threads: usize,
    ) -> TreeGrower<'a> {
        let histogram_bytes = binned.columns.len().max(1) * BINS_PER_FEATURE * std::mem::size_of::<BinStats>();
        let max_histograms = (HISTOGRAM_BUDGET_BYTES / histogram_bytes).max(2);
        let workers = HistogramWorkers::new(binned, rules, threads);
        TreeGrower {
            binned,
            rules,
            depth,
            learning_rate,
            workers,
            max_histograms,
        }
    }

    fn can_split(&self, stats: &BinStats) -> bool {
        stats.count >= 2 * self.rules.min_rows_per_leaf
    }

    fn histogram_len(&self) -> usize {
        self.binned.columns.len() * BINS_PER_FEATURE
    }

    fn leaf_value(&self, stats: &BinStats) -> f64 {
        let denominator = stats.hessian + self.rules.l2;
        let value = if denominator > 0.0 {
            -stats.gradient / denominator * self.learning_rate
        } else {
            0.0
        };
        // Leaves are float32 values, so that float32-based tree operators hold them exactly.
        let value = f64::from(value as f32);
        if value.is_finite() { value } else { 0.0 }
    }

    /// Grows a tree on the rows listed in `rows` (sorted; reordered in place into leaf ranges).
    /// `contiguous` says `rows` is `0..rows.len()`.
    pub(crate) fn grow(
        &self,
        rows: &mut [u32],
        contiguous: bool,
        gradients: &Gradients<'_>,
        scratch: &mut GrowScratch,
    ) -> GrownTree {
        let mut root_stats = BinStats::default();
        for &row in rows.iter() {
            root_stats.gradient += gradients.gradients[row as usize];
            root_stats.hessian += gradients.hessians[row as usize];
        }
        root_stats.count = rows.len() as u64;
        let mut tree = TreeBuilder::default();
        let mut level = vec![OpenNode {
            tree_index: tree.push_placeholder(),
            begin: 0,
            end: rows.len(),
            stats: root_stats,
            histogram: None,
            split: None,
        }];
        if self.depth >= 1 && self.can_split(&root_stats) {
            self.prepare_root(rows, contiguous, gradients, scratch, &mut level[0]);
        }
        for depth in 0..self.depth {
            let children_split = depth + 1 < self.depth;
            let mut next_level = Vec::new();
            let mut pending = Vec::new();
            for node in level {
                let Some(split) = node.split else {
                    tree.set_leaf(&node, self.leaf_value(&node.stats));
                    continue;
                };
                let middle = self.partition(rows, node.begin, node.end, &split, &mut scratch.partition);
                let threshold = f64::from(self.binned.thresholds[split.feature][split.bin as usize]);
                let (left_index, right_index) = tree.set_split(node.tree_index, &split, threshold);
                let left = OpenNode {
                    tree_index: left_index,
                    begin: node.begin,
                    end: middle,
                    stats: split.left,
                    histogram: None,
                    split: None,
                };
                let right = OpenNode {
                    tree_index: right_index,
                    begin: middle,
                    end: node.end,
                    stats: split.right,
                    histogram: None,
                    split: None,
                };
                if children_split && (self.can_split(&left.stats) || self.can_split(&right.stats)) {
                    let left_position = next_level.len();
                    let (smaller, larger) = if left.stats.count <= right.stats.count {
                        (left_position, left_position + 1)
                    } else {
                        (left_position + 1, left_position)
                    };
                    pending.push(PendingPair {
                        smaller,
                        larger,
                        parent_histogram: node.histogram,
                    });
                }
                next_level.push(left);
                next_level.push(right);
            }
            // A child's histogram is kept only if its own children will be split.
            let keep_histograms = depth + 2 < self.depth;
            self.prepare_children(rows, gradients, scratch, &mut next_level, pending, keep_histograms);
            level = next_level;
        }
        for node in level {
            tree.set_leaf(&node, self.leaf_value(&node.stats));
        }
        tree.finish()
    }

    fn prepare_root(
        &self,
        rows: &[u32],
        contiguous: bool,
        gradients: &Gradients<'_>,
        scratch: &mut GrowScratch,
        root: &mut OpenNode,
    ) {
        let built = if contiguous {
            RowsView {
                rows,
                gradients: gradients.gradients,
                hessians: gradients.hessians,
                contiguous: true,
            }
        } else {
            gather(rows, gradients, scratch, 0, rows.len());
            RowsView {
                rows,
                gradients: &scratch.ordered_gradients,
                hessians: &scratch.ordered_hessians,
                contiguous: false,
            }
        };
        let job = HistogramJob {
            built,
            sibling: None,
            built_can_split: true,
            sibling_can_split: false,
        };
        let mut histogram = vec![BinStats::default(); self.histogram_len()];
        let splits = self.workers.run(&[job], vec![(&mut histogram, None)]);
        root.split = splits[0].0;
        root.histogram = Some(histogram);
    }

    /// Computes the histograms and best splits of the pending pairs of children, in chunks that keep
    /// at most `max_histograms` histograms alive. A child's histogram is kept (for subtraction at the
    /// next level) while the budget allows and `keep` is set; a pair without its parent's histogram
    /// accumulates both children. Which path a pair takes depends only on the data, never on threads.
    fn prepare_children(
        &self,
        rows: &[u32],
        gradients: &Gradients<'_>,
        scratch: &mut GrowScratch,
        next_level: &mut [OpenNode],
        pending: Vec<PendingPair>,
        keep: bool,
    ) {
        let pairs_per_chunk = (self.max_histograms / 2).max(1);
        let mut kept = 0usize;
        let mut pending = pending.into_iter().peekable();
        while pending.peek().is_some() {
            let mut chunk: Vec<PendingPair> = pending.by_ref().take(pairs_per_chunk).collect();
            for pair in &chunk {
                let smaller = &next_level[pair.smaller];
                gather(rows, gradients, scratch, smaller.begin, smaller.end);
                if pair.parent_histogram.is_none() {
                    let larger = &next_level[pair.larger];
                    gather(rows, gradients, scratch, larger.begin, larger.end);
                }
            }
            let view = |node: &OpenNode| RowsView {
                rows: &rows[node.begin..node.end],
                gradients: &scratch.ordered_gradients[node.begin..node.end],
                hessians: &scratch.ordered_hessians[node.begin..node.end],
                contiguous: false,
            };
            let jobs: Vec<HistogramJob<'_>> = chunk
                .iter()
                .map(|pair| {
                    let (smaller, larger) = (&next_level[pair.smaller], &next_level[pair.larger]);
                    let sibling = match pair.parent_histogram {
                        Some(_) => SiblingSource::SubtractFromParent,
                        None => SiblingSource::Accumulate(view(larger)),
                    };
                    HistogramJob {
                        built: view(smaller),
                        sibling: Some(sibling),
                        built_can_split: self.can_split(&smaller.stats),
                        sibling_can_split: self.can_split(&larger.stats),
                    }
                })
                .collect();
            let mut built_histograms: Vec<Vec<BinStats>> = chunk
                .iter()
                .map(|_| vec![BinStats::default(); self.histogram_len()])
                .collect();
            let mut sibling_histograms: Vec<Vec<BinStats>> = chunk
                .iter_mut()
                .map(|pair| {
                    pair.parent_histogram
                        .take()
                        .unwrap_or_else(|| vec![BinStats::default(); self.histogram_len()])
                })
                .collect();
            let buffers = built_histograms
                .iter_mut()
                .zip(sibling_histograms.iter_mut())
                .map(|(built, sibling)| (built, Some(sibling)))
                .collect();
            let splits = self.workers.run(&jobs, buffers);
            drop(jobs);
            let histograms = built_histograms.into_iter().zip(sibling_histograms);
            for ((pair, (built_split, sibling_split)), (built, sibling)) in chunk.iter().zip(splits).zip(histograms) {
                for (position, split, histogram) in [
                    (pair.smaller, built_split, built),
                    (pair.larger, sibling_split, sibling),
                ] {
                    next_level[position].split = split;
                    if keep && split.is_some() && kept < self.max_histograms {
                        next_level[position].histogram = Some(histogram);
                        kept += 1;
                    }
                }
            }
        }
    }

    /// Stable partition of `rows[begin..end]` into the left rows then the right rows; returns the
    /// boundary. Stability keeps each node's rows sorted, so histogram loops read memory in order.
    fn partition(
        &self,
        rows: &mut [u32],
        begin: usize,
        end: usize,
        split: &SplitCandidate,
        right_rows: &mut Vec<u32>,
    ) -> usize {
        let column = &self.binned.columns[split.feature];
        right_rows.clear();
        let mut write = begin;
        for read in begin..end {
            let row = rows[read];
            let code = column[row as usize];
            let go_left = if code == MISSING_BIN {
                split.missing_goes_left
            } else {
                code <= split.bin
            };
            if go_left {
                rows[write] = row;
                write += 1;
            } else {
                right_rows.push(row);
            }
        }
        rows[write..end].copy_from_slice(right_rows);
        write
    }
}

/// The tree under construction, in its raw and binned forms (nodes in breadth-first order).
#[derive(Default)]
struct TreeBuilder {
    nodes: Vec<TreeNode>,
    binned_nodes: Vec<BinnedNode>,
    leaf_ranges: Vec<(f64, usize, usize)>,
}

impl TreeBuilder {
    fn push_placeholder(&mut self) -> usize {
        self.nodes.push(TreeNode::Leaf { value: 0.0 });
        self.binned_nodes.push(BinnedNode::Leaf { value: 0.0 });
        self.nodes.len() - 1
    }

    fn set_leaf(&mut self, node: &OpenNode, value: f64) {
        self.nodes[node.tree_index] = TreeNode::Leaf { value };
        self.binned_nodes[node.tree_index] = BinnedNode::Leaf { value };
        self.leaf_ranges.push((value, node.begin, node.end));
    }

    /// Turns a node into a split and returns the indices of its two new children.
    fn set_split(&mut self, index: usize, split: &SplitCandidate, threshold: f64) -> (usize, usize) {
        let (left, right) = (self.push_placeholder(), self.push_placeholder());
        self.nodes[index] = TreeNode::Split {
            feature: split.feature as u32,
            threshold,
            missing_goes_left: split.missing_goes_left,
            left: left as u32,
            right: right as u32,
        };
        self.binned_nodes[index] = BinnedNode::Split {
            feature: split.feature,
            bin: split.bin,
            missing_goes_left: split.missing_goes_left,
            left,
            right,
        };
        (left, right)
    }

    fn finish(self) -> GrownTree {
        GrownTree {
            tree: Tree { nodes: self.nodes },
            binned: BinnedTree {
                nodes: self.binned_nodes,
            },
            leaf_ranges: self.leaf_ranges,
        }
    }
}

/// Copies the gradients of `rows[begin..end]` into the same positions of the ordered buffers.
fn gather(rows: &[u32], gradients: &Gradients<'_>, scratch: &mut GrowScratch, begin: usize, end: usize) {
    if scratch.ordered_gradients.len() < rows.len() {
        scratch.ordered_gradients.resize(rows.len(), 0.0);
        scratch.ordered_hessians.resize(rows.len(), 0.0);
    }
    let ordered = scratch.ordered_gradients[begin..end]
        .iter_mut()
        .zip(&mut scratch.ordered_hessians[begin..end]);
    for ((gradient, hessian), &row) in ordered.zip(&rows[begin..end]) {
        *gradient = gradients.gradients[row as usize];
        *hessian = gradients.hessians[row as usize];
    }
}
