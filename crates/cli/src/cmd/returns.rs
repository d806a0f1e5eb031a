//! `trialink returns`: record the mailer's return-to-sender file (DESIGN §1
//! step 5).

use crate::cmd::noncontact::open_existing_store;
use crate::cmd::pseudonymise::tab_err;
use crate::cmd::uptake::{claim_notes, feedback_error, write_notes};
use crate::error::CliResult;
use std::path::PathBuf;
use std::process::ExitCode;
use tabular::{FileRecord, Manifest, RowCounts};

/// Options for `trialink returns`.
///
/// The mailer's extract has `reference`, `reason` (a reason code) and `date`.
/// Each return is recorded against its invitation (delivered = invited −
/// returned in reports); references of QA seeds and unknown references are
/// counted and listed by line in `<input>.returns.csv`. Re-running the same
/// file changes nothing.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  trialink returns --store service.sqlite --input rts-2026-11-28.csv")]
pub struct Args {
    /// The service store (default: $TRIALINK_STORE, else ./trialink-store.sqlite).
    #[arg(long, value_name = "DB")]
    pub store: Option<PathBuf>,
    /// Return-to-sender CSV (`reference`, `reason`, `date`).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Replace the notes and manifest of an earlier run (without it, an
    /// existing one is an error, checked before the store is touched).
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: Args) -> CliResult {
    let mode = claim_notes(
        std::slice::from_ref(&a.input),
        &[".returns.csv", ".returns.manifest.json"],
        a.force,
    )?;
    let mut store = open_existing_store(a.store.as_deref())?;
    let (c, notes, input) =
        recruitment::feedback::record_returns(&mut store, &a.input).map_err(feedback_error)?;
    let written = write_notes(&a.input, ".returns.csv", &notes, mode)?;
    let mut m = Manifest::new("returns", env!("CARGO_PKG_VERSION"));
    m.option("store", store.path().display().to_string());
    m.option("input", a.input.display().to_string());
    m.inputs.push(FileRecord::input("returns", &input));
    m.outputs
        .push(FileRecord::output("notes", &written, Some(notes.len() as u64)));
    let mut by_reason = std::collections::BTreeMap::new();
    for n in notes
        .iter()
        .filter(|n| !matches!(n.outcome, "unknown_reference" | "qa_seed"))
    {
        *by_reason.entry(n.outcome.to_string()).or_insert(0u64) += 1;
    }
    m.rows = RowCounts {
        rows_in: c.rows_in,
        rows_out: c.rows_in - c.rejected,
        rows_rejected: c.rejected,
        rejected_by_reason: by_reason,
    };
    m.extra.insert(
        "counts".into(),
        serde_json::to_value(&c).expect("counts serialise"),
    );
    m.write(&tabular::sidecar_path(&a.input, ".returns.manifest.json"))
        .map_err(tab_err)?;
    outln!(
        "{}: {} rows — recorded {}, already recorded {}, QA seed {}, unknown reference {}, rejected {}",
        a.input.display(),
        c.rows_in,
        c.recorded,
        c.already_recorded,
        c.qa_seed,
        c.unknown_reference,
        c.rejected
    );
    if c.qa_seed + c.unknown_reference + c.rejected > 0 {
        outln!("  lines not recorded are listed in {}", written.path);
    }
    Ok(ExitCode::SUCCESS)
}
