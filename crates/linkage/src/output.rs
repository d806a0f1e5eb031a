//! What a linkage run writes: the match file's rows, the run's facts for
//! its manifest (counts, the fitted model's weights, the rule and
//! threshold; never a token, key or identifier value beyond the ids the
//! match file holds), and its evaluation against ground truth.

use crate::config::{Blocking, Mode, DEFAULT_THRESHOLD, DEFAULT_THRESHOLD_WITH_NHS};
use crate::input::LinkInput;
use crate::model::Model;
use crate::outcome::{LinkStats, Match};
use crate::quality::{blocking_quality, evaluate, BlockingQuality, Evaluation};
use crate::side::Side;
use crate::LinkError;
use std::collections::HashMap;

/// The Dice threshold used when no model decides and none is given: lower
/// in hybrid mode when both sides carry NHS tokens (which veto look-alikes).
pub fn default_threshold(mode: Mode, left: &Side, right: &Side) -> f64 {
    if mode == Mode::Hybrid && left.has_nhs_tokens() && right.has_nhs_tokens() {
        DEFAULT_THRESHOLD_WITH_NHS
    } else {
        DEFAULT_THRESHOLD
    }
}

/// The match file: `left,right,method,score,probability,evidence`, rows
/// named by `left_ids` / `right_ids` (cells defused against formulas).
pub fn matches_csv(matches: &[Match], left_ids: &[String], right_ids: &[String]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::with_capacity(1 << 20));
    let _ = w.write_record(["left", "right", "method", "score", "probability", "evidence"]);
    for m in matches {
        let score = if m.score == 1.0 {
            "1".to_string()
        } else {
            format!("{:.6}", m.score)
        };
        let _ = w.write_record([
            tabular::neutralise(left_ids[m.left].as_bytes()).as_ref(),
            tabular::neutralise(right_ids[m.right].as_bytes()).as_ref(),
            m.method.as_str().as_bytes(),
            score.as_bytes(),
            format!("{:.6}", m.probability).as_bytes(),
            m.evidence.as_bytes(),
        ]);
    }
    w.into_inner().unwrap_or_default()
}

/// The fitted model for the manifest: per field, level weights (bits) and
/// m/u probabilities; no plaintext, only counts over keyed comparisons.
pub fn model_json(m: &Model) -> serde_json::Value {
    let fields: Vec<serde_json::Value> = m
        .fields
        .iter()
        .enumerate()
        .map(|(f, fd)| {
            serde_json::json!({
                "field": fd.name,
                "levels": &fd.labels,
                "weights_bits": m.weights[f],
                "m": m.m[f],
                "u": m.u[f],
            })
        })
        .collect();
    serde_json::json!({
        "prior_match_probability": m.lambda,
        "em_iterations": m.iterations,
        "probability_threshold": 0.5,
        "prior_is_over": if m.all_pairs { "all pairs" } else { "candidates" },
        "fields": fields,
    })
}

/// The run's facts for the manifest's `link` entry.
pub fn facts(stats: &LinkStats, left: &LinkInput, right: &LinkInput, seconds: f64) -> serde_json::Value {
    let (lrows, rrows) = (left.side.len(), right.side.len());
    serde_json::json!({
        "exact": stats.exact,
        "fuzzy": stats.fuzzy,
        "comparisons": stats.comparisons,
        "candidates": stats.candidates,
        "nhs_vetoed": stats.nhs_vetoed,
        "passes": stats.passes,
        "fuzzy_left_rows": stats.fuzzy_left,
        "fuzzy_right_rows": stats.fuzzy_right,
        "left_rows": lrows,
        "right_rows": rrows,
        "reduction_ratio": if lrows * rrows == 0 { 1.0 } else { 1.0 - stats.comparisons as f64 / (lrows as f64 * rrows as f64) },
        "skipped_blocks": stats.skipped_blocks,
        "skipped_pairs": stats.skipped_pairs,
        "left_rows_lost_candidates": stats.left_rows_lost_candidates,
        "left_rows_uncompared": stats.left_rows_uncompared,
        "left_rejected": left.rejected,
        "right_rejected": right.rejected,
        "seconds": seconds,
        "rule": stats.rule,
        "dice_threshold": stats.dice_threshold,
        "model": stats.model.as_ref().map(model_json),
        "one_to_one": stats.partnered_share.map(|(l, r)| serde_json::json!({
            "partnered_share_left": l, "partnered_share_right": r, "matched_below_probability_threshold": stats.one_to_one,
        })),
    })
}

/// A run's matches against ground truth (`left,right` pairs in the output's
/// identifiers): precision, recall and F1, and the blocking's pair
/// completeness and reduction ratio.
pub fn evaluate_run(
    left: &LinkInput,
    right: &LinkInput,
    matches: &[Match],
    truth: &[(String, String)],
    blocking: &Blocking,
    comparisons: u64,
) -> Result<(Evaluation, BlockingQuality), LinkError> {
    let found: Vec<(String, String)> = matches
        .iter()
        .map(|m| (left.ids[m.left].clone(), right.ids[m.right].clone()))
        .collect();
    let e = evaluate(&found, truth);
    let (lidx, ridx) = (index(&left.ids), index(&right.ids));
    let tpairs: Vec<(usize, usize)> = truth
        .iter()
        .filter_map(|(l, r)| Some((*lidx.get(l.as_str())?, *ridx.get(r.as_str())?)))
        .collect();
    let q = blocking_quality(&left.side, &right.side, blocking, &tpairs, comparisons)?;
    Ok((e, q))
}

fn index(ids: &[String]) -> HashMap<&str, usize> {
    ids.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect()
}

/// The evaluation for the manifest.
pub fn evaluation_json(truth_path: &str, e: &Evaluation, q: &BlockingQuality) -> serde_json::Value {
    serde_json::json!({
        "truth": truth_path, "precision": e.precision, "recall": e.recall, "f1": e.f1,
        "true_positives": e.true_positives, "false_positives": e.false_positives, "false_negatives": e.false_negatives,
        "pair_completeness": q.pair_completeness,
    })
}
