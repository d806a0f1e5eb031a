//! `trialink audit`: what can a reader infer from published tables? The
//! run is `reports::audit`'s; this module turns options into it and prints
//! the verdict (exit 1 when a cell is narrower than the policy's
//! protection range).

use crate::error::{CliError, CliResult};
use disclosure::Policy;
use reports::audit::AuditRun;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options for `trialink audit` (the run: `reports::audit::AuditRun`).
#[derive(clap::Args)]
#[command(after_help = include_str!("../../help/audit.txt"))]
#[command(group = clap::ArgGroup::new("input").required(true).multiple(true).args(["report", "table", "store"]))]
pub struct Args {
    /// A report directory holding `tables.json` (repeatable).
    #[arg(long, value_name = "DIR")]
    pub report: Vec<PathBuf>,
    /// A release JSON file or a CSV table (repeatable).
    #[arg(long, value_name = "FILE")]
    pub table: Vec<PathBuf>,
    /// Audit every release the store has published: every release of
    /// every study and of the service evaluation, together.
    #[arg(long, value_name = "DB")]
    pub store: Option<PathBuf>,
    /// Policy whose protection range is checked (built-in name or TOML
    /// file); also how CSV tables were published. Default: each release's
    /// own policy for its publication rule, `nhs-hes` for the check.
    #[arg(long, value_name = "NAME|FILE")]
    pub policy: Option<String>,
    /// CSV tables: columns that hold quotas, not counts of people (repeatable).
    #[arg(long, value_name = "NAME")]
    pub exempt_column: Vec<String>,
    /// Print every suppressed cell's interval, not only the unsafe ones.
    #[arg(long)]
    pub verbose: bool,
    /// Print the audit as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Settle safe cells by feasible points instead of solving for their
    /// exact interval: the same verdict, unsafe intervals still exact, much
    /// faster on long series of releases (a safe cell's interval may be
    /// shown narrower than its feasible interval).
    #[arg(long)]
    pub fast: bool,
}

pub fn run(args: Args) -> CliResult {
    let policy = match &args.policy {
        Some(p) => Policy::load(p).map_err(|e| {
            CliError::new(e).hint("use nhs-hes, opensafely, threshold-10 or a policy TOML file")
        })?,
        None => Policy::default_policy(),
    };
    let store = args
        .store
        .as_deref()
        .map(|db| crate::open::open_existing_store(Some(db)))
        .transpose()?;
    let run = AuditRun {
        store: store.as_ref().zip(args.store.as_deref()),
        reports: &args.report,
        tables: &args.table,
        exempt_columns: &args.exempt_column,
        policy: &policy,
        fast: args.fast,
    };
    let (releases, report) = run.run().map_err(|e| CliError::new(&e).maybe_hint(e.hint()))?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("audit report serialises")
        );
    } else {
        reports::audit::text(&report, &releases, args.verbose)
            .iter()
            .for_each(|l| outln!("{l}"));
    }
    let bad = report.failures().count();
    if bad > 0 {
        return Err(CliError::check_failed(format!(
            "{bad} unsafe interval(s): a reader can narrow a suppressed count, a rounded count or a difference between releases (of any series) below the policy's protection"
        ))
        .hint("republish with `trialink report`, which adds secondary suppression, or suppress more cells"));
    }
    if !args.json {
        outln!("audit passed");
    }
    Ok(ExitCode::SUCCESS)
}
