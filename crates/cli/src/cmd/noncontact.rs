//! `trialink noncontact`: the service's non-contact list (objections to
//! contact, keyed on the NHS number; see SECURITY.md).

use crate::args::IdentifierArgs;
use crate::error::{CliError, CliResult, Context};
use crate::open::{self, bind_master, load_master, open_existing_store, open_store};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use suppression::{AddError, AddRun, ObjectionColumns};
use tabular::Rejects;

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
#[command(after_help = "Example:\n  \
trialink noncontact add --store service.sqlite --key master.key --input objections.csv\n\n\
Exit status: 0 all rows recorded; 1 some rows rejected (the rest recorded; see the rejects file); 2 error.\n\
The store must exist (made by `trialink study add`) unless --create is given, so that a mistyped \
path never records objections where no run will look (default path: $TRIALINK_STORE, else ./trialink-store.sqlite).")]
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
    /// The service store (default: $TRIALINK_STORE, else ./trialink-store.sqlite).
    #[arg(long, value_name = "DB")]
    pub store: Option<PathBuf>,
}

pub fn run(c: NoncontactCommand) -> CliResult {
    match c {
        NoncontactCommand::Add(a) => add(*a),
        NoncontactCommand::Count(a) => {
            let s = open_existing_store(a.store.as_deref())?;
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
    let formats = if a.ids.dob_format.is_empty() {
        pseudonym::DobFormats::lenient()
    } else {
        open::dob_formats(&a.ids.dob_format)?
    };
    let store_path = a.store.clone().unwrap_or_else(store::default_path);
    refuse_new_store(&store_path, a.create)?;
    let sidecar_mode = tabular::claim_sidecars(&run.sidecars(), a.force)?;
    let mut src = tabular::Source::open(&a.input)?;
    let cols = ObjectionColumns::find(&src, a.ids.nhs_column.as_deref(), a.ids.dob_column.as_deref())?;
    let mut rejects = Rejects::create(run.rejects.clone(), sidecar_mode)?;
    // DOB tokens are computed only when an existing store still holds
    // legacy entries they could re-key (a new store is made only after the
    // input has been read whole without error).
    let mut early = if store_path.exists() {
        Some(open_store(Some(&store_path))?)
    } else {
        None
    };
    let want_dob_tokens = match &early {
        Some(s) => s
            .noncontact_needs_dob_tokens()
            .context("reading the non-contact list")?,
        None => false,
    };
    let pb = crate::progress::rows("noncontact", None);
    let got = run.read(&mut src, &cols, formats, want_dob_tokens, &mut rejects, || {
        pb.inc(1)
    })?;
    pb.finish_and_clear();
    let input = src.finish()?;
    let mut store = match early.take() {
        Some(s) => s,
        None => open_store(Some(&store_path))?,
    };
    bind_master(&mut store, &master)?;
    let (lines, failed) = run.add(&mut store, &got, &input, rejects).map_err(|e| match e {
        AddError::Add(e) => CliError::new(e),
        AddError::Tabular(e) => e.into(),
    })?;
    lines.into_iter().for_each(crate::say);
    if failed && !a.allow_rejects {
        eprintln!(
            "hint: fix those rows and add the file again (adding is idempotent), or pass --allow-rejects once they are reviewed"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// A missing store is created only when asked (`--create`): otherwise a
/// mistyped `--store` would hold objections that no `invite` reads.
fn refuse_new_store(path: &Path, create: bool) -> Result<(), crate::error::CliError> {
    if create || path.exists() {
        return Ok(());
    }
    Err(crate::error::CliError::new(format!("no store at {}", path.display())).hint(
        "check the --store path (and $TRIALINK_STORE); create a new store with `trialink study add`, or pass --create",
    ))
}
