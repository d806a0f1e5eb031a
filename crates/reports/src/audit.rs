//! An audit run over published files: the releases it is given (the
//! store's release log, report directories, release JSON files and CSV
//! tables) gathered into one series set, capped in size, audited with
//! [`disclosure::audit`], and the text that tells the verdict.

use crate::parse::{read_release, read_table_csv, ReleaseFileError, TableCsvError};
use crate::publish::{RELEASE_TABLE, SERVICE_TABLE};
use disclosure::{AuditReport, Policy, Release, RELEASE_FORMAT};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The most published cells one audit takes, over all its releases: the
/// audit holds about 4 KB per cell (its parts and linear programs), so the
/// cap keeps it under about 1 GB; a larger input is refused, not run out
/// of memory.
pub const MAX_AUDIT_CELLS: usize = 200_000;

/// What an audit is given to read. A report directory holds `tables.json`
/// (written by `trialink report`); several (e.g. successive weekly
/// reports) are audited together, differences between cumulative releases
/// included. A CSV table has the row labels in its first column, then one
/// column per category; a last row labelled `Total` and a last column
/// headed `Total` are sums; suppressed cells are `*`.
pub struct AuditRun<'a> {
    /// The store whose whole release log is audited, with its path (for
    /// errors).
    pub store: Option<(&'a store::Store, &'a Path)>,
    /// Report directories, each holding `tables.json`.
    pub reports: &'a [PathBuf],
    /// Release JSON files (`.json`) or CSV tables.
    pub tables: &'a [PathBuf],
    /// CSV tables: columns holding quotas, not counts of people.
    pub exempt_columns: &'a [String],
    /// The policy checked, and how CSV tables were published.
    pub policy: &'a Policy,
    /// Settle safe cells by feasible points ([`disclosure::audit_fast`]).
    pub fast: bool,
}

/// Why an audit could not run. Messages name files and entries, never a
/// published value.
#[derive(Debug, thiserror::Error)]
pub enum AuditRunError {
    /// The store's release log could not be read.
    #[error("reading the release log: {0}")]
    Store(store::StoreError),
    /// An entry of the store's release log is not a release.
    #[error("{}: release log entry {entry} is not a readable release", path.display())]
    ReleaseLog {
        /// The store.
        path: PathBuf,
        /// 1-based entry number.
        entry: usize,
    },
    /// A report directory's `tables.json` could not be read.
    #[error(transparent)]
    Report(ReleaseFileError),
    /// A release JSON file could not be read.
    #[error(transparent)]
    Release(ReleaseFileError),
    /// A CSV table could not be read.
    #[error(transparent)]
    Table(TableCsvError),
    /// More cells than one audit takes ([`MAX_AUDIT_CELLS`]).
    #[error("the input holds {cells} published cells; one audit takes at most {MAX_AUDIT_CELLS}")]
    TooLarge {
        /// Cells in the input.
        cells: usize,
    },
    /// The audit itself failed.
    #[error("auditing: {0}")]
    Audit(disclosure::AuditError),
}

impl AuditRunError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            AuditRunError::Report(_) => Some("point --report at a directory written by `trialink report`"),
            AuditRunError::Release(ReleaseFileError::Json { .. }) => {
                Some("expected a release written by `trialink report` (tables.json)")
            }
            AuditRunError::Table(e) => e.hint(),
            AuditRunError::TooLarge { .. } => Some(
                "audit the tables or releases in smaller groups (each table's rows and columns are audited together)",
            ),
            _ => None,
        }
    }
}

impl AuditRun<'_> {
    /// Every release given, in order: the store's log, the report
    /// directories, then the files (a CSV table becomes a one-table
    /// release of its own series, `csv:<path>`, under the policy).
    pub fn releases(&self) -> Result<Vec<Release>, AuditRunError> {
        let mut releases: Vec<Release> = Vec::new();
        if let Some((st, db)) = self.store {
            let log = st
                .all_releases(&[RELEASE_TABLE, SERVICE_TABLE])
                .map_err(AuditRunError::Store)?;
            for (k, (_, _, _, content)) in log.into_iter().enumerate() {
                releases.push(
                    serde_json::from_str(&content).map_err(|_| AuditRunError::ReleaseLog {
                        path: db.to_path_buf(),
                        entry: k + 1,
                    })?,
                );
            }
        }
        for dir in self.reports {
            releases.push(read_release(&dir.join("tables.json")).map_err(AuditRunError::Report)?);
        }
        for (k, file) in self.tables.iter().enumerate() {
            if file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
                releases.push(read_release(file).map_err(AuditRunError::Release)?);
            } else {
                let t = read_table_csv(file, self.exempt_columns).map_err(AuditRunError::Table)?;
                releases.push(Release {
                    format: RELEASE_FORMAT.into(),
                    study: format!("csv:{}", file.display()),
                    sequence: k as u32 + 1,
                    policy: self.policy.clone(),
                    tables: vec![t],
                });
            }
        }
        Ok(releases)
    }

    /// Gather the releases, refuse more than [`MAX_AUDIT_CELLS`] cells and
    /// audit them together.
    pub fn run(&self) -> Result<(Vec<Release>, AuditReport), AuditRunError> {
        let releases = self.releases()?;
        let cells: usize = releases
            .iter()
            .flat_map(|r| &r.tables)
            .flat_map(|t| &t.cells)
            .map(Vec::len)
            .sum();
        if cells > MAX_AUDIT_CELLS {
            return Err(AuditRunError::TooLarge { cells });
        }
        let report = if self.fast {
            disclosure::audit_fast(&releases, self.policy)
        } else {
            disclosure::audit(&releases, self.policy)
        }
        .map_err(AuditRunError::Audit)?;
        Ok((releases, report))
    }
}

/// The audit as text: the unsafe findings (every finding when `verbose`),
/// a summary line and which releases the verdict covers.
pub fn text(report: &AuditReport, releases: &[Release], verbose: bool) -> Vec<String> {
    let mut lines: Vec<String> = report
        .findings
        .iter()
        .filter(|f| verbose || !f.safe)
        .map(|f| format!("{}{f}", if f.safe { "ok      " } else { "UNSAFE  " }))
        .collect();
    lines.push(format!(
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
    ));
    lines.push(format!("the verdict covers {}", coverage(releases)));
    lines
}

/// Which releases a verdict covers: each series with its release numbers.
fn coverage(releases: &[Release]) -> String {
    let mut by: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
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
