//! How good a linkage is against ground truth: precision, recall and F1 of
//! the matches, pair completeness and reduction ratio of the blocking.

use crate::blocks::selected_passes;
use crate::config::Blocking;
use crate::side::Side;
use crate::LinkError;
use std::collections::{BTreeMap, BTreeSet};

/// Candidate-generation quality against ground truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockingQuality {
    /// True pairs that share a key in at least one selected pass (or, with
    /// all-pairs, every true pair) over all true pairs.
    pub pair_completeness: f64,
    /// `1 − comparisons / (left rows × right rows)`.
    pub reduction_ratio: f64,
}

/// Pair completeness of the selected blocking over `truth` (0-based pairs),
/// and reduction ratio given the comparisons a run made.
pub fn blocking_quality(
    left: &Side,
    right: &Side,
    blocking: &Blocking,
    truth: &[(usize, usize)],
    comparisons: u64,
) -> Result<BlockingQuality, LinkError> {
    let passes = selected_passes(left, right, blocking)?;
    let covered = if *blocking == Blocking::AllPairs {
        truth.len()
    } else {
        truth
            .iter()
            .filter(|&&(l, r)| {
                l < left.len()
                    && r < right.len()
                    && passes.iter().any(|(_, lp, rp)| {
                        left.row_keys(l)
                            .iter()
                            .filter(|(p, _)| p == lp)
                            .any(|(_, k)| right.row_keys(r).iter().any(|(p, k2)| p == rp && k2 == k))
                    })
            })
            .count()
    };
    let total = left.len() as f64 * right.len() as f64;
    Ok(BlockingQuality {
        pair_completeness: if truth.is_empty() {
            1.0
        } else {
            covered as f64 / truth.len() as f64
        },
        reduction_ratio: if total == 0.0 {
            1.0
        } else {
            1.0 - comparisons as f64 / total
        },
    })
}

/// Precision, recall and F1 of a set of matches against ground truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Matches that are in the truth.
    pub true_positives: usize,
    /// Matches that are not.
    pub false_positives: usize,
    /// True pairs not matched.
    pub false_negatives: usize,
    /// TP / (TP + FP) (1 when there are no matches).
    pub precision: f64,
    /// TP / (TP + FN) (1 when the truth is empty).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// Compare matched pairs with true pairs (any comparable identifiers; each
/// set is deduplicated).
pub fn evaluate<T: Ord + Clone>(matches: &[(T, T)], truth: &[(T, T)]) -> Evaluation {
    let m: BTreeSet<(T, T)> = matches.iter().cloned().collect();
    let t: BTreeSet<(T, T)> = truth.iter().cloned().collect();
    let tp = m.intersection(&t).count();
    let fp = m.len() - tp;
    let fn_ = t.len() - tp;
    let precision = if m.is_empty() {
        1.0
    } else {
        tp as f64 / m.len() as f64
    };
    let recall = if t.is_empty() {
        1.0
    } else {
        tp as f64 / t.len() as f64
    };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Evaluation {
        true_positives: tp,
        false_positives: fp,
        false_negatives: fn_,
        precision,
        recall,
        f1,
    }
}

/// Matches and true positives per label (a match file's `evidence` or
/// `method` column, `labels[i]` for `matches[i]`), by label.
pub fn by_label(
    matches: &[(String, String)],
    labels: &[String],
    truth: &[(String, String)],
) -> BTreeMap<String, (usize, usize)> {
    let truth_set: BTreeSet<&(String, String)> = truth.iter().collect();
    let mut by: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (pair, m) in matches.iter().zip(labels) {
        let entry = by.entry(m.clone()).or_default();
        entry.0 += 1;
        entry.1 += truth_set.contains(pair) as usize;
    }
    by
}
