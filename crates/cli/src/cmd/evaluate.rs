//! `trialink evaluate`: precision, recall and F1 of a match file against
//! ground truth, overall, by evidence type and by method.

use crate::error::{CliError, CliResult};
use std::process::ExitCode;

/// Options for `trialink evaluate` (the run: `linkage::evaluate_files`).
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
    let lines =
        linkage::evaluate_files(&a.matches, &a.truth).map_err(|e| CliError::new(&e).maybe_hint(e.hint()))?;
    for l in lines {
        outln!("{l}");
    }
    Ok(ExitCode::SUCCESS)
}
