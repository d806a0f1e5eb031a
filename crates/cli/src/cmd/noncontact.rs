//! `trialink noncontact`: the service's non-contact list (objections to
//! contact, keyed on the NHS number; see SECURITY.md).

use crate::args::IdentifierArgs;
use crate::args::StoreArgs;
use crate::error::{CliError, CliResult, Context};
use crate::open::{self, load_master};
use std::path::PathBuf;
use std::process::ExitCode;
use suppression::objections::{AddRun, AddTo};

/// `trialink noncontact` subcommands.
#[derive(clap::Subcommand)]
pub enum NoncontactCommand {
    /// Add people who asked not to be contacted, keyed on the NHS number
    /// alone, pseudonymised on ingest under `service:store`.
    Add(Box<AddArgs>),
    /// Print how many people are on the non-contact list.
    Count(CountArgs),
}

/// Options for `trialink noncontact add` (the run: `suppression::AddRun`).
#[derive(clap::Args)]
#[command(after_help = include_str!("../../help/noncontact_add.txt"))]
pub struct AddArgs {
    /// The service store; it must exist unless --create (default: $TRIALINK_STORE, else ./trialink-store.sqlite).
    #[arg(long, value_name = "DB")]
    pub store: Option<PathBuf>,
    /// Create the store if it does not exist (without it, a missing store is
    /// an error: a mistyped path must not hold the objections).
    #[arg(long)]
    pub create: bool,
    /// The service's master key file.
    #[arg(long, value_name = "MASTER")]
    pub key: PathBuf,
    /// CSV of objections with an NHS number column, and optionally date of birth, given_name, family_name, postcode (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub input: String,
    #[command(flatten)]
    pub ids: IdentifierArgs,
    /// Source label stored with each entry (default: the input file name).
    #[arg(long)]
    pub source: Option<String>,
    /// Where to write rejected rows (default `<input>.rejects.csv`; none for stdin).
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Exit 0 even when rows were rejected (for scripted reruns of a list
    /// whose rejects have been reviewed).
    #[arg(long)]
    pub allow_rejects: bool,
    /// Where to write the run manifest (default `<input>.noncontact.manifest.json`; none for stdin).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Replace the rejects file and manifest of an earlier run (without it, an
    /// existing one is an error, checked before the store is touched).
    #[arg(long)]
    pub force: bool,
}

/// Options for `trialink noncontact count`.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  trialink noncontact count --store service.sqlite")]
pub struct CountArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(c: NoncontactCommand) -> CliResult {
    match c {
        NoncontactCommand::Add(a) => add(*a),
        NoncontactCommand::Count(a) => {
            let s = a.store.open()?;
            outln!(
                "{}",
                s.noncontact_count().context("counting the non-contact list")?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn add(a: AddArgs) -> CliResult {
    let started = tabular::now_rfc3339();
    let master = load_master(&a.key)?;
    let run = AddRun {
        started,
        master: &master,
        as_of: open::as_of(a.ids.as_of.as_deref())?,
        input: &a.input,
        source: a.source.as_deref(),
        rejects: tabular::sidecar(&a.input, a.rejects.as_deref(), ".rejects.csv"),
        manifest: tabular::sidecar(&a.input, a.manifest.as_deref(), ".noncontact.manifest.json"),
        version: env!("CARGO_PKG_VERSION"),
    };
    let formats = open::dob_formats_or_lenient(&a.ids.dob_format)?;
    let to = AddTo {
        store: a.store.as_deref(),
        create: a.create,
        force: a.force,
        nhs_column: a.ids.nhs_column.as_deref(),
        dob_column: a.ids.dob_column.as_deref(),
        formats,
    };
    let pb = crate::progress::rows("noncontact", None);
    let failed = run.run(to, &mut || pb.inc(1), &mut crate::say);
    pb.finish_and_clear();
    if failed.map_err(|e| CliError::new(&e).maybe_hint(e.hint()))? && !a.allow_rejects {
        eprintln!(
            "hint: fix those rows and add the file again (adding is idempotent), or pass --allow-rejects once they are reviewed"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
