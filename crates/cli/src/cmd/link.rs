//! `trialink link`: exact token joins, then fuzzy CLK matching with keyed
//! blocking and 1:1 assignment. Reading the inputs, the decision and the
//! manifest's facts are `linkage`'s; this module turns options into those
//! calls and prints the result.

use crate::error::{tab_err, CliError, CliResult};
use linkage::{link, Blocking, Config, InputError, LinkInput, LinkStats, Mode, DEFAULT_MAX_BLOCK_PAIRS};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tabular::{sidecar, FileRecord, Manifest, OutputMode, RowCounts, TableOutput};

/// Options for `trialink link`.
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
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
trialink link --left registry.linkable.csv --right cohort.linkable.csv --output matches.csv\n  \
trialink link --left a.csv --right b.csv --output - --mode clk --blocking dob,family_yob --threshold 0.85\n  \
trialink link --left registry.clk.csv --right cohort.clk.csv --output m.csv --max-block-pairs 400000000\n\n\
--blocking: `all` (every pass both files have; the default when both have a blocking column), \
`none` (all pairs: only for small files), or a comma-separated list of pass names.\n\n\
--max-block-pairs: a block (rows of both files sharing one blocking key) needing more Dice \
comparisons than this (default 100000000 = 10,000 × 10,000; without blocking, all pairs are one \
block) is skipped, and the summary and manifest say how many blocks and left rows were affected. \
A row with more than one key for the same pass, or more than 32 passes, is rejected (counted \
by reason; it keeps its row number but never matches).")]
pub struct Args {
    /// Left file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub left: String,
    /// Right file.
    #[arg(long, value_name = "FILE")]
    pub right: String,
    /// The match file to write (`-` for stdout). Must not exist unless --force.
    #[arg(long, value_name = "FILE")]
    pub output: String,
    #[command(flatten)]
    pub format: crate::args::FormatArgs,
    /// Column whose values identify rows in the output (default: 1-based row numbers).
    #[arg(long, value_name = "NAME")]
    pub id_column: Option<String>,
    /// Fixed Dice threshold for fuzzy matches, instead of the fitted model
    /// (then the NHS-token veto applies in hybrid mode).
    #[arg(long, value_name = "T")]
    pub threshold: Option<f64>,
    /// Blocking passes: `all`, `none`, or a comma-separated list of names.
    #[arg(long, value_name = "SPEC")]
    pub blocking: Option<String>,
    /// Evidence: `hybrid` (tokens then CLKs), `token` or `clk`.
    #[arg(long, value_name = "MODE", default_value = "hybrid", value_parser = ["hybrid", "token", "clk"])]
    pub mode: String,
    /// Ground truth (`left,right` in the output's identifiers): print precision,
    /// recall, F1, pair completeness and reduction ratio, and record them in the manifest.
    #[arg(long, value_name = "FILE")]
    pub truth: Option<String>,
    /// Link even though the two files' manifests name different token keys or CLK schemas.
    #[arg(long)]
    pub ignore_manifests: bool,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    /// Where to write the manifest (default `<output>.manifest.json`).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Skip any block needing more Dice comparisons than N (left rows ×
    /// right rows); skipped blocks are counted in the summary and manifest.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_BLOCK_PAIRS)]
    pub max_block_pairs: u64,
}

/// A link input error, with its hint.
fn input_err(e: InputError) -> CliError {
    let hint = e.hint();
    CliError::new(e).maybe_hint(hint)
}

pub fn run(a: Args) -> CliResult {
    let started = std::time::Instant::now();
    let mut manifest = Manifest::new("link", env!("CARGO_PKG_VERSION"));
    let mode = Mode::from_name(&a.mode);
    if a.threshold.is_some_and(|t| !(t > 0.0 && t <= 1.0)) {
        return Err(
            CliError::new("--threshold must be greater than 0 and at most 1").hint("e.g. --threshold 0.8")
        );
    }
    // Manifests: tokens under different keys, or CLKs under different schemas, cannot match.
    let (lm, rm) = (linkage::manifest_of(&a.left), linkage::manifest_of(&a.right));
    if !a.ignore_manifests {
        linkage::check_manifests(lm.as_ref(), rm.as_ref(), mode)
            .map_err(|e| CliError::new(&e).hint(e.hint()))?;
    }
    let left = linkage::read_side(&a.left, a.id_column.as_deref(), mode).map_err(input_err)?;
    let right = linkage::read_side(&a.right, a.id_column.as_deref(), mode).map_err(input_err)?;
    let blocking = Blocking::from_spec(a.blocking.as_deref(), left.has_blocking && right.has_blocking);
    let want_clks = mode != Mode::TokenOnly;
    if blocking == Blocking::AllPairs
        && want_clks
        && left.side.len() as f64 * right.side.len() as f64 > a.max_block_pairs as f64
    {
        eprintln!("warning: all {} × {} pairs exceed --max-block-pairs {}: fuzzy matching is skipped; encode with a schema that has blocking passes for files this size", left.side.len(), right.side.len(), a.max_block_pairs);
    }
    if want_clks && left.has_clk != right.has_clk {
        eprintln!("warning: only one file has a `clk` column: fuzzy matching is off");
    }
    let threshold = a
        .threshold
        .unwrap_or_else(|| linkage::default_threshold(mode, &left.side, &right.side));
    let cfg = Config {
        mode,
        threshold,
        blocking: blocking.clone(),
        max_block_pairs: a.max_block_pairs,
        model: a.threshold.is_none(),
    };
    let (matches, stats) = link(&left.side, &right.side, &cfg)
        .map_err(|e| CliError::new(e).hint("check both files were encoded with the same schema"))?;

    let out_mode = if a.force {
        OutputMode::Replace
    } else {
        OutputMode::New
    };
    let manifest_path = sidecar(&a.output, a.manifest.as_deref(), ".manifest.json");
    let mut out = TableOutput::create(&a.output, out_mode).map_err(tab_err)?;
    out.write_all(&linkage::matches_csv(&matches, &left.ids, &right.ids))
        .map_err(|e| CliError::new(format!("{}: cannot write: {e}", a.output)))?;
    let pending = out.finish().map_err(tab_err)?;

    manifest.option("left", a.left.clone());
    manifest.option("right", a.right.clone());
    manifest.option("output", a.output.clone());
    manifest.option("id_column", a.id_column.clone());
    manifest.option("threshold", threshold);
    manifest.option("mode", a.mode.clone());
    manifest.option("max_block_pairs", a.max_block_pairs);
    manifest.option("blocking", blocking.spec());
    if let Some(k) = lm
        .as_ref()
        .and_then(|m| m.key_fingerprint.clone())
        .or_else(|| rm.as_ref().and_then(|m| m.key_fingerprint.clone()))
    {
        manifest.key_fingerprint = Some(k);
    }
    let (lrows, rrows) = (left.side.len(), right.side.len());
    let mut link_facts = linkage::facts(&stats, &left, &right, started.elapsed().as_secs_f64());
    print_decision(&stats);
    eprintln!(
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
    );
    if stats.skipped_blocks > 0 {
        eprintln!(
            "skipped {} block{} over --max-block-pairs {} ({} comparisons not made): {} of {} left rows lost at least one candidate pair, {} had no comparison at all",
            stats.skipped_blocks,
            if stats.skipped_blocks == 1 { "" } else { "s" },
            a.max_block_pairs,
            stats.skipped_pairs,
            stats.left_rows_lost_candidates,
            stats.fuzzy_left,
            stats.left_rows_uncompared,
        );
    }
    let by_reason = print_rejected(&left, &right);
    let rejected_total: u64 = by_reason.values().sum();
    if let Some(t) = &a.truth {
        let truth = linkage::read_pairs(t).map_err(input_err)?;
        let (e, q) = linkage::evaluate_run(&left, &right, &matches, &truth, &blocking, stats.comparisons)
            .map_err(CliError::new)?;
        outln!("precision {:.4}", e.precision);
        outln!("recall {:.4}", e.recall);
        outln!("f1 {:.4}", e.f1);
        outln!("pair_completeness {:.4}", q.pair_completeness);
        outln!("reduction_ratio {:.6}", q.reduction_ratio);
        link_facts["evaluation"] = linkage::evaluation_json(t, &e, &q);
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
        manifest.write(mp).map_err(tab_err)?;
    }
    pending.persist().map_err(tab_err)?;
    Ok(ExitCode::SUCCESS)
}

/// Print the decision rule: the model's weights, or the Dice threshold.
fn print_decision(stats: &LinkStats) {
    match (&stats.model, stats.dice_threshold) {
        (Some(m), _) => {
            eprintln!(
                "model: match probability >= 0.5 over {} fields (prior {:.3e} over {}, {} EM iterations); weights in bits, least to most agreement:",
                m.fields.len(),
                m.lambda,
                if m.all_pairs { "all pairs" } else { "candidates" },
                m.iterations
            );
            for (f, w) in m.fields.iter().zip(&m.weights) {
                let cells: Vec<String> = f
                    .labels
                    .iter()
                    .zip(w)
                    .map(|(l, x)| format!("{l} {x:+.1}"))
                    .collect();
                eprintln!("  {}: {}", f.name, cells.join(", "));
            }
            if let Some((l, r)) = stats.partnered_share {
                eprintln!(
                    "one-to-one posterior >= 0.5 also accepts a pair that outweighs its rows' other candidates (rows with a partner: left {:.1} %, right {:.1} %): {} pairs under probability 0.5 matched",
                    100.0 * l,
                    100.0 * r,
                    stats.one_to_one
                );
            }
        }
        (None, Some(t)) if !stats.rule.is_empty() => eprintln!(
            "Dice threshold {t:.2} ({})",
            match stats.rule {
                "valley" => "valley of the score distribution",
                "fallback" => "default: too few candidates or no clear valley to choose one",
                _ => "fixed",
            }
        ),
        _ => {}
    }
}

/// Print each side's refused rows by reason; the counts of both by reason.
fn print_rejected(left: &LinkInput, right: &LinkInput) -> BTreeMap<String, u64> {
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for (side, r) in [("left", &left.rejected), ("right", &right.rejected)] {
        if r.is_empty() {
            continue;
        }
        let n: u64 = r.values().sum();
        for (k, v) in r {
            *by_reason.entry((*k).to_string()).or_insert(0) += v;
        }
        eprintln!(
            "{side}: rejected {n} row{} ({})",
            if n == 1 { "" } else { "s" },
            r.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    by_reason
}
