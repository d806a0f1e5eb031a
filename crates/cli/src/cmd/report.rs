//! `trialink report`: disclosure-controlled reports for a study. The run
//! (figures read, protected against every earlier release, written and
//! recorded in the store) is `reports::ReportRun`'s.

use crate::error::{CliError, CliResult};
use crate::open::open_existing_store;
use disclosure::Policy;
use reports::{Formats, IntervalMethod, Options, ReportError, ReportRun};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options for `trialink report` (the run: `reports::ReportRun`).
#[derive(clap::Args)]
#[command(after_help = include_str!("../../help/report.txt"))]
pub struct Args {
    /// The service store.
    #[arg(long, value_name = "DB")]
    pub store: Option<PathBuf>,
    /// Study id.
    #[arg(long, value_name = "ID")]
    pub study: Option<String>,
    /// Report figures as JSON instead of reading them from the store.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Disclosure-control policy: built-in name or TOML file.
    #[arg(long, value_name = "NAME|FILE", default_value = "nhs-hes")]
    pub policy: String,
    /// Formats, comma-separated: csv, md, html (tables.json is always written).
    #[arg(long, value_name = "LIST", default_value = "csv,md,html")]
    pub format: String,
    /// SWAT control arm (default: the first arm by name).
    #[arg(long, value_name = "ARM")]
    pub control: Option<String>,
    /// Use Clopper–Pearson intervals for rates instead of Wilson.
    #[arg(long)]
    pub exact_intervals: bool,
    /// As-of date shown in the reports (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Replace an existing report in --out.
    #[arg(long)]
    pub force: bool,
    /// The service evaluation instead of a study's reports: per study
    /// requested vs invited, delivered, responded, enrolled and days to
    /// target; people by number of invitations received across studies;
    /// exclusions by reason. Needs --store; recorded in the store as the
    /// service's own release series.
    #[arg(long, conflicts_with_all = ["study", "input", "control"])]
    pub service: bool,
}

pub fn run(args: Args) -> CliResult {
    let policy = Policy::load(&args.policy)
        .map_err(|e| CliError::new(e).hint("use nhs-hes, opensafely, threshold-10 or a policy TOML file"))?;
    let formats = Formats::parse(&args.format)
        .map_err(|p| CliError::new(format!("--format: unknown format `{p}`")).hint("use csv, md, html"))?;
    let interval = if args.exact_intervals {
        IntervalMethod::ClopperPearson
    } else {
        IntervalMethod::Wilson
    };
    let run = ReportRun {
        study: args.study.as_deref(),
        input: args.input.as_deref(),
        service: args.service,
        as_of: args.as_of.as_deref(),
        control: args.control.as_deref(),
        policy: &policy,
        options: Options {
            confidence: 0.95,
            interval,
        },
        out: &args.out,
        formats,
        force: args.force,
    };
    run.check(args.store.is_some()).map_err(report_error)?;
    let from_store = args.store.is_some() || args.input.is_none();
    let mut store = from_store
        .then(|| open_existing_store(args.store.as_deref()))
        .transpose()?;
    let done = run.run(store.as_mut()).map_err(report_error)?;
    eprintln!("{}", done.summary);
    for f in done.files {
        outln!("{}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A report error with the hint for its kind.
fn report_error(e: ReportError) -> CliError {
    let hint = e.hint();
    CliError::new(e).hint(hint)
}
