//! `trialink study`: the study register. Each study's requesting
//! organisation, approvals, permitted output routes and channels and
//! retention date, kept in the service store; every change is made by a
//! named `--operator` and recorded in an append-only history that
//! `study show` prints and nothing in trialink can edit.

use crate::args::StoreArgs;
use crate::error::{CliError, CliResult};
use crate::open::open_store;
use std::path::PathBuf;
use std::process::ExitCode;
use store::register::text;
use store::StoreError;

/// Manage the study register.
#[derive(clap::Subcommand)]
pub enum StudyCommand {
    /// Add a study to the register from a TOML file (see
    /// fixtures/studies/example.toml).
    Add(ChangeArgs),
    /// Replace an open study's register entry from a TOML file (the study
    /// id in the file names the entry).
    Update(ChangeArgs),
    /// Show a study's register entry and its full history.
    Show(ShowArgs),
    /// List the studies in the register.
    #[command(after_help = "Example:\n  trialink study list --store service.sqlite")]
    List(StoreArgs),
    /// Close a study: no further change and no further invitation.
    Close(CloseArgs),
    /// Purge a study after its retention date: delete its invitations,
    /// outcomes, returns, enrolments and batches from the store and destroy
    /// its key secret, keeping the published releases and a purge record.
    Purge(PurgeArgs),
}

/// Options for `trialink study purge`.
#[derive(clap::Args)]
#[command(after_help = include_str!("../../help/study_purge.txt"))]
pub struct PurgeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Who purges the study (recorded in the purge record).
    #[arg(long, value_name = "NAME")]
    pub operator: String,
    /// Purge before the retention date, for this reason (recorded).
    #[arg(long = "override", value_name = "REASON")]
    pub override_reason: Option<String>,
    /// The study id.
    #[arg(value_name = "ID")]
    pub study: String,
}

/// Options for `trialink study add` and `trialink study update`.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  trialink study add --store service.sqlite --operator \"A. Operator\" fixtures/studies/example.toml"
)]
pub struct ChangeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Who makes the change (recorded in the history).
    #[arg(long, value_name = "NAME")]
    pub operator: String,
    /// The study's register entry (TOML).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Options for `trialink study show`.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  trialink study show --store service.sqlite trial-001")]
pub struct ShowArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The study id.
    #[arg(value_name = "ID")]
    pub study: String,
}

/// Options for `trialink study close`.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  trialink study close --store service.sqlite --operator \"A. Operator\" trial-001"
)]
pub struct CloseArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Who closes the study (recorded in the history).
    #[arg(long, value_name = "NAME")]
    pub operator: String,
    /// The study id.
    #[arg(value_name = "ID")]
    pub study: String,
}

pub fn run(c: StudyCommand) -> CliResult {
    let text = match c {
        StudyCommand::Add(a) => change(a, true)?,
        StudyCommand::Update(a) => change(a, false)?,
        StudyCommand::Show(a) => a.store.open()?.study_show(&a.study),
        StudyCommand::List(a) => a.open()?.study_list_table(),
        StudyCommand::Close(a) => (a.store.open()?)
            .study_close(&a.study, &a.operator)
            .map(|rec| text::change_line(&rec, "closed")),
        StudyCommand::Purge(a) => {
            let today = pseudonym::Date::today_utc();
            let reason = a.override_reason.as_deref();
            a.store
                .open()?
                .study_purge_told(&a.study, &a.operator, today, reason)
        }
    };
    // Informational output: a closed pipe or a full device ends it quietly.
    use std::io::Write as _;
    let text = text.map_err(|e| CliError::new(&e).hint(e.register_hint()))?;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes()).and_then(|()| o.flush());
    Ok(ExitCode::SUCCESS)
}

/// `study add` or `study update`: the file is checked before the store is
/// touched (or, to add, created).
fn change(a: ChangeArgs, add: bool) -> Result<Result<String, StoreError>, CliError> {
    let entry = store::register_file::read_entry(&a.file).map_err(|e| CliError::new(&e).hint(e.hint()))?;
    let mut s = match add {
        true => open_store(a.store.store.as_deref())?,
        false => a.store.open()?,
    };
    let rec = match add {
        true => s.study_add(entry, &a.operator),
        false => s.study_update(entry, &a.operator),
    };
    Ok(rec.map(|rec| text::change_line(&rec, if add { "added" } else { "updated" })))
}
