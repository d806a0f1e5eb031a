//! `trialink link`: exact token joins, then fuzzy CLK matching with keyed
//! blocking and greedy 1:1 assignment (DESIGN §4.6, §8).

use crate::error::{tab_err, CliError, CliResult, Context};
use linkage::{
    blocking_quality, evaluate, link, parse_blocking, Blocking, Config, Mode, Side, DEFAULT_MAX_BLOCK_PAIRS,
};
use pseudonym::Token;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tabular::{sidecar, sidecar_path, FileRecord, Manifest, OutputMode, RowCounts, Source, TableOutput};

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

/// One side read from disk.
struct Loaded {
    side: Side,
    ids: Vec<String>,
    summary: tabular::InputSummary,
    has_token: bool,
    has_clk: bool,
    has_blocking: bool,
    /// Rows refused, by reason code.
    rejected: BTreeMap<&'static str, u64>,
}

fn load(path: &str, id_column: Option<&str>, want_tokens: bool, want_clks: bool) -> Result<Loaded, CliError> {
    let mut src = Source::open(path).context(path)?;
    let header = src.header().to_vec();
    let tok = if want_tokens {
        src.optional_column(None, &["token"], "token").map_err(tab_err)?
    } else {
        None
    };
    let clk = if want_clks {
        src.optional_column(None, &["clk"], "clk").map_err(tab_err)?
    } else {
        None
    };
    let nhs = if want_tokens && want_clks {
        src.optional_column(None, &["nhs_token"], "nhs_token")
            .map_err(tab_err)?
    } else {
        None
    };
    let blk = if want_clks {
        src.optional_column(None, &["blocking"], "blocking")
            .map_err(tab_err)?
    } else {
        None
    };
    if tok.is_none() && clk.is_none() {
        return Err(CliError::new(format!(
            "{path}: no {} column (header: {})",
            match (want_tokens, want_clks) {
                (true, true) => "`token` or `clk`",
                (true, false) => "`token`",
                _ => "`clk`",
            },
            tabular::display_header(&header)
        ))
        .hint("link token files from `trialink pseudonymise` and/or CLK files from `trialink encode`"));
    }
    let id = match id_column {
        Some(c) => Some(src.column(Some(c), &[], c).map_err(tab_err)?),
        None => None,
    };
    let mut side = Side::new(0);
    let mut rejected = BTreeMap::new();
    let mut ids = Vec::new();
    let mut clk_bytes: Option<usize> = None;
    let mut rec = csv::ByteRecord::new();
    let pos_err = |line: u64, col: &str, what: &str| {
        CliError::new(format!("{path}: line {line}, column `{col}`: {what}"))
    };
    while src.read(&mut rec).map_err(tab_err)? {
        let line = src.position().line;
        if rec.len() != header.len() {
            return Err(CliError::new(format!(
                "{path}: line {line}: expected {} fields, found {}",
                header.len(),
                rec.len()
            )));
        }
        let token = match tok {
            Some(c) if !rec[c].is_empty() => Some(
                Token::from_hex_bytes(&rec[c])
                    .map_err(|_| pos_err(line, &header[c], "expected 64 hexadecimal characters"))?
                    .0,
            ),
            _ => None,
        };
        let clk_v = match clk {
            Some(c) if !rec[c].is_empty() => {
                let s = std::str::from_utf8(&rec[c])
                    .map_err(|_| pos_err(line, "clk", "expected standard base64"))?;
                let b = bloom::clk::from_base64(s, clk_bytes)
                    .map_err(|e| pos_err(line, "clk", &e.to_string()))?;
                if clk_bytes.is_none() {
                    let t = s.trim();
                    let n = t.len() / 4 * 3 - t.bytes().rev().take_while(|&c| c == b'=').count();
                    clk_bytes = Some(n);
                    side.enable_clks(n * 8);
                }
                Some(b)
            }
            _ => None,
        };
        let cell;
        let blocks = match blk {
            Some(c) => {
                cell = std::str::from_utf8(&rec[c]).map_err(|_| pos_err(line, "blocking", "not UTF-8"))?;
                parse_blocking(cell).ok_or_else(|| {
                    pos_err(
                        line,
                        "blocking",
                        "expected `name=16 hex digits` items separated by `;`",
                    )
                })?
            }
            None => Vec::new(),
        };
        ids.push(match id {
            Some(c) => String::from_utf8_lossy(&rec[c]).into_owned(),
            None => (ids.len() + 1).to_string(),
        });
        let nhs_token = match nhs {
            Some(c) if !rec[c].is_empty() => Some(
                Token::from_hex_bytes(&rec[c])
                    .map_err(|_| pos_err(line, &header[c], "expected 64 hexadecimal characters"))?
                    .0,
            ),
            _ => None,
        };
        if let Err(why) = side.try_push_with_nhs(token, nhs_token, clk_v.as_deref(), &blocks) {
            *rejected.entry(why.code()).or_insert(0) += 1;
        }
    }
    let summary = src.finish().map_err(tab_err)?;
    Ok(Loaded {
        side,
        ids,
        summary,
        has_token: tok.is_some(),
        has_clk: clk.is_some(),
        has_blocking: blk.is_some(),
        rejected,
    })
}

/// The fitted model for the manifest: per field, level weights (bits) and
/// m/u probabilities; no plaintext, only counts over keyed comparisons.
fn model_json(m: &linkage::model::Model) -> serde_json::Value {
    let fields: Vec<serde_json::Value> = m
        .fields
        .iter()
        .enumerate()
        .map(|(f, fd)| {
            let names = &fd.labels;
            serde_json::json!({
                "field": fd.name,
                "levels": names,
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

/// Read a `left,right` pair file.
pub fn read_pairs(path: &str) -> Result<Vec<(String, String)>, CliError> {
    let mut src = Source::open(path).context(path)?;
    let l = src.column(None, &["left"], "left").map_err(tab_err)?;
    let r = src.column(None, &["right"], "right").map_err(tab_err)?;
    let mut out = Vec::new();
    let mut rec = csv::ByteRecord::new();
    while src.read(&mut rec).map_err(tab_err)? {
        if rec.len() <= l.max(r) {
            return Err(CliError::new(format!(
                "{path}: line {}: missing fields",
                src.position().line
            )));
        }
        out.push((
            String::from_utf8_lossy(&rec[l]).into_owned(),
            String::from_utf8_lossy(&rec[r]).into_owned(),
        ));
    }
    Ok(out)
}

fn manifest_of(path: &str) -> Option<Manifest> {
    if path == "-" {
        return None;
    }
    let p = sidecar_path(Path::new(path), ".manifest.json");
    p.exists().then(|| Manifest::read(&p).ok()).flatten()
}

pub fn run(a: Args) -> CliResult {
    let started = std::time::Instant::now();
    let mut manifest = Manifest::new("link", env!("CARGO_PKG_VERSION"));
    let mode = match a.mode.as_str() {
        "token" => Mode::TokenOnly,
        "clk" => Mode::ClkOnly,
        _ => Mode::Hybrid,
    };
    if a.threshold.is_some_and(|t| !(t > 0.0 && t <= 1.0)) {
        return Err(
            CliError::new("--threshold must be greater than 0 and at most 1").hint("e.g. --threshold 0.8")
        );
    }
    // Manifests: tokens under different keys, or CLKs under different schemas, cannot match.
    let (lm, rm) = (manifest_of(&a.left), manifest_of(&a.right));
    if let (Some(lm), Some(rm)) = (&lm, &rm) {
        if !a.ignore_manifests {
            if let (Some(x), Some(y)) = (&lm.key_fingerprint, &rm.key_fingerprint) {
                if x != y && mode != Mode::ClkOnly {
                    return Err(CliError::new(format!("the left tokens were made under key {x}, the right under key {y}: they can never match"))
                        .hint("pseudonymise both under the same scope key, or use --mode clk"));
                }
            }
            if let (Some(x), Some(y)) = (
                lm.extra.get("clk_schema_sha256"),
                rm.extra.get("clk_schema_sha256"),
            ) {
                if x != y && mode != Mode::TokenOnly {
                    return Err(CliError::new("the two files' CLKs were made with different schemas (their manifests' clk_schema_sha256 differ)")
                        .hint("encode both with the same schema and secret, or use --mode token"));
                }
            }
        }
    }
    let want_tokens = mode != Mode::ClkOnly;
    let want_clks = mode != Mode::TokenOnly;
    let left = load(&a.left, a.id_column.as_deref(), want_tokens, want_clks)?;
    let right = load(&a.right, a.id_column.as_deref(), want_tokens, want_clks)?;
    let blocking = match a.blocking.as_deref() {
        None if left.has_blocking && right.has_blocking => Blocking::All,
        None | Some("none") => Blocking::AllPairs,
        Some("all") => Blocking::All,
        Some(list) => Blocking::Passes(
            list.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
    };
    if blocking == Blocking::AllPairs
        && want_clks
        && left.side.len() as f64 * right.side.len() as f64 > a.max_block_pairs as f64
    {
        eprintln!("warning: all {} × {} pairs exceed --max-block-pairs {}: fuzzy matching is skipped; encode with a schema that has blocking passes for files this size", left.side.len(), right.side.len(), a.max_block_pairs);
    }
    if want_clks && left.has_clk != right.has_clk {
        eprintln!("warning: only one file has a `clk` column: fuzzy matching is off");
    }
    let threshold = a.threshold.unwrap_or(
        if mode == Mode::Hybrid && left.side.has_nhs_tokens() && right.side.has_nhs_tokens() {
            linkage::DEFAULT_THRESHOLD_WITH_NHS
        } else {
            linkage::DEFAULT_THRESHOLD
        },
    );
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
    let mut w = csv::WriterBuilder::new().from_writer(Vec::with_capacity(1 << 20));
    let _ = w.write_record(["left", "right", "method", "score", "probability", "evidence"]);
    for m in &matches {
        let score = if m.score == 1.0 {
            "1".to_string()
        } else {
            format!("{:.6}", m.score)
        };
        let _ = w.write_record([
            tabular::neutralise(left.ids[m.left].as_bytes()).as_ref(),
            tabular::neutralise(right.ids[m.right].as_bytes()).as_ref(),
            m.method.as_str().as_bytes(),
            score.as_bytes(),
            format!("{:.6}", m.probability).as_bytes(),
            m.evidence.as_bytes(),
        ]);
    }
    out.write_all(&w.into_inner().unwrap_or_default())
        .map_err(|e| CliError::new(format!("{}: cannot write: {e}", a.output)))?;
    let pending = out.finish().map_err(tab_err)?;

    manifest.option("left", a.left.clone());
    manifest.option("right", a.right.clone());
    manifest.option("output", a.output.clone());
    manifest.option("id_column", a.id_column.clone());
    manifest.option("threshold", threshold);
    manifest.option("mode", a.mode.clone());
    manifest.option("max_block_pairs", a.max_block_pairs);
    manifest.option(
        "blocking",
        match &blocking {
            Blocking::All => "all".to_string(),
            Blocking::AllPairs => "none".to_string(),
            Blocking::Passes(p) => p.join(","),
        },
    );
    if let Some(k) = lm
        .as_ref()
        .and_then(|m| m.key_fingerprint.clone())
        .or_else(|| rm.as_ref().and_then(|m| m.key_fingerprint.clone()))
    {
        manifest.key_fingerprint = Some(k);
    }
    let (lrows, rrows) = (left.side.len(), right.side.len());
    let mut link_facts = serde_json::json!({
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
        "seconds": started.elapsed().as_secs_f64(),
        "rule": stats.rule,
        "dice_threshold": stats.dice_threshold,
        "model": stats.model.as_ref().map(model_json),
    });
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
    let rejected_total: u64 = by_reason.values().sum();
    if let Some(t) = &a.truth {
        let truth = read_pairs(t)?;
        let found: Vec<(String, String)> = matches
            .iter()
            .map(|m| (left.ids[m.left].clone(), right.ids[m.right].clone()))
            .collect();
        let e = evaluate(&found, &truth);
        let lidx: HashMap<&str, usize> = left
            .ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        let ridx: HashMap<&str, usize> = right
            .ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        let tpairs: Vec<(usize, usize)> = truth
            .iter()
            .filter_map(|(l, r)| Some((*lidx.get(l.as_str())?, *ridx.get(r.as_str())?)))
            .collect();
        let q = blocking_quality(&left.side, &right.side, &blocking, &tpairs, stats.comparisons)
            .map_err(CliError::new)?;
        outln!("precision {:.4}", e.precision);
        outln!("recall {:.4}", e.recall);
        outln!("f1 {:.4}", e.f1);
        outln!("pair_completeness {:.4}", q.pair_completeness);
        outln!("reduction_ratio {:.6}", q.reduction_ratio);
        link_facts["evaluation"] = serde_json::json!({
            "truth": t, "precision": e.precision, "recall": e.recall, "f1": e.f1,
            "true_positives": e.true_positives, "false_positives": e.false_positives, "false_negatives": e.false_negatives,
            "pair_completeness": q.pair_completeness,
        });
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
    let _ = (left.has_token, right.has_token);
    Ok(ExitCode::SUCCESS)
}
