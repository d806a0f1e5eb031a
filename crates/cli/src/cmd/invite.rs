//! `trialink invite`: a minimised, suppressed, quota-meeting invitation
//! batch (or, with `--reminder-of`, a reminder batch), recorded in the
//! service store together with its file.

use crate::error::{tab_err, CliError, CliResult};
use crate::open::{bind_master, dob_formats, load_master, open_existing_store};
use pseudonym::Date;
use recruitment::{BatchError, BatchOptions, InviteError};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options for `trialink invite`.
///
/// Reads the identifiable cohort, pseudonymises each row as it is read,
/// applies the request's inclusion criteria, the standard exclusions
/// (deceased, National Data Opt-out, S-flag, armed forces, prison), the
/// non-contact list, the trial's enrolled list and the frequency cap, meets
/// the per-stratum quotas (registry volunteers first), balances SWAT arms
/// within strata and adds QA seeds at random positions. Writes into `--out`:
/// `invitations.csv` (exactly the channel's columns), its manifest,
/// `selection-summary.json`/`.md` (funnel, requested vs actual per stratum)
/// and `cohort.rejects.csv`. The batch file and its store records appear
/// together or not at all.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
trialink invite --store service.sqlite --key master.key --cohort cohort.csv \\\n    \
--request fixtures/requests/example.toml --out batch-001 \\\n    \
--registry bpor.tokens.csv --enrolled enrolled.tokens.csv --qa-seeds qa_seeds.csv\n\n\
With fuzzy registry matching (volunteers without a usable NHS number), link first and pass the links:\n  \
trialink pseudonymise --key bpor.key --input cohort.csv --output cohort.bpor.csv --allow-blank --clk-schema schema.json\n  \
trialink link --left bpor.tokens.csv --right cohort.bpor.csv --output bpor-links.csv\n  \
trialink invite ... --registry-links bpor-links.csv\n\n\
The request file format is documented in fixtures/requests/example.toml.")]
pub struct Args {
    /// The service store, which must exist (default: $TRIALINK_STORE, else ./trialink-store.sqlite).
    #[arg(long, value_name = "DB")]
    pub store: Option<PathBuf>,
    /// The service's master key file.
    #[arg(long, value_name = "MASTER")]
    pub key: PathBuf,
    /// The identifiable cohort CSV or Parquet file (a file: it is read twice).
    #[arg(long, value_name = "FILE")]
    pub cohort: PathBuf,
    #[command(flatten)]
    pub format: crate::args::FormatArgs,
    /// The study request (TOML).
    #[arg(long, value_name = "FILE")]
    pub request: PathBuf,
    /// Output directory (created if missing; existing batch files are never overwritten).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Registry volunteers: a token file with its manifest, or a TLBF filter.
    #[arg(long, value_name = "FILE")]
    pub registry: Option<PathBuf>,
    /// Registry volunteers found by `trialink link` (exact and CLK matches) in
    /// the cohort pseudonymised under the registry's key with --allow-blank;
    /// row numbers, checked through the manifests against this cohort.
    #[arg(long, value_name = "FILE")]
    pub registry_links: Option<PathBuf>,
    /// The trial's already-enrolled list under `trial:<study>`: a token file with its manifest, or a TLBF filter.
    #[arg(long, value_name = "FILE")]
    pub enrolled: Option<PathBuf>,
    /// The service's internal QA seed addresses (CSV with the channel's contact columns).
    #[arg(long, value_name = "FILE")]
    pub qa_seeds: Option<PathBuf>,
    /// Date formats for the cohort's dates of birth instead of the defaults
    /// (which also accept DD.MM.YYYY, DD-MM-YYYY, YYYY/MM/DD and ISO date-times). Repeat for several.
    #[arg(long = "dob-format", value_name = "FMT")]
    pub dob_format: Vec<String>,
    /// Allow the request's as_of to be more than 31 days from today, giving
    /// the reason (recorded in the batch and the manifest). Invitations are
    /// always dated today.
    #[arg(long, value_name = "REASON")]
    pub backdate: Option<String>,
    /// Dice threshold at which a cohort member matching an objection kept
    /// without a usable NHS number (a CLK) is not invited. Deliberately low.
    #[arg(long, value_name = "T", default_value_t = suppression::clk::DEFAULT_THRESHOLD)]
    pub clk_threshold: f64,
    /// Make a reminder batch following up batch BATCH (its id, or its
    /// invitations.csv / directory) of the same study: invitees who have not
    /// responded, were not returned and are not excluded now. The request
    /// needs a `[reminder]` table (after_days, max_reminders); see
    /// fixtures/requests/reminder.toml.
    #[arg(long, value_name = "BATCH")]
    pub reminder_of: Option<String>,
    /// For tests and the demo only: the clock date (default: $TRIALINK_TODAY, else today, UTC).
    #[arg(long, value_name = "DATE", hide = true)]
    pub today: Option<String>,
}

/// The clock date: `--today`, else `$TRIALINK_TODAY` (both for tests and
/// the demo only, so that runs are reproducible), else today in UTC.
pub fn today(opt: Option<&str>) -> Result<Date, CliError> {
    let env = std::env::var("TRIALINK_TODAY").ok();
    match opt.or(env.as_deref()) {
        Some(s) => Date::parse_iso(s.trim()).ok_or_else(|| {
            CliError::new("--today / TRIALINK_TODAY: expected a date YYYY-MM-DD")
                .hint("these are for tests and the demo only; leave them unset")
        }),
        None => Ok(Date::today_utc()),
    }
}

fn request_error(e: recruitment::RequestError) -> CliError {
    let hint = match e {
        recruitment::RequestError::Io { .. } => "check the --request path",
        _ => "fixtures/requests/example.toml documents every key",
    };
    CliError::new(e).hint(hint)
}

fn invite_err(e: InviteError) -> CliError {
    match e {
        InviteError::Tabular(t) => tab_err(t),
        e => {
            let h = e.hint();
            CliError::new(e).hint(h)
        }
    }
}

/// The options recorded in the manifest (paths only, never a secret).
fn manifest_options(a: &Args, store: &store::Store) -> BTreeMap<String, serde_json::Value> {
    let mut opts: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    opts.insert("store".into(), store.path().display().to_string().into());
    opts.insert("key".into(), a.key.display().to_string().into());
    opts.insert("cohort".into(), a.cohort.display().to_string().into());
    opts.insert("request".into(), a.request.display().to_string().into());
    opts.insert("out".into(), a.out.display().to_string().into());
    for (k, p) in [
        ("registry", &a.registry),
        ("registry_links", &a.registry_links),
        ("enrolled", &a.enrolled),
        ("qa_seeds", &a.qa_seeds),
    ] {
        if let Some(p) = p {
            opts.insert(k.into(), p.display().to_string().into());
        }
    }
    if let Some(b) = &a.reminder_of {
        opts.insert("reminder_of".into(), b.clone().into());
    }
    opts
}

pub fn run(a: Args) -> CliResult {
    let master = load_master(&a.key)?;
    let today = today(a.today.as_deref())?;
    if !(a.clk_threshold > 0.0 && a.clk_threshold <= 1.0) {
        return Err(CliError::new("--clk-threshold: expected a number in (0, 1]")
            .hint("the default 0.75 is deliberately low: a false match only means one person not invited"));
    }
    let v = recruitment::request::load(&a.request, today).map_err(request_error)?;
    let reminder = a.reminder_of.is_some() || v.request.reminder.is_some();
    if reminder && (a.registry.is_some() || a.registry_links.is_some()) {
        return Err(
            CliError::new("--registry / --registry-links: a reminder batch follows up invitees; registry prioritisation does not apply")
                .hint("leave them out of a reminder run"),
        );
    }
    let dob_formats = if a.dob_format.is_empty() {
        pseudonym::DobFormats::lenient()
    } else {
        dob_formats(&a.dob_format)?
    };
    // Read twice: a pipe or device is refused before the store is locked.
    // (A missing file is reported where the cohort is opened, after the
    // request's route is checked against the register.)
    if a.cohort.as_os_str() != "-" && a.cohort.exists() {
        tabular::limited::check_regular(&a.cohort, "cohort")
            .map_err(|e| CliError::new(format!("cohort {}: {e}", a.cohort.display())))?;
    }
    let mut store = open_existing_store(a.store.as_deref())?;
    bind_master(&mut store, &master)?;
    recruitment::invite::check_clk_columns(&store, &a.cohort).map_err(invite_err)?;
    if let Some(note) = (!reminder)
        .then(|| recruitment::invite::unregistered_note(&store, &v.request.study))
        .flatten()
    {
        eprintln!("{note}");
    }
    let pb = crate::progress::rows("cohort", None);
    let progress = |_: &str, n: u64| pb.set_position(n);
    let batch = BatchOptions {
        master: &master,
        cohort: &a.cohort,
        request_path: &a.request,
        request: &v,
        out_dir: &a.out,
        enrolled: a.enrolled.as_deref(),
        qa_seeds: a.qa_seeds.as_deref(),
        dob_formats,
        today,
        backdate: a.backdate.as_deref(),
        clk_threshold: a.clk_threshold,
        manifest_options: manifest_options(&a, &store),
        progress: Some(&progress),
    };
    let registry = (a.registry.as_deref(), a.registry_links.as_deref());
    let done = recruitment::run_batch(&mut store, batch, reminder, a.reminder_of.as_deref(), registry)
        .map_err(|e| match e {
            BatchError::Invite(e) => invite_err(e),
            BatchError::Reminder(e) => {
                let h = e.hint();
                CliError::new(e).hint(h)
            }
        })?;
    if let Some(w) = &done.warning {
        eprintln!("{w}");
    }
    pb.finish_and_clear();
    let text = done.text;
    outln!("{text}");
    outln!(
        "summary, manifest and rejects are beside it in {}",
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
