//! `trialink invite`: a minimised, suppressed, quota-meeting invitation
//! batch (or, with `--reminder-of`, a reminder batch), recorded in the
//! service store together with its file.

use crate::error::{CliError, CliResult};
use crate::open::{bind_master, dob_formats_or_lenient, load_master, open_existing_store};
use recruitment::{BatchError, BatchRun};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options for `trialink invite` (the run: `recruitment::BatchRun`).
#[derive(clap::Args)]
#[command(after_help = include_str!("../../help/invite.txt"))]
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

fn batch_err(e: BatchError) -> CliError {
    CliError::new(&e).maybe_hint(e.hint())
}

pub fn run(a: Args) -> CliResult {
    let master = load_master(&a.key)?;
    let run = BatchRun {
        key: &a.key,
        cohort: &a.cohort,
        request: &a.request,
        out: &a.out,
        registry: a.registry.as_deref(),
        registry_links: a.registry_links.as_deref(),
        enrolled: a.enrolled.as_deref(),
        qa_seeds: a.qa_seeds.as_deref(),
        backdate: a.backdate.as_deref(),
        clk_threshold: a.clk_threshold,
        reminder_of: a.reminder_of.as_deref(),
        today: recruitment::batch::today(a.today.as_deref()).map_err(batch_err)?,
    };
    let v = run.request().map_err(batch_err)?;
    let dob_formats = dob_formats_or_lenient(&a.dob_format)?;
    run.check_cohort().map_err(batch_err)?;
    let mut store = open_existing_store(a.store.as_deref())?;
    bind_master(&mut store, &master)?;
    let pb = crate::progress::rows("cohort", None);
    let progress = |_: &str, n: u64| pb.set_position(n);
    let done = run
        .run(
            &mut store,
            &master,
            &v,
            dob_formats,
            Some(&progress),
            &mut crate::say,
        )
        .map_err(batch_err)?;
    if let Some(w) = &done.warning {
        eprintln!("{w}");
    }
    pb.finish_and_clear();
    outln!("{}", done.text);
    outln!(
        "summary, manifest and rejects are beside it in {}",
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
