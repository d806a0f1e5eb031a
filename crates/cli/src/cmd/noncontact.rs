//! `trialink noncontact`: the service's non-contact list (DESIGN §1, §5).

use crate::cmd::keys;
use crate::cmd::pseudonymise::{as_of, dob_formats, tab_err, DOB_COLUMNS, NHS_COLUMNS};
use crate::error::{CliError, CliResult, Context};
use pseudonym::{Dob, NhsNumber, Scope, TokenKey};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tabular::{FileRecord, KeyRecord, Manifest, Rejects, RowCounts, Source};

/// `trialink noncontact` subcommands.
#[derive(clap::Subcommand)]
pub enum NoncontactCommand {
    /// Add people who asked not to be contacted (NHS number + date of birth),
    /// pseudonymised on ingest under `service:store`.
    Add(Box<AddArgs>),
    /// Print how many people are on the non-contact list.
    Count(CountArgs),
}

/// Options for `trialink noncontact add`.
///
/// Each row's NHS number and date of birth are turned into a `service:store`
/// token as the row is read; only the token is stored. Adding someone twice
/// changes nothing. Prints the counts added, already present and rejected;
/// rejected rows go to the rejects file by line and reason, never value.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
trialink noncontact add --store service.sqlite --key master.key --input objections.csv\n\n\
The store is created on first use (default path: $TRIALINK_STORE, else ./trialink-store.sqlite).")]
pub struct AddArgs {
    /// The service store, created on first use (default: $TRIALINK_STORE, else ./trialink-store.sqlite).
    #[arg(long, value_name = "DB")]
    pub store: Option<PathBuf>,
    /// The service's master key file.
    #[arg(long, value_name = "MASTER")]
    pub key: PathBuf,
    /// CSV of objections with an NHS number and a date of birth column (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub input: String,
    /// The NHS number column (default: found among nhs_number, nhs_no, nhsnumber).
    #[arg(long, value_name = "NAME")]
    pub nhs_column: Option<String>,
    /// The date-of-birth column (default: found among date_of_birth, dob, birth_date).
    #[arg(long, value_name = "NAME")]
    pub dob_column: Option<String>,
    /// Date formats instead of the defaults (strftime %Y %m %d). Repeat for several.
    #[arg(long = "dob-format", value_name = "FMT")]
    pub dob_format: Vec<String>,
    /// As-of date for date-of-birth checks (default today, UTC).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Source label stored with each entry (default: the input file name).
    #[arg(long)]
    pub source: Option<String>,
    /// Where to write rejected rows (default `<input>.rejects.csv`; none for stdin).
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
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

/// Open the store at `--store` or the default path, with a clear error.
pub fn open_store(p: Option<&Path>) -> Result<store::Store, CliError> {
    let path = p.map(Path::to_path_buf).unwrap_or_else(store::default_path);
    let s = store::Store::open(&path).map_err(|e| {
        let hint = match &e {
            store::StoreError::Busy { .. } => "wait for the other run to finish, then try again",
            store::StoreError::NewerSchema { .. } => {
                "use the trialink version that wrote this store, or a newer one"
            }
            _ => "check the --store path and that the file is a trialink store",
        };
        CliError::new(e).hint(hint)
    })?;
    let r = s.reconciled();
    for b in &r.rolled_back {
        eprintln!("note: batch {b} was interrupted before its file was in place; it has been rolled back");
    }
    for b in &r.rolled_forward {
        eprintln!("note: batch {b} was interrupted after its file was in place; it has been completed");
    }
    Ok(s)
}

/// Open an existing store (for commands that only add to what `invite`
/// recorded): a missing file is an error, not a new store.
pub fn open_existing_store(p: Option<&Path>) -> Result<store::Store, CliError> {
    let path = p.map(Path::to_path_buf).unwrap_or_else(store::default_path);
    if !path.exists() {
        return Err(CliError::new(format!("no store at {}", path.display()))
            .hint("pass the --store that `trialink invite` used"));
    }
    open_store(Some(&path))
}

/// Load a master key: a key file that names a scope is a derived key, refused.
pub fn load_master(p: &Path) -> Result<pseudonym::Key, CliError> {
    let kf = keys::load(p)?;
    if let Some(s) = &kf.scope {
        return Err(CliError::new(format!(
            "key file {} is a scope key for `{s}`, not the service's master key",
            p.display()
        ))
        .hint("pass the master key from `trialink keys generate`"));
    }
    Ok(kf.key)
}

pub fn run(c: NoncontactCommand) -> CliResult {
    match c {
        NoncontactCommand::Add(a) => add(*a),
        NoncontactCommand::Count(a) => {
            let s = open_store(a.store.as_deref())?;
            outln!(
                "{}",
                s.noncontact_count().context("counting the non-contact list")?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn add(a: AddArgs) -> CliResult {
    let mut manifest = Manifest::new("noncontact add", env!("CARGO_PKG_VERSION"));
    let master = load_master(&a.key)?;
    let as_of = as_of(a.as_of.as_deref())?;
    let formats = dob_formats(&a.dob_format)?;
    let rejects_path = match (&a.rejects, a.input.as_str()) {
        (Some(p), _) => Some(p.clone()),
        (None, "-") => None,
        (None, i) => Some(tabular::sidecar_path(Path::new(i), ".rejects.csv")),
    };
    let mpath = match (&a.manifest, a.input.as_str()) {
        (Some(p), _) => Some(p.clone()),
        (None, "-") => None,
        (None, i) => Some(tabular::sidecar_path(Path::new(i), ".noncontact.manifest.json")),
    };
    let sidecars: Vec<&Path> = rejects_path
        .iter()
        .chain(mpath.iter())
        .map(PathBuf::as_path)
        .collect();
    let sidecar_mode = tabular::claim_sidecars(&sidecars, a.force).map_err(tab_err)?;
    let service_key = master.derive(&Scope::service_store());
    let tk = TokenKey::new(&service_key);
    let mut src = Source::open(&a.input).map_err(tab_err)?;
    let nhs_col = src
        .column(a.nhs_column.as_deref(), NHS_COLUMNS, "NHS number")
        .map_err(tab_err)?;
    let dob_col = src
        .column(a.dob_column.as_deref(), DOB_COLUMNS, "date of birth")
        .map_err(tab_err)?;
    let header = src.header().to_vec();
    let mut rejects = Rejects::create(rejects_path.clone(), sidecar_mode).map_err(tab_err)?;
    let mut tokens = Vec::new();
    let mut rec = csv::ByteRecord::new();
    let pb = crate::progress::rows("noncontact", None);
    while src.read(&mut rec).map_err(tab_err)? {
        pb.inc(1);
        let line = src.position().line;
        if rec.len() != header.len() {
            rejects.add(line, "", "ragged_row").map_err(tab_err)?;
            continue;
        }
        let nhs = match NhsNumber::parse_bytes(&rec[nhs_col]) {
            Ok(n) => n,
            Err(e) => {
                rejects.add(line, &header[nhs_col], e.code()).map_err(tab_err)?;
                continue;
            }
        };
        let dob = match Dob::parse_bytes(&rec[dob_col], &formats, as_of) {
            Ok(d) => d,
            Err(e) => {
                rejects.add(line, &header[dob_col], e.code()).map_err(tab_err)?;
                continue;
            }
        };
        tokens.push(tk.token_nhs_dob(&nhs, &dob).0);
    }
    pb.finish_and_clear();
    let input = src.finish().map_err(tab_err)?;
    let source = a.source.clone().unwrap_or_else(|| {
        Path::new(&a.input)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "stdin".into())
    });
    let mut store = open_store(a.store.as_deref())?;
    let counts = store
        .noncontact_add(&tokens, &source)
        .context("adding to the non-contact list")?;
    let fin = rejects.finish().map_err(tab_err)?;
    let mut outputs = Vec::new();
    if let Some(p) = fin.pending {
        let s = p.persist().map_err(tab_err)?;
        outputs.push(FileRecord::output("rejects", &s, Some(fin.total)));
    }
    manifest.option("store", store.path().display().to_string());
    manifest.option("input", a.input.clone());
    manifest.option("source", source);
    manifest.as_of = Some(recruitment::invite::iso(as_of));
    manifest.scope = Some("service:store".into());
    manifest.key_fingerprint = Some(service_key.fingerprint().to_string());
    manifest.keys = vec![
        KeyRecord {
            role: "master".into(),
            scope: None,
            fingerprint: master.fingerprint().to_string(),
        },
        KeyRecord {
            role: "service".into(),
            scope: Some("service:store".into()),
            fingerprint: service_key.fingerprint().to_string(),
        },
    ];
    manifest.inputs.push(FileRecord::input("objections", &input));
    manifest.outputs = outputs;
    manifest.rows = RowCounts {
        rows_in: input.rows,
        rows_out: tokens.len() as u64,
        rows_rejected: fin.total,
        rejected_by_reason: fin.by_reason.clone(),
    };
    manifest.extra.insert("added".into(), counts.added.into());
    manifest
        .extra
        .insert("already_present".into(), counts.already_present.into());
    let total = store
        .noncontact_count()
        .context("counting the non-contact list")?;
    manifest.extra.insert("list_size".into(), total.into());
    if let Some(p) = mpath {
        manifest.write(&p).map_err(tab_err)?;
    }
    outln!(
        "added {}, already present {}, rejected {} (of {} rows); the non-contact list now holds {}",
        counts.added,
        counts.already_present,
        fin.total,
        input.rows,
        total
    );
    if fin.total > 0 {
        if let Some(p) = rejects_path {
            eprintln!("rejected rows (line, column, reason) are in {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
