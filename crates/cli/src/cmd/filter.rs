//! `trialink filter build|check`: exchangeable Bloom filters of tokens
//! (TLBF v1, docs/formats.md). The runs are `suppression::filter_run`'s.

use crate::error::{CliError, CliResult};
use crate::open;
use std::path::PathBuf;
use std::process::ExitCode;
use suppression::filter_run::{FilterBuild, FilterCheckRun, FilterRunError};
use tabular::OutputPlan;

/// `trialink filter` subcommands.
#[derive(clap::Subcommand)]
pub enum FilterCommand {
    /// Build a TLBF filter from a token file.
    ///
    /// Reads the `token` column of a token file (duplicates counted once) and
    /// writes a TLBF v1 filter sized for the number of distinct tokens at the
    /// false-positive rate asked for. The header records the fingerprint of
    /// the key the tokens were made with: taken from `--key`, `--fingerprint`,
    /// or the token file's manifest. Rows without a valid token go to
    /// `<output>.rejects.csv`.
    #[command(after_help = include_str!("../../help/filter_build.txt"))]
    Build(BuildArgs),
    /// Check which tokens of a token file a TLBF filter contains.
    ///
    /// Writes `token,in_filter` (1 or 0) for every row, then any `--keep`
    /// columns. Refuses a filter whose key fingerprint differs from the token
    /// file's manifest.
    #[command(after_help = "Example:\n  \
trialink filter check --filter noncontact.tlbf --tokens cohort.tokens.csv --output cohort.checked.csv")]
    Check(CheckArgs),
}

/// Options for `trialink filter build`.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// Token file (CSV with a `token` column; `-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub tokens: String,
    /// Target false-positive rate, e.g. 0.001.
    #[arg(long, value_name = "P")]
    pub fpr: f64,
    /// The TLBF file to write. Must not exist unless --force.
    #[arg(long, value_name = "FILE")]
    pub output: String,
    #[command(flatten)]
    pub format: crate::args::FormatArgs,
    /// The token column (default `token`).
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,
    /// Key fingerprint for the header (16 hex characters).
    #[arg(long, value_name = "HEX", conflicts_with = "key")]
    pub fingerprint: Option<String>,
    /// The key the tokens were made with (only its fingerprint is used).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    /// Where to write the manifest (default `<output>.manifest.json`).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Build even though the token file's manifest records rejected rows
    /// (the count is kept in the filter's manifest, and `invite` still
    /// refuses such a filter as an enrolled list).
    #[arg(long)]
    pub allow_source_rejects: bool,
}

/// Options for `trialink filter check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The TLBF filter.
    #[arg(long, value_name = "FILE")]
    pub filter: PathBuf,
    /// Token file to check (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub tokens: String,
    /// Where to write `token,in_filter` (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub output: String,
    #[command(flatten)]
    pub format: crate::args::FormatArgs,
    /// The token column (default `token`).
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,
    /// A column to pass through. Repeat for several.
    #[arg(long, value_name = "COLUMN")]
    pub keep: Vec<String>,
    /// Check even though the token file's manifest names a different key.
    #[arg(long)]
    pub ignore_fingerprint: bool,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    /// Where to write the manifest (default `<output>.manifest.json`).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
}

pub fn run(c: FilterCommand) -> CliResult {
    match c {
        FilterCommand::Build(a) => build(a),
        FilterCommand::Check(a) => check(a),
    }
}

/// Print the line a run ends with, or its error with the hint.
fn told(r: Result<String, FilterRunError>) -> CliResult {
    let line = r.map_err(|e| CliError::new(&e).maybe_hint(e.hint()))?;
    eprintln!("{line}");
    Ok(ExitCode::SUCCESS)
}

fn build(a: BuildArgs) -> CliResult {
    if !(a.fpr > 0.0 && a.fpr < 1.0) {
        return Err(CliError::new("--fpr must be between 0 and 1 (exclusive)").hint("e.g. --fpr 0.001"));
    }
    let fingerprint = match (&a.fingerprint, &a.key) {
        (Some(f), _) => Some((f.clone(), None)),
        (None, Some(k)) => {
            let rec = open::load_key(k)?.record("token");
            Some((rec.fingerprint.clone(), Some(rec)))
        }
        (None, None) => None,
    };
    let line = FilterBuild {
        tokens: &a.tokens,
        fpr: a.fpr,
        plan: OutputPlan::with_manifest(&a.output, a.force, a.manifest.as_deref()),
        column: a.column.as_deref(),
        fingerprint,
        allow_source_rejects: a.allow_source_rejects,
        version: env!("CARGO_PKG_VERSION"),
    }
    .run();
    told(line)
}

fn check(a: CheckArgs) -> CliResult {
    let filter = open::read_filter(&a.filter)?;
    let line = FilterCheckRun {
        filter: (&filter, &a.filter),
        tokens: &a.tokens,
        plan: OutputPlan::with_manifest(&a.output, a.force, a.manifest.as_deref()),
        column: a.column.as_deref(),
        keep: &a.keep,
        ignore_fingerprint: a.ignore_fingerprint,
        version: env!("CARGO_PKG_VERSION"),
    }
    .run();
    told(line)
}
