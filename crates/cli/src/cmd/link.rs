//! `trialink link`: exact token joins, then fuzzy CLK matching with keyed
//! blocking and 1:1 assignment. The whole run is `linkage::LinkRun`'s; this
//! module turns options into it and prints what it tells.

use crate::error::{CliError, CliResult};
use linkage::{LinkRun, DEFAULT_MAX_BLOCK_PAIRS};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options for `trialink link` (the run: `linkage::LinkRun`).
#[derive(clap::Args)]
#[command(after_help = include_str!("../../help/link.txt"))]
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

pub fn run(a: Args) -> CliResult {
    let run = LinkRun {
        left: &a.left,
        right: &a.right,
        output: &a.output,
        id_column: a.id_column.as_deref(),
        threshold: a.threshold,
        blocking: a.blocking.as_deref(),
        mode: &a.mode,
        truth: a.truth.as_deref(),
        ignore_manifests: a.ignore_manifests,
        force: a.force,
        manifest: a.manifest.as_deref(),
        max_block_pairs: a.max_block_pairs,
        version: env!("CARGO_PKG_VERSION"),
    };
    run.run(&mut crate::say).map_err(|e| {
        let hint = e.hint();
        CliError::new(e).maybe_hint(hint)
    })?;
    Ok(ExitCode::SUCCESS)
}
