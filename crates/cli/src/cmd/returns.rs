//! `trialink returns`: record the mailer's return-to-sender file.

use crate::args::StoreArgs;
use crate::error::{exit_code, feedback_run_err, CliResult};
use recruitment::notes;
use std::path::PathBuf;

/// Options for `trialink returns` (the run: `recruitment::notes::record_returns_file`).
#[derive(clap::Args)]
#[command(
    after_help = include_str!("../../help/returns.txt")
)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Return-to-sender CSV (`reference`, `reason`, `date`).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
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
    let mode = notes::claim(std::slice::from_ref(&a.input), &notes::RETURNS, a.force)?;
    let mut store = a.store.open()?;
    let (c, first) =
        notes::record_returns_file(&mut store, &a.input, mode, &mut crate::say).map_err(feedback_run_err)?;
    let rows = (c.rejected, c.rows_in);
    Ok(exit_code(notes::tell_rejects(
        rows,
        first.as_ref(),
        a.allow_rejects,
        &mut crate::say,
    )))
}
