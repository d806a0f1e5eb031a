//! `trialink uptake`: record a trial's uptake feedback.

use crate::error::{feedback_run_err, rejects_exit, CliError, CliResult};
use crate::open::{bind_master, load_master, open_existing_store};
use recruitment::notes;
use std::path::PathBuf;

/// Options for `trialink uptake` (the run: `recruitment::notes::record_uptake_files`).
#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
trialink uptake --store service.sqlite --key master.key --study galleri-2 --input uptake.tokens.csv\n\n\
Several --input files may be given (e.g. rows by reference and rows by token).\n\
Exit status: 0 all rows read and matched; 1 some rows rejected or matching no invitation (the rest recorded; see <input>.uptake.csv); 2 error.")]
pub struct Args {
    /// The service store (default: $TRIALINK_STORE, else ./trialink-store.sqlite).
    #[arg(long, value_name = "DB")]
    pub store: Option<PathBuf>,
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
    pseudonym::Scope::trial(&a.study).map_err(|_| {
        CliError::new(format!("--study `{}` is not a valid study id", a.study))
            .hint("study ids are lowercase letters, digits and `:._-`, as in the request file")
    })?;
    let mode = notes::claim(&a.input, &notes::UPTAKE, a.force)?;
    let mut store = open_existing_store(a.store.as_deref())?;
    bind_master(&mut store, &master)?;
    if !store.study_exists(&a.study).map_err(CliError::new)? {
        return Err(
            CliError::new(format!("study `{}` has no invitations in this store", a.study))
                .hint("check --study and --store"),
        );
    }
    let t = notes::record_uptake_files(&mut store, &master, &a.study, &a.input, mode, &mut crate::say)
        .map_err(feedback_run_err)?;
    let (total, unmatched_in) = (t.total, t.unmatched_in);
    // Rejected rows are reported (exit 1) first; rows matching no
    // invitation are an error of their own.
    let code = rejects_exit(
        total.rejected,
        total.rows_in,
        t.first_reject.as_ref(),
        a.allow_rejects,
    );
    // A row that names no invitation may be a person who consented or
    // declined: left unrecorded they are remindable. The matched rows are
    // recorded; the run does not report success.
    if !unmatched_in.is_empty() && !a.allow_unmatched {
        return Err(CliError::check_failed(format!(
            "{} feedback rows matched no invitation of study {}: {}",
            total.unmatched,
            a.study,
            unmatched_in.join("; ")
        ))
        .hint(
            "the other rows were recorded. Check --study, and that token rows were pseudonymised with \
             `--with-nhs-token` under the key from `trialink keys derive --scope trial:<study>` \
             (nhs_token finds a person whose date of birth differs); people not matched can still be reminded. \
             --allow-unmatched once the listed lines are reviewed",
        ));
    }
    Ok(code)
}
