//! One `trialink link` run: the inputs and their manifests checked and
//! read, the link made, the match file written with its manifest, the
//! decision and counts told line by line, and the evaluation against
//! ground truth when one is given; and one `trialink evaluate` run, a match
//! file against ground truth ([`evaluate_files`]).

use crate::config::{Blocking, Config, Mode};
use crate::input::read_column;
use crate::input::{
    check_manifests, manifest_of, read_pairs, read_side, InputError, LinkInput, ManifestMismatch,
};
use crate::outcome::LinkStats;
use crate::output::{default_threshold, evaluate_run, evaluation_json, facts, matches_csv};
use crate::quality::{by_label, evaluate};
use crate::{link, LinkError};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use tabular::{sidecar, FileRecord, Manifest, OutputMode, RowCounts, Say, TableOutput, TabularError};

/// What a link run is asked.
///
/// Links two files of pseudonymised records. Each may have `token`
/// (token_nhs_dob), `clk` (base64 CLK) and `blocking` (keyed blocking keys
/// from `trialink encode`) columns. In the default hybrid mode rows with equal
/// tokens are paired first; the remaining rows with CLKs are compared by Dice
/// within shared blocks, candidates at or above the threshold are ordered by
/// score (then left row, then right row) and assigned greedily one-to-one.
/// If both files also carry `nhs_token` (`pseudonymise --with-nhs-token`),
/// hybrid mode never pairs two rows fuzzily whose NHS tokens differ.
/// Without `--threshold`, fuzzy matches come from a model: with keyed field
/// encodings (`fb_…`/`fk_…` items, see fixtures/linkage/schema_fields.json),
/// each field's comparison level is weighed (u from random pairs, m and the
/// prior over all pairs by EM over the blocked candidates); with only keyed
/// blocking / match keys or NHS tokens, the record Dice and key groups are
/// weighed by a mixture over the candidates. Each pair gets a match
/// probability and pairs at 0.5 or above are assigned 1:1, most probable
/// first (an NHS-token agreement is evidence, not only a veto); with CLKs
/// alone the Dice threshold is the valley of the rows' best scores. The
/// weights, rule and threshold are printed and in the manifest.
/// Output columns: `left`, `right`, `method` (`exact` or `fuzzy`), `score`,
/// `probability`, `evidence` (`token`, `nhs`, `fields`, `keys` or `clk`).
#[derive(Debug, Clone)]
pub struct LinkRun<'a> {
    /// Left file (`-` for stdin).
    pub left: &'a str,
    /// Right file.
    pub right: &'a str,
    /// The match file (`-` for stdout).
    pub output: &'a str,
    /// Column naming rows in the output (default: 1-based row numbers).
    pub id_column: Option<&'a str>,
    /// A fixed Dice threshold instead of the fitted model.
    pub threshold: Option<f64>,
    /// Blocking passes: `all`, `none` or names (default: all when both have them).
    pub blocking: Option<&'a str>,
    /// `hybrid`, `token` or `clk`.
    pub mode: &'a str,
    /// Ground truth to evaluate against.
    pub truth: Option<&'a str>,
    /// Link even though the manifests disagree on keys or schemas.
    pub ignore_manifests: bool,
    /// Replace existing output files.
    pub force: bool,
    /// Where to write the manifest (default `<output>.manifest.json`).
    pub manifest: Option<&'a Path>,
    /// Skip blocks needing more comparisons than this.
    pub max_block_pairs: u64,
    /// The version recorded in the manifest.
    pub version: &'a str,
}

/// Why a link run stopped. Positions and names, never values.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The two manifests say the files cannot match.
    #[error(transparent)]
    Manifests(#[from] ManifestMismatch),
    /// An input (or the truth file) could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The link itself failed.
    #[error(transparent)]
    Link(LinkError),
    /// The evaluation against ground truth failed.
    #[error("{0}")]
    Evaluate(LinkError),
    /// Writing an output failed.
    #[error(transparent)]
    Tabular(#[from] TabularError),
    /// The fixed Dice threshold is outside (0, 1].
    #[error("--threshold must be greater than 0 and at most 1")]
    Threshold,
    /// Writing the match file failed.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The match file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl RunError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            RunError::Manifests(e) => Some(e.hint().to_string()),
            RunError::Threshold => Some("e.g. --threshold 0.8".into()),
            RunError::Input(e) => e.hint(),
            RunError::Link(_) => Some("check both files were encoded with the same schema".into()),
            RunError::Tabular(e) => e.hint().map(str::to_string),
            RunError::Evaluate(_) | RunError::Write { .. } => None,
        }
    }
}

impl LinkRun<'_> {
    /// Run it, telling `say` what happens as it happens. The match file and
    /// its manifest are in place only when the run succeeds.
    pub fn run(&self, say: &mut dyn FnMut(Say)) -> Result<(), RunError> {
        if self.threshold.is_some_and(|t| !(t > 0.0 && t <= 1.0)) {
            return Err(RunError::Threshold);
        }
        let started = std::time::Instant::now();
        let mut manifest = Manifest::new("link", self.version);
        let mode = Mode::from_name(self.mode);
        // Manifests: tokens under different keys, or CLKs under different schemas, cannot match.
        let (lm, rm) = (manifest_of(self.left), manifest_of(self.right));
        if !self.ignore_manifests {
            check_manifests(lm.as_ref(), rm.as_ref(), mode)?;
        }
        let left = read_side(self.left, self.id_column, mode)?;
        let right = read_side(self.right, self.id_column, mode)?;
        let blocking = Blocking::from_spec(self.blocking, left.has_blocking && right.has_blocking);
        let want_clks = mode != Mode::TokenOnly;
        if blocking == Blocking::AllPairs
            && want_clks
            && left.side.len() as f64 * right.side.len() as f64 > self.max_block_pairs as f64
        {
            say(Say::Note(format!("warning: all {} × {} pairs exceed --max-block-pairs {}: fuzzy matching is skipped; encode with a schema that has blocking passes for files this size", left.side.len(), right.side.len(), self.max_block_pairs)));
        }
        if want_clks && left.has_clk != right.has_clk {
            say(Say::Note(
                "warning: only one file has a `clk` column: fuzzy matching is off".into(),
            ));
        }
        let threshold = self
            .threshold
            .unwrap_or_else(|| default_threshold(mode, &left.side, &right.side));
        let cfg = Config {
            mode,
            threshold,
            blocking: blocking.clone(),
            max_block_pairs: self.max_block_pairs,
            model: self.threshold.is_none(),
        };
        let (matches, stats) = link(&left.side, &right.side, &cfg).map_err(RunError::Link)?;

        let out_mode = if self.force {
            OutputMode::Replace
        } else {
            OutputMode::New
        };
        let manifest_path = sidecar(self.output, self.manifest, ".manifest.json");
        let mut out = TableOutput::create(self.output, out_mode)?;
        out.write_all(&matches_csv(&matches, &left.ids, &right.ids))
            .map_err(|source| RunError::Write {
                path: self.output.to_string(),
                source,
            })?;
        let pending = out.finish()?;

        manifest.option("left", self.left.to_string());
        manifest.option("right", self.right.to_string());
        manifest.option("output", self.output.to_string());
        manifest.option("id_column", self.id_column.map(str::to_string));
        manifest.option("threshold", threshold);
        manifest.option("mode", self.mode.to_string());
        manifest.option("max_block_pairs", self.max_block_pairs);
        manifest.option("blocking", blocking.spec());
        if let Some(k) = lm
            .as_ref()
            .and_then(|m| m.key_fingerprint.clone())
            .or_else(|| rm.as_ref().and_then(|m| m.key_fingerprint.clone()))
        {
            manifest.key_fingerprint = Some(k);
        }
        let (lrows, rrows) = (left.side.len(), right.side.len());
        let mut link_facts = facts(&stats, &left, &right, started.elapsed().as_secs_f64());
        for line in decision_lines(&stats) {
            say(Say::Note(line));
        }
        say(Say::Note(format!(
            "linked {} × {} rows: {} matches ({} exact, {} fuzzy); {} Dice comparisons{}",
            lrows,
            rrows,
            matches.len(),
            stats.exact,
            stats.fuzzy,
            stats.comparisons,
            if stats.passes.is_empty() {
                String::new()
            } else {
                format!(" in blocks of {}", stats.passes.join(", "))
            }
        )));
        if stats.skipped_blocks > 0 {
            say(Say::Note(format!(
                "skipped {} block{} over --max-block-pairs {} ({} comparisons not made): {} of {} left rows lost at least one candidate pair, {} had no comparison at all",
                stats.skipped_blocks,
                if stats.skipped_blocks == 1 { "" } else { "s" },
                self.max_block_pairs,
                stats.skipped_pairs,
                stats.left_rows_lost_candidates,
                stats.fuzzy_left,
                stats.left_rows_uncompared,
            )));
        }
        let by_reason = rejected(&left, &right, say);
        let rejected_total: u64 = by_reason.values().sum();
        if let Some(t) = self.truth {
            let truth = read_pairs(t)?;
            let (e, q) = evaluate_run(&left, &right, &matches, &truth, &blocking, stats.comparisons)
                .map_err(RunError::Evaluate)?;
            say(Say::Figure(format!("precision {:.4}", e.precision)));
            say(Say::Figure(format!("recall {:.4}", e.recall)));
            say(Say::Figure(format!("f1 {:.4}", e.f1)));
            say(Say::Figure(format!(
                "pair_completeness {:.4}",
                q.pair_completeness
            )));
            say(Say::Figure(format!("reduction_ratio {:.6}", q.reduction_ratio)));
            link_facts["evaluation"] = evaluation_json(t, &e, &q);
        }
        manifest.extra.insert("link".into(), link_facts);
        manifest.inputs.push(FileRecord::input("left", &left.summary));
        manifest.inputs.push(FileRecord::input("right", &right.summary));
        manifest.outputs.push(FileRecord::output(
            "matches",
            pending.summary(),
            Some(matches.len() as u64),
        ));
        manifest.rows = RowCounts {
            rows_in: (lrows + rrows) as u64,
            rows_out: (lrows + rrows) as u64 - rejected_total,
            rows_rejected: rejected_total,
            rejected_by_reason: by_reason,
        };
        if let Some(mp) = &manifest_path {
            manifest.write(mp)?;
        }
        pending.persist()?;
        Ok(())
    }
}

/// The decision rule: the model's weights, or the Dice threshold.
pub fn decision_lines(stats: &LinkStats) -> Vec<String> {
    let mut lines = Vec::new();
    match (&stats.model, stats.dice_threshold) {
        (Some(m), _) => {
            lines.push(format!(
                "model: match probability >= 0.5 over {} fields (prior {:.3e} over {}, {} EM iterations); weights in bits, least to most agreement:",
                m.fields.len(),
                m.lambda,
                if m.all_pairs { "all pairs" } else { "candidates" },
                m.iterations
            ));
            for (f, w) in m.fields.iter().zip(&m.weights) {
                let cells: Vec<String> = f
                    .labels
                    .iter()
                    .zip(w)
                    .map(|(l, x)| format!("{l} {x:+.1}"))
                    .collect();
                lines.push(format!("  {}: {}", f.name, cells.join(", ")));
            }
            if let Some((l, r)) = stats.partnered_share {
                lines.push(format!(
                    "one-to-one posterior >= 0.5 also accepts a pair that outweighs its rows' other candidates (rows with a partner: left {:.1} %, right {:.1} %): {} pairs under probability 0.5 matched",
                    100.0 * l,
                    100.0 * r,
                    stats.one_to_one
                ));
            }
        }
        (None, Some(t)) if !stats.rule.is_empty() => lines.push(format!(
            "Dice threshold {t:.2} ({})",
            match stats.rule {
                "valley" => "valley of the score distribution",
                "fallback" => "default: too few candidates or no clear valley to choose one",
                _ => "fixed",
            }
        )),
        _ => {}
    }
    lines
}

/// Tell each side's refused rows by reason; the counts of both by reason.
fn rejected(left: &LinkInput, right: &LinkInput, say: &mut dyn FnMut(Say)) -> BTreeMap<String, u64> {
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for (side, r) in [("left", &left.rejected), ("right", &right.rejected)] {
        if r.is_empty() {
            continue;
        }
        let n: u64 = r.values().sum();
        for (k, v) in r {
            *by_reason.entry((*k).to_string()).or_insert(0) += v;
        }
        say(Say::Note(format!(
            "{side}: rejected {n} row{} ({})",
            if n == 1 { "" } else { "s" },
            r.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    by_reason
}

/// A match file (`left`, `right`[, `method`, `evidence`]) against a truth
/// file (`left`, `right`), as `name value` lines: precision, recall, F1 and
/// the counts behind them; per evidence type and per method when the file
/// has those columns; the reduction ratio and pair completeness its
/// manifest records of the linkage run that made it.
pub fn evaluate_files(matches_path: &str, truth_path: &str) -> Result<Vec<String>, InputError> {
    let matches = read_pairs(matches_path)?;
    let truth = read_pairs(truth_path)?;
    let e = evaluate(&matches, &truth);
    let mut out = vec![
        format!("precision {:.4}", e.precision),
        format!("recall {:.4}", e.recall),
        format!("f1 {:.4}", e.f1),
        format!("true_positives {}", e.true_positives),
        format!("false_positives {}", e.false_positives),
        format!("false_negatives {}", e.false_negatives),
    ];
    // Per evidence type (from `link`'s `evidence` column): precision, the
    // share of true pairs found that way (recall) and their F1.
    if let Ok(ev) = read_column(matches_path, "evidence") {
        let truth_set: std::collections::BTreeSet<&(String, String)> = truth.iter().collect();
        for (m, (n, tp)) in by_label(&matches, &ev, &truth) {
            let p = if n == 0 { 1.0 } else { tp as f64 / n as f64 };
            let r = if truth.is_empty() {
                0.0
            } else {
                tp as f64 / truth_set.len() as f64
            };
            let f = if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) };
            out.push(format!(
                "evidence_{m} precision {p:.4} recall_share {r:.4} f1 {f:.4} ({tp}/{n})"
            ));
        }
    }
    // Per-method precision, when the file says how each pair was matched.
    if let Ok(methods) = read_column(matches_path, "method") {
        for (m, (n, tp)) in by_label(&matches, &methods, &truth) {
            out.push(format!(
                "precision_{m} {:.4} ({tp}/{n})",
                if n == 0 { 1.0 } else { tp as f64 / n as f64 }
            ));
        }
    }
    if let Some(link) = manifest_of(matches_path).and_then(|m| m.extra.get("link").cloned()) {
        if let Some(rr) = link.get("reduction_ratio").and_then(|v| v.as_f64()) {
            out.push(format!("reduction_ratio {rr:.6}"));
        }
        if let Some(pc) = link
            .get("evaluation")
            .and_then(|e| e.get("pair_completeness"))
            .and_then(|v| v.as_f64())
        {
            out.push(format!("pair_completeness {pc:.4}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_threshold_is_told_with_its_rule() {
        let mut stats = LinkStats {
            dice_threshold: Some(0.8),
            rule: "fixed",
            ..LinkStats::default()
        };
        assert_eq!(
            decision_lines(&stats),
            vec!["Dice threshold 0.80 (fixed)".to_string()]
        );
        stats.rule = "valley";
        assert_eq!(
            decision_lines(&stats),
            vec!["Dice threshold 0.80 (valley of the score distribution)".to_string()]
        );
        stats.rule = "";
        assert!(decision_lines(&stats).is_empty());
    }
}
