//! `trialink uptake`: record a trial's uptake feedback.

use crate::args::StoreArgs;
use crate::error::{exit_code, feedback_run_err, CliResult};
use crate::open::{bind_master, load_master};
use recruitment::notes;
use std::path::PathBuf;

/// Options for `trialink uptake` (the run: `recruitment::notes::record_uptake_files`).
#[derive(clap::Args)]
#[command(after_help = include_str!("../../help/uptake.txt"))]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The service's master key file.
    #[arg(long, value_name = "MASTER")]
    pub key: PathBuf,
    /// The study the feedback is for.
    #[arg(long, value_name = "ID")]
    pub study: String,
    /// Feedback CSV (`reference` and/or `token`/`nhs_token`, `status`, `date`). Repeat for several.
    #[arg(long, value_name = "FILE", required = true)]
    pub input: Vec<PathBuf>,
    /// Exit 0 even when rows matched no invitation: for a file whose
    /// unmatched rows (listed in `<input>.uptake.csv`) have been reviewed.
    #[arg(long)]
    pub allow_unmatched: bool,
    /// Replace the notes and manifest of an earlier run (without it, an
    /// existing one is an error, checked before the store is touched).
    #[arg(long)]
    pub force: bool,
    /// Exit 0 even when rows were rejected (for reruns of a file whose
    /// rejected rows have been reviewed).
    #[arg(long)]
    pub allow_rejects: bool,
}

pub fn run(a: Args) -> CliResult {
    let master = load_master(&a.key)?;
    let run = notes::UptakeRun {
        study: &a.study,
        inputs: &a.input,
        force: a.force,
        allow_rejects: a.allow_rejects,
        allow_unmatched: a.allow_unmatched,
    };
    let mode = run.claim().map_err(feedback_run_err)?;
    let mut store = a.store.open()?;
    bind_master(&mut store, &master)?;
    let told = run
        .run(&mut store, &master, mode, &mut crate::say)
        .map_err(feedback_run_err)?;
    Ok(exit_code(told))
}
