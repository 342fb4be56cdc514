//! The feature-parallel histogram and split search of one tree level.
//!
//! Each thread owns a fixed contiguous range of features and does all the histogram work for them:
//! every histogram is accumulated in row order by one thread, and the best split per node is reduced
//! in feature order, so results are bit-identical for any thread count.

use super::binning::BinnedMatrix;
use super::histogram::{
    BINS_PER_FEATURE, BinStats, SplitCandidate, SplitRules, accumulate_contiguous, accumulate_rows, best_split,
    subtract_in_place,
};

/// Rows to accumulate: `gradients[i]` and `hessians[i]` belong to `rows[i]`.
#[derive(Clone, Copy)]
pub(crate) struct RowsView<'a> {
    pub(crate) rows: &'a [u32],
    pub(crate) gradients: &'a [f64],
    pub(crate) hessians: &'a [f64],
    /// `rows` is `0..rows.len()`: the column is read in order, without indirection.
    pub(crate) contiguous: bool,
}

/// Where a sibling's histogram comes from.
pub(crate) enum SiblingSource<'a> {
    /// Its buffer holds the parent's histogram: parent − built child.
    SubtractFromParent,
    /// No parent histogram was kept: accumulate the sibling's rows directly.
    Accumulate(RowsView<'a>),
}

/// One histogram to accumulate (a smaller child, or the root) and optionally its sibling's.
pub(crate) struct HistogramJob<'a> {
    pub(crate) built: RowsView<'a>,
    pub(crate) sibling: Option<SiblingSource<'a>>,
    pub(crate) built_can_split: bool,
    pub(crate) sibling_can_split: bool,
}

/// The best split found for the built histogram and for the sibling's.
pub(crate) type JobSplits = (Option<SplitCandidate>, Option<SplitCandidate>);

/// The buffers of one job: the built histogram (zeroed) and the sibling's (the parent's histogram
/// for subtraction, or zeroed).
pub(crate) type JobBuffers<'b> = (&'b mut Vec<BinStats>, Option<&'b mut Vec<BinStats>>);

/// The slices of one job's histograms that belong to one thread.
struct ThreadSlice<'a> {
    job: usize,
    built: &'a mut [BinStats],
    sibling: Option<&'a mut [BinStats]>,
}

pub(crate) struct HistogramWorkers<'a> {
    binned: &'a BinnedMatrix,
    rules: SplitRules,
    /// Thread `t` owns the features `feature_bounds[t]..feature_bounds[t + 1]`.
    feature_bounds: Vec<usize>,
}

impl<'a> HistogramWorkers<'a> {
    pub(crate) fn new(binned: &'a BinnedMatrix, rules: SplitRules, threads: usize) -> Self {
        let features = binned.columns.len();
        let threads = threads.clamp(1, features.max(1));
        let feature_bounds = (0..=threads).map(|thread| thread * features / threads).collect();
        HistogramWorkers {
            binned,
            rules,
            feature_bounds,
        }
    }

    /// Runs the jobs on the thread ranges; returns per job the best split of each histogram.
    pub(crate) fn run(&self, jobs: &[HistogramJob<'_>], buffers: Vec<JobBuffers<'_>>) -> Vec<JobSplits> {
        let threads = self.feature_bounds.len() - 1;
        let mut per_thread: Vec<Vec<ThreadSlice<'_>>> = (0..threads).map(|_| Vec::new()).collect();
        for (job, (built, sibling)) in buffers.into_iter().enumerate() {
            let mut sibling_chunks = sibling.map(|sibling| self.split_by_thread(sibling).into_iter());
            for (thread, built) in self.split_by_thread(built).into_iter().enumerate() {
                let sibling = sibling_chunks.as_mut().and_then(|chunks| chunks.next());
                per_thread[thread].push(ThreadSlice { job, built, sibling });
            }
        }
        let mut work = per_thread.into_iter().enumerate();
        let first = work.next();
        let per_thread_best: Vec<Vec<JobSplits>> = std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .map(|(thread, slices)| scope.spawn(move || self.thread_work(thread, jobs, slices)))
                .collect();
            let mut all = Vec::with_capacity(threads);
            if let Some((thread, slices)) = first {
                all.push(self.thread_work(thread, jobs, slices));
            }
            for handle in handles {
                // A worker panics only on a bug; re-raise it on the calling thread.
                all.push(handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
            }
            all
        });
        let mut reduced = vec![(None, None); jobs.len()];
        for thread_best in per_thread_best {
            for (slot, (built, sibling)) in reduced.iter_mut().zip(thread_best) {
                slot.0 = SplitCandidate::better(slot.0, built);
                slot.1 = SplitCandidate::better(slot.1, sibling);
            }
        }
        reduced
    }

    fn split_by_thread<'b>(&self, buffer: &'b mut [BinStats]) -> Vec<&'b mut [BinStats]> {
        let mut chunks = Vec::with_capacity(self.feature_bounds.len() - 1);
        let mut rest = buffer;
        for bounds in self.feature_bounds.windows(2) {
            let (head, tail) = rest.split_at_mut((bounds[1] - bounds[0]) * BINS_PER_FEATURE);
            chunks.push(head);
            rest = tail;
        }
        chunks
    }

    fn thread_work(&self, thread: usize, jobs: &[HistogramJob<'_>], slices: Vec<ThreadSlice<'_>>) -> Vec<JobSplits> {
        let first_feature = self.feature_bounds[thread];
        let mut best = vec![(None, None); jobs.len()];
        for slice in slices {
            let ThreadSlice {
                job,
                built,
                mut sibling,
            } = slice;
            let spec = &jobs[job];
            for (offset, built_histogram) in built.chunks_exact_mut(BINS_PER_FEATURE).enumerate() {
                let feature = first_feature + offset;
                let column = &self.binned.columns[feature];
                accumulate(column, &spec.built, built_histogram);
                let value_bins = self.binned.thresholds[feature].len() + 1;
                if spec.built_can_split {
                    let candidate = best_split(built_histogram, feature, value_bins, &self.rules);
                    best[job].0 = SplitCandidate::better(best[job].0, candidate);
                }
                if let (Some(sibling), Some(source)) = (sibling.as_deref_mut(), &spec.sibling) {
                    let sibling_histogram = &mut sibling[offset * BINS_PER_FEATURE..(offset + 1) * BINS_PER_FEATURE];
                    match source {
                        SiblingSource::SubtractFromParent => subtract_in_place(sibling_histogram, built_histogram),
                        SiblingSource::Accumulate(view) => accumulate(column, view, sibling_histogram),
                    }
                    if spec.sibling_can_split {
                        let candidate = best_split(sibling_histogram, feature, value_bins, &self.rules);
                        best[job].1 = SplitCandidate::better(best[job].1, candidate);
                    }
                }
            }
        }
        best
    }
}

fn accumulate(column: &[u8], view: &RowsView<'_>, histogram: &mut [BinStats]) {
    if view.contiguous {
        accumulate_contiguous(&column[..view.rows.len()], view.gradients, view.hessians, histogram);
    } else {
        accumulate_rows(column, view.rows, view.gradients, view.hessians, histogram);
    }
}
