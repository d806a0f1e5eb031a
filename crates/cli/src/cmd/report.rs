//! `trialink report`: disclosure-controlled reports for a study.
//!
//! Reads the study's figures from the service store (or, with `--input`,
//! from a JSON file of the report structs), protects every table as the
//! next release of the study — audited against every earlier release
//! recorded in the store — writes CSV, Markdown and HTML, and records the
//! release in the store.

use crate::error::{CliError, CliResult};
use crate::open::open_store;
use disclosure::Policy;
use reports::{Formats, IntervalMethod, Options, ReportError, ReportInput};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options for `trialink report`.
///
/// Under `--store`, figures come from the invitations, outcomes and returns
/// recorded for the study (uptake by arm, by registry match, by quota
/// stratum, by age band, sex, ethnic group and region — linked tables with
/// the same grand totals; SWAT arms; returns), and the release is recorded in the store so
/// that the next report of the study is audited against it (differencing of
/// cumulative figures). `--input FILE` reads a JSON `ReportInput` instead
/// (selection funnel and strata included); add `--store` to use and record
/// the release log all the same.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
trialink report --store service.sqlite --study galleri-2 --out reports/galleri-2/week-03 --policy nhs-hes\n  \
trialink report --input figures.json --out reports/demo --format html\n  \
trialink report --service --store service.sqlite --out reports/service/2026-11\n\n\
Writes tables.json (audit it with `trialink audit --report DIR`), one CSV per table, statistics.csv,\n\
and selection/uptake/swat/returns .md and .html.")]
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

fn formats(list: &str) -> Result<Formats, CliError> {
    let mut f = Formats {
        csv: false,
        markdown: false,
        html: false,
    };
    for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match part {
            "csv" => f.csv = true,
            "md" | "markdown" => f.markdown = true,
            "html" => f.html = true,
            _ => {
                return Err(
                    CliError::new(format!("--format: unknown format `{part}`")).hint("use csv, md, html")
                )
            }
        }
    }
    Ok(f)
}

pub fn run(args: Args) -> CliResult {
    let policy = Policy::load(&args.policy)
        .map_err(|e| CliError::new(e).hint("use nhs-hes, opensafely, threshold-10 or a policy TOML file"))?;
    let formats = formats(&args.format)?;
    if args.out.join("tables.json").exists() && !args.force {
        return Err(
            CliError::new(format!("{} already holds a report", args.out.display()))
                .hint("choose a new --out directory (one per release) or pass --force"),
        );
    }
    if args.service && args.store.is_none() {
        return Err(CliError::new("--service needs --store").hint("pass --store DB"));
    }
    let mut store = match (&args.store, &args.input) {
        (Some(p), _) => Some(open_store(Some(p))?),
        (None, None) => Some(open_store(None)?),
        (None, Some(_)) => None,
    };
    let mut input = input(&args, store.as_ref())?;
    if let Some(d) = &args.as_of {
        input.as_of = d.clone();
    }
    if let (Some(c), Some(sw)) = (&args.control, input.swat.as_mut()) {
        sw.control = c.clone();
    }
    let options = Options {
        confidence: 0.95,
        interval: if args.exact_intervals {
            IntervalMethod::ClopperPearson
        } else {
            IntervalMethod::Wilson
        },
    };
    let table = if args.service {
        reports::SERVICE_TABLE
    } else {
        reports::RELEASE_TABLE
    };
    let (report, files) = reports::publish(
        store.as_mut(),
        &input,
        &policy,
        options,
        table,
        &args.out,
        formats,
    )
    .map_err(report_error)?;
    let p = &report.protected;
    eprintln!(
        "report: study {}, release {}, policy {}: {} table(s), {} suppressed cell(s) ({} small, {} secondary, {} added after the audit); audit over {} release(s) passed",
        input.study,
        p.sequence,
        policy.name,
        p.tables.len(),
        p.suppressed(),
        p.count(disclosure::CellStatus::Primary),
        p.count(disclosure::CellStatus::Secondary),
        p.count(disclosure::CellStatus::Repair) + p.count(disclosure::CellStatus::Margin),
        p.audit.releases
    );
    for f in files {
        outln!("{}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The report input: the service evaluation or a study's figures from the
/// store, or a JSON file.
fn input(args: &Args, store: Option<&store::Store>) -> Result<ReportInput, CliError> {
    if args.service {
        return reports::service_input(store.expect("store opened")).map_err(report_error);
    }
    let Some(path) = &args.input else {
        let study = args
            .study
            .as_deref()
            .ok_or_else(|| CliError::new("--study is required with --store").hint("pass --study ID"))?;
        return reports::study_input(store.expect("store opened"), study, args.control.as_deref())
            .map_err(report_error);
    };
    let mut i = reports::read_input(path).map_err(report_error)?;
    if let Some(s) = &args.study {
        if s != &i.study {
            return Err(CliError::new("--study differs from the input file's `study`"));
        }
    }
    if i.study.is_empty() {
        i.study = args.study.clone().unwrap_or_default();
    }
    Ok(i)
}

/// A report error with the hint for its kind.
fn report_error(e: ReportError) -> CliError {
    let hint = match &e {
        ReportError::Protect(disclosure::ProtectError::Refused { .. }) => {
            "too few new people since the last release to publish safely: wait for more data"
        }
        ReportError::Purged { .. } => {
            "the reports already published for it are unchanged; `trialink study show ID` gives the purge record"
        }
        ReportError::NoSuchStudy => "check --study against the batches recorded by `trialink invite`",
        ReportError::NoBatches => {
            "the service evaluation covers studies with batches recorded by `trialink invite`"
        }
        ReportError::BatchSummary => "report with the trialink version that made the batch",
        ReportError::InputFile { .. } => {
            "expected the JSON form of reports::ReportInput (see fixtures/disclosure/report_input.json)"
        }
        _ => "check the report input",
    };
    CliError::new(e).hint(hint)
}
