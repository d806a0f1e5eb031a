//! `trialink evaluate`: precision, recall and F1 of a match file against
//! ground truth, overall, by evidence type and by method.

use crate::error::{CliError, CliResult};
use linkage::{by_label, evaluate, read_column, read_pairs};
use std::path::Path;
use std::process::ExitCode;
use tabular::{sidecar_path, Manifest};

/// Options for `trialink evaluate`.
///
/// Compares a match file (`left`, `right` columns, e.g. from `trialink link`)
/// with a truth file (`left`, `right`) and prints precision, recall, F1 and
/// the counts behind them, one `name value` per line. When the match file's
/// manifest records a linkage run, its reduction ratio, and pair completeness
/// if it was linked with `--truth`, are printed too. With a `method` column,
/// precision is also given per method.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
trialink evaluate --matches matches.csv --truth fixtures/synth/truth_registry.csv")]
pub struct Args {
    /// The match file (`left`, `right`[, `method`]).
    #[arg(long, value_name = "FILE")]
    pub matches: String,
    /// The truth file (`left`, `right`).
    #[arg(long, value_name = "FILE")]
    pub truth: String,
}

pub fn run(a: Args) -> CliResult {
    let read = |p: &str| read_pairs(p).map_err(|e| CliError::new(&e).maybe_hint(e.hint()));
    let matches = read(&a.matches)?;
    let truth = read(&a.truth)?;
    let e = evaluate(&matches, &truth);
    outln!("precision {:.4}", e.precision);
    outln!("recall {:.4}", e.recall);
    outln!("f1 {:.4}", e.f1);
    outln!("true_positives {}", e.true_positives);
    outln!("false_positives {}", e.false_positives);
    outln!("false_negatives {}", e.false_negatives);
    // Per evidence type (from `link`'s `evidence` column): precision, the
    // share of true pairs found that way (recall) and their F1.
    if let Ok(ev) = read_column(&a.matches, "evidence") {
        let truth_set: std::collections::BTreeSet<&(String, String)> = truth.iter().collect();
        for (m, (n, tp)) in by_label(&matches, &ev, &truth) {
            let p = if n == 0 { 1.0 } else { tp as f64 / n as f64 };
            let r = if truth.is_empty() {
                0.0
            } else {
                tp as f64 / truth_set.len() as f64
            };
            let f = if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) };
            outln!("evidence_{m} precision {p:.4} recall_share {r:.4} f1 {f:.4} ({tp}/{n})");
        }
    }
    // Per-method precision, when the file says how each pair was matched.
    if let Ok(methods) = read_column(&a.matches, "method") {
        for (m, (n, tp)) in by_label(&matches, &methods, &truth) {
            outln!(
                "precision_{m} {:.4} ({tp}/{n})",
                if n == 0 { 1.0 } else { tp as f64 / n as f64 }
            );
        }
    }
    if a.matches != "-" {
        let mp = sidecar_path(Path::new(&a.matches), ".manifest.json");
        if let Ok(m) = Manifest::read(&mp) {
            if let Some(link) = m.extra.get("link") {
                if let Some(rr) = link.get("reduction_ratio").and_then(|v| v.as_f64()) {
                    outln!("reduction_ratio {rr:.6}");
                }
                if let Some(pc) = link
                    .get("evaluation")
                    .and_then(|e| e.get("pair_completeness"))
                    .and_then(|v| v.as_f64())
                {
                    outln!("pair_completeness {pc:.4}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
