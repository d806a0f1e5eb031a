//! `trialink audit`: what can a reader infer from published tables?
//!
//! Solves the linear program of everything the given releases publish
//! (cells with their rounding bounds, totals, nested columns, linked tables,
//! earlier cumulative releases of the same study) and prints each suppressed
//! cell's feasible interval; exit 1 when one is narrower than the policy's
//! protection range.

use crate::error::{CliError, CliResult, Context};
use disclosure::{audit, Policy, Release, RELEASE_FORMAT};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options for `trialink audit`.
///
/// `--report DIR` reads `DIR/tables.json` (written by `trialink report`);
/// give several (e.g. successive weekly reports) to audit them together,
/// differences between cumulative releases included. `--table FILE` reads a
/// release JSON file or one CSV table: first column the row labels, then
/// one column per category; a last row labelled `Total` and a last column
/// headed `Total` are sums; suppressed cells are `*`.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
trialink audit --report reports/week1 --report reports/week2\n  \
trialink audit --table uptake_by_arm.csv --policy threshold-10\n  \
trialink audit --store trialink.db   # everything the store has published\n\n\
Exit status: 0 every interval is wide enough, 1 an unsafe cell was found, 2 error.")]
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
    let mut releases: Vec<Release> = Vec::new();
    if let Some(db) = &args.store {
        let st = crate::open::open_existing_store(Some(db))?;
        for (k, (_, _, _, content)) in st
            .all_releases(&["report-release", "service-release"])
            .context("reading the release log")?
            .into_iter()
            .enumerate()
        {
            let r: Release = serde_json::from_str(&content).map_err(|_| {
                CliError::new(format!(
                    "{}: release log entry {} is not a readable release",
                    db.display(),
                    k + 1
                ))
            })?;
            releases.push(r);
        }
    }
    for dir in &args.report {
        let path = dir.join("tables.json");
        releases.push(
            read_release(&path)
                .map_err(|e| e.hint("point --report at a directory written by `trialink report`"))?,
        );
    }
    for (k, file) in args.table.iter().enumerate() {
        let is_json = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_json {
            releases.push(read_release(file)?);
        } else {
            let t = reports::parse::read_table_csv(file, &args.exempt_column).map_err(|e| {
                let hint = e.hint();
                CliError::new(e).maybe_hint(hint)
            })?;
            releases.push(Release {
                format: RELEASE_FORMAT.into(),
                study: format!("csv:{}", file.display()),
                sequence: k as u32 + 1,
                policy: policy.clone(),
                tables: vec![t],
            });
        }
    }
    check_size(&releases)?;
    let report = if args.fast {
        disclosure::audit_fast(&releases, &policy)
    } else {
        audit(&releases, &policy)
    }
    .context("auditing")?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("audit report serialises")
        );
    } else {
        for f in &report.findings {
            if args.verbose || !f.safe {
                outln!("{}{f}", if f.safe { "ok      " } else { "UNSAFE  " });
            }
        }
        outln!(
            "audit: {} release(s), {} suppressed cell(s), {} rounded count(s), {} difference(s) between releases, {} independent part(s), {} linear programs; policy {} (protects {}..={}, min width {}, rounded counts keep {} values)",
            report.releases,
            report.suppressed_cells,
            report.rounded_cells,
            report.differences,
            report.components,
            report.linear_programs,
            report.policy,
            report.sensitive_range.0,
            report.sensitive_range.1,
            report.min_width,
            report.min_rounded_values
        );
    }
    if !args.json {
        outln!("the verdict covers {}", coverage(&releases));
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

/// The most published cells one audit takes, over all its releases: the
/// audit holds about 4 KB per cell (its parts and linear programs), so the
/// cap keeps it under about 1 GB; a larger input is refused, not run out
/// of memory.
pub const MAX_AUDIT_CELLS: usize = 200_000;

fn check_size(releases: &[Release]) -> Result<(), CliError> {
    let cells: usize = releases
        .iter()
        .flat_map(|r| &r.tables)
        .flat_map(|t| &t.cells)
        .map(Vec::len)
        .sum();
    if cells > MAX_AUDIT_CELLS {
        return Err(CliError::new(format!(
            "the input holds {cells} published cells; one audit takes at most {MAX_AUDIT_CELLS}"
        ))
        .hint("audit the tables or releases in smaller groups (each table's rows and columns are audited together)"));
    }
    Ok(())
}

fn read_release(path: &Path) -> Result<Release, CliError> {
    reports::parse::read_release(path).map_err(|e| {
        let json = matches!(e, reports::parse::ReleaseFileError::Json { .. });
        let err = CliError::new(e);
        if json {
            err.hint("expected a release written by `trialink report` (tables.json)")
        } else {
            err
        }
    })
}

/// Which releases a verdict covers: each series with its release numbers.
fn coverage(releases: &[Release]) -> String {
    let mut by: std::collections::BTreeMap<&str, Vec<u32>> = Default::default();
    for r in releases {
        by.entry(r.study.as_str()).or_default().push(r.sequence);
    }
    let parts: Vec<String> = by
        .iter()
        .map(|(s, q)| {
            let q: Vec<String> = q.iter().map(u32::to_string).collect();
            format!("`{s}` release(s) {}", q.join(", "))
        })
        .collect();
    format!("{} release(s) together: {}", releases.len(), parts.join("; "))
}
