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
    /// Add people who asked not to be contacted, keyed on the NHS number
    /// alone, pseudonymised on ingest under `service:store`.
    Add(Box<AddArgs>),
    /// Print how many people are on the non-contact list.
    Count(CountArgs),
}

/// Options for `trialink noncontact add`.
///
/// Each row's NHS number is turned into a `service:store` token of the NHS
/// number alone as the row is read (the date of birth, when usable, is
/// recorded as a token beside it but is never needed for a match: a wrong
/// or unreadable DOB never drops an objection). Messy but unambiguous forms
/// are normalised first (Unicode spaces and digits, a leading `'`; DOBs as
/// DD.MM.YYYY, DD-MM-YYYY, YYYY/MM/DD or ISO date-times). A row without a
/// usable NHS number is kept as a CLK of given name, family name, DOB and
/// postcode when it has a family name and a DOB or postcode; otherwise it
/// is rejected. Adding someone twice changes nothing.
///
/// Exit status 1 when any row was rejected (the good rows are recorded
/// first; rejected rows are in the rejects file by line and reason, never
/// value), unless --allow-rejects.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
trialink noncontact add --store service.sqlite --key master.key --input objections.csv\n\n\
Exit status: 0 all rows recorded; 1 some rows rejected (the rest recorded; see the rejects file); 2 error.\n\
The store is created on first use (default path: $TRIALINK_STORE, else ./trialink-store.sqlite).")]
pub struct AddArgs {
    /// The service store, created on first use (default: $TRIALINK_STORE, else ./trialink-store.sqlite).
    #[arg(long, value_name = "DB")]
    pub store: Option<PathBuf>,
    /// The service's master key file.
    #[arg(long, value_name = "MASTER")]
    pub key: PathBuf,
    /// CSV of objections with an NHS number column, and optionally date of birth, given_name, family_name, postcode (`-` for stdin).
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

/// The label `keys generate --scope` gives a master key (README step 1).
pub const MASTER_LABEL: &str = "service:master";

/// Load a master key: a key file that names a scope is a derived key,
/// refused — except the master label `service:master`, which
/// `keys generate` writes and which no `keys derive` makes.
pub fn load_master(p: &Path) -> Result<pseudonym::Key, CliError> {
    let kf = keys::load(p)?;
    if let Some(s) = kf.scope.as_ref().filter(|s| s.as_str() != MASTER_LABEL) {
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
    let formats = if a.dob_format.is_empty() {
        pseudonym::DobFormats::lenient()
    } else {
        dob_formats(&a.dob_format)?
    };
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
    let mut coder = suppression::ClkCoder::new(&master);
    let mut src = Source::open(&a.input).map_err(tab_err)?;
    let nhs_col = src
        .column(a.nhs_column.as_deref(), NHS_COLUMNS, "NHS number")
        .map_err(tab_err)?;
    let dob_col = match a.dob_column.as_deref() {
        Some(n) => Some(
            src.column(Some(n), DOB_COLUMNS, "date of birth")
                .map_err(tab_err)?,
        ),
        None => src
            .optional_column(None, DOB_COLUMNS, "date of birth")
            .map_err(tab_err)?,
    };
    let opt =
        |src: &Source, names: &[&str], what: &str| src.optional_column(None, names, what).map_err(tab_err);
    let given_col = opt(&src, &["given_name", "first_name", "forename"], "given name")?;
    let family_col = opt(&src, &["family_name", "surname", "last_name"], "family name")?;
    let postcode_col = opt(&src, &["postcode", "post_code"], "postcode")?;
    let header = src.header().to_vec();
    let mut rejects = Rejects::create(rejects_path.clone(), sidecar_mode).map_err(tab_err)?;
    // DOB tokens are computed only when an existing store still holds
    // legacy entries they could re-key (a new store is made only after the
    // input has been read whole without error).
    let store_path = a.store.clone().unwrap_or_else(store::default_path);
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
    let mut entries: Vec<store::NonContactEntry> = Vec::new();
    let mut clks: Vec<Vec<u8>> = Vec::new();
    let mut dob_unusable = 0u64;
    let mut bad_nhs_kept: Vec<u64> = Vec::new();
    let mut rec = csv::ByteRecord::new();
    let pb = crate::progress::rows("noncontact", None);
    while src.read(&mut rec).map_err(tab_err)? {
        pb.inc(1);
        let line = src.position().line;
        if rec.len() != header.len() {
            rejects.add(line, "", "ragged_row").map_err(tab_err)?;
            continue;
        }
        let dob = dob_col.map(|i| Dob::parse_bytes(&rec[i], &formats, as_of));
        match NhsNumber::parse_normalised(&rec[nhs_col]) {
            Ok(nhs) => {
                let (dob_token, dob_given) = match &dob {
                    // The DOB's token is only needed to re-key legacy entries.
                    Some(Ok(d)) => (want_dob_tokens.then(|| tk.token_nhs_dob(&nhs, d).0), true),
                    _ => {
                        dob_unusable += 1;
                        (None, false)
                    }
                };
                entries.push(store::NonContactEntry {
                    nhs: tk.token_nhs(&nhs).0,
                    dob: dob_token,
                    dob_given,
                });
            }
            Err(e) => {
                // No usable NHS number: keep the objection as a CLK when
                // there is enough to match on; else reject the row.
                let cell = |i: Option<usize>| {
                    i.and_then(|i| std::str::from_utf8(&rec[i]).ok())
                        .unwrap_or("")
                        .to_string()
                };
                let iso = match &dob {
                    Some(Ok(d)) => Some(d.iso().to_string()),
                    _ => None,
                };
                match coder.encode(
                    &cell(given_col),
                    &cell(family_col),
                    iso.as_deref(),
                    &cell(postcode_col),
                ) {
                    Some(c) => {
                        clks.push(c);
                        // An NHS number was written but cannot be read (a
                        // spreadsheet's `9.99E+09`, a formula, a typo): the
                        // objection is kept as a CLK, which may match nobody
                        // if the names differ, so the run does not report
                        // success (issue 14: fail loudly).
                        if !rec[nhs_col].trim_ascii().is_empty() {
                            bad_nhs_kept.push(line);
                        }
                    }
                    None => rejects.add(line, &header[nhs_col], e.code()).map_err(tab_err)?,
                }
            }
        }
    }
    pb.finish_and_clear();
    let input = src.finish().map_err(tab_err)?;
    let source = a.source.clone().unwrap_or_else(|| {
        Path::new(&a.input)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "stdin".into())
    });
    let mut store = match early.take() {
        Some(s) => s,
        None => open_store(Some(&store_path))?,
    };
    let mut counts = store
        .noncontact_add(&entries, &source)
        .context("adding to the non-contact list")?;
    let clk_counts = store
        .noncontact_add_clks(&clks, &source)
        .context("adding to the non-contact list")?;
    counts.added += clk_counts.added;
    counts.already_present += clk_counts.already_present;
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
        rows_out: (entries.len() + clks.len()) as u64,
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
    let legacy = store
        .noncontact_legacy_count()
        .context("counting the non-contact list")?;
    manifest
        .extra
        .insert("kept_as_clk".into(), (clks.len() as u64).into());
    manifest.extra.insert("dob_unusable".into(), dob_unusable.into());
    manifest.extra.insert(
        "unreadable_nhs_kept_as_clk".into(),
        (bad_nhs_kept.len() as u64).into(),
    );
    manifest
        .extra
        .insert("legacy_entries_not_rekeyed".into(), legacy.into());
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
    if !clks.is_empty() {
        outln!(
            "{} objections without a usable NHS number were kept as CLKs (name, date of birth, postcode)",
            clks.len()
        );
    }
    if dob_unusable > 0 {
        outln!(
            "{dob_unusable} objections had no usable date of birth: recorded on the NHS number alone (the DOB is never needed for a match)"
        );
    }
    if legacy > 0 {
        eprintln!(
            "warning: {legacy} entries from before schema version 5 are still keyed on NHS number + date of birth \
             (they still suppress exact matches); add those objections again so they match on the NHS number alone"
        );
    }
    let mut failed = false;
    if !bad_nhs_kept.is_empty() {
        let shown: Vec<String> = bad_nhs_kept.iter().take(10).map(u64::to_string).collect();
        eprintln!(
            "trialink: {} objections had an NHS number that could not be read (lines {}{}); they were kept as CLKs \
             of name, date of birth and postcode, which match only where those agree",
            bad_nhs_kept.len(),
            shown.join(", "),
            if bad_nhs_kept.len() > 10 { ", …" } else { "" }
        );
        failed = true;
    }
    if fin.total > 0 {
        let reasons: Vec<String> = fin.by_reason.iter().map(|(k, v)| format!("{k} {v}")).collect();
        eprintln!(
            "trialink: {} of {} rows were rejected ({}); the other rows are recorded",
            fin.total,
            input.rows,
            reasons.join(", ")
        );
        if let Some(p) = rejects_path {
            eprintln!("rejected rows (line, column, reason) are in {}", p.display());
        }
        failed = true;
    }
    if failed && !a.allow_rejects {
        eprintln!(
            "hint: fix those rows and add the file again (adding is idempotent), or pass --allow-rejects once they are reviewed"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
