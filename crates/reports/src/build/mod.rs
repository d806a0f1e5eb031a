//! From report input to protected tables (one release), and the statistics
//! shown beside them.
//!
//! Each report's tables are built in its own module (`selection`,
//! `uptake`, `swat` with returns, `recruitment`, `service`), linked through
//! [`Links`]: cells that count the same people in two tables are declared
//! shared, so that disclosure control sees every relation a reader can.

mod recruitment;
mod selection;
mod service;
mod swat;
mod uptake;

use crate::data::ReportInput;
use crate::stats::{self, Estimate};
use disclosure::{
    protect_release, Policy, Protected, ProtectedTable, Published, Release, SharedCell, Table, TableSpec,
};
use std::collections::BTreeMap;

/// Which report a table belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReportKind {
    /// Exclusion funnel and requested vs actual by stratum.
    Selection,
    /// Invited, delivered, responded, enrolled by group.
    Uptake,
    /// Study within a trial: arms compared.
    Swat,
    /// Returned to sender by reason.
    Returns,
    /// Cross-study management information for the service.
    Service,
    /// Invited, reminded, responded and enrolled by week against target.
    Recruitment,
}

impl ReportKind {
    /// File stem, e.g. `uptake`.
    pub fn stem(self) -> &'static str {
        match self {
            ReportKind::Selection => "selection",
            ReportKind::Uptake => "uptake",
            ReportKind::Swat => "swat",
            ReportKind::Returns => "returns",
            ReportKind::Service => "service",
            ReportKind::Recruitment => "recruitment",
        }
    }

    /// Title.
    pub fn title(self) -> &'static str {
        match self {
            ReportKind::Selection => "Selection report",
            ReportKind::Uptake => "Uptake report",
            ReportKind::Swat => "SWAT report",
            ReportKind::Returns => "Returns report",
            ReportKind::Service => "Service evaluation",
            ReportKind::Recruitment => "Recruitment over time",
        }
    }

    /// The kind of a table id.
    pub fn of_table(id: &str) -> ReportKind {
        if id.starts_with("selection") {
            ReportKind::Selection
        } else if id.starts_with("uptake") {
            ReportKind::Uptake
        } else if id.starts_with("swat") {
            ReportKind::Swat
        } else if id.starts_with("service") {
            ReportKind::Service
        } else if id.starts_with("recruitment") {
            ReportKind::Recruitment
        } else {
            ReportKind::Returns
        }
    }
}

/// Interval method for rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntervalMethod {
    /// Wilson score interval (default).
    #[default]
    Wilson,
    /// Clopper–Pearson exact interval.
    ClopperPearson,
}

/// Options for building a report.
#[derive(Debug, Clone)]
pub struct Options {
    /// Confidence level of intervals.
    pub confidence: f64,
    /// Interval method for rates.
    pub interval: IntervalMethod,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            confidence: 0.95,
            interval: IntervalMethod::Wilson,
        }
    }
}

/// Why a report could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The input is inconsistent (e.g. a funnel that does not add up).
    #[error("report input: {field}: {expected}")]
    Input {
        /// JSON path of the field, e.g. `selection.funnel`.
        field: String,
        /// What was expected.
        expected: String,
    },
    /// Protection failed or was refused.
    #[error(transparent)]
    Protect(#[from] disclosure::ProtectError),
    /// Writing failed.
    #[error("writing {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// An input file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The store could not be read.
    #[error("{what}: {source}")]
    Store {
        /// What was being read.
        what: &'static str,
        /// The store's error.
        source: store::StoreError,
    },
    /// The study was purged: its person-level data is gone.
    #[error("study {study} was purged on {purged}: its person-level data is destroyed, and its {releases_kept} published release(s) stand as published")]
    Purged {
        /// Study id.
        study: String,
        /// Purge date.
        purged: String,
        /// Releases kept.
        releases_kept: u64,
    },
    /// The store has no such study.
    #[error("no such study in the store")]
    NoSuchStudy,
    /// The store holds no invitation batch (service evaluation).
    #[error("the store holds no invitation batch")]
    NoBatches,
    /// A batch's selection summary cannot be read by this version.
    #[error("the store holds a batch summary this version cannot read")]
    BatchSummary,
    /// An entry of the store's release log is not a release.
    #[error("release log entry {entry} is not a readable release")]
    ReleaseLog {
        /// 1-based entry number.
        entry: usize,
    },
    /// The output directory already holds a report and replacing it was
    /// not asked for.
    #[error("{out} already holds a report")]
    Exists {
        /// The output directory.
        out: String,
    },
    /// The service evaluation was asked for without a store.
    #[error("--service needs --store")]
    ServiceNeedsStore,
    /// A study's report from the store was asked for without a study id.
    #[error("--study is required with --store")]
    StudyRequired,
    /// The study id given differs from the input file's.
    #[error("--study differs from the input file's `study`")]
    StudyDiffers,
    /// A report-input JSON file is malformed.
    #[error("{path}:{line}:{column}: {what}")]
    InputFile {
        /// The file.
        path: String,
        /// Line.
        line: usize,
        /// Column.
        column: usize,
        /// What is wrong (never a value from the file).
        what: String,
    },
}

impl ReportError {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
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
            ReportError::Exists { .. } => "choose a new --out directory (one per release) or pass --force",
            ReportError::ServiceNeedsStore => "pass --store DB",
            ReportError::StudyRequired => "pass --study ID",
            _ => "check the report input",
        }
    }
}

/// A built report set: the protected release and its context.
#[derive(Debug, Clone)]
pub struct Report {
    /// Study.
    pub study: String,
    /// As-of date.
    pub as_of: String,
    /// Protected tables (one release).
    pub protected: Protected,
    /// Options used.
    pub options: Options,
    /// The SWAT control arm, if any.
    pub control: Option<String>,
    /// Targets drawn beside recruitment over time, `(what, count)`: not
    /// counts of people (invitations requested, enrolments aimed at).
    pub targets: Vec<(String, u64)>,
    /// The response-adjusted allocation shown in the selection report.
    pub allocation: Option<crate::data::AllocationSummary>,
}

impl Report {
    /// The release to publish and record.
    pub fn release(&self) -> Release {
        self.protected.release()
    }

    /// The report kinds present, in order.
    pub fn kinds(&self) -> Vec<ReportKind> {
        let mut k: Vec<ReportKind> = self
            .protected
            .tables
            .iter()
            .map(|t| ReportKind::of_table(&t.spec.id))
            .collect();
        k.sort();
        k.dedup();
        k
    }

    /// Tables of one report.
    pub fn tables(&self, kind: ReportKind) -> impl Iterator<Item = &ProtectedTable> {
        self.protected
            .tables
            .iter()
            .filter(move |t| ReportKind::of_table(&t.spec.id) == kind)
    }

    /// Suppressed cells in one report.
    pub fn suppressed_in(&self, kind: ReportKind) -> usize {
        self.tables(kind).map(|t| t.to_published().suppressed()).sum()
    }

    /// A rate from published counts with its interval; `None` when either
    /// count is suppressed (or the denominator is zero).
    pub fn rate(&self, numerator: Published, denominator: Published) -> Option<Estimate> {
        let (Published::Count(x), Published::Count(n)) = (numerator, denominator) else {
            return None;
        };
        if x > n {
            return None;
        }
        match self.options.interval {
            IntervalMethod::Wilson => stats::wilson(x, n, self.options.confidence),
            IntervalMethod::ClopperPearson => stats::clopper_pearson(x, n, self.options.confidence),
        }
    }

    /// SWAT comparisons of each arm with the control, from published cells.
    pub fn swat_comparisons(&self) -> Option<SwatSummary> {
        let t = self.protected.table("swat_outcome")?;
        let control = self.control.as_deref()?;
        let ci = t.spec.rows.iter().position(|r| r == control)?;
        let cells = |i: usize| -> Option<(u64, u64)> {
            let e = t.published(i, 0).count()?;
            let ne = t.published(i, 1).count()?;
            Some((e, ne))
        };
        let mut comparisons = Vec::new();
        for (i, arm) in t.spec.rows.iter().enumerate() {
            if i == ci {
                continue;
            }
            let c = match (cells(i), cells(ci)) {
                (Some((a, b)), Some((c, d))) => {
                    let conf = self.options.confidence;
                    Some(ComparisonStats {
                        risk_difference: stats::risk_difference(a, a + b, c, c + d, conf),
                        odds_ratio: stats::odds_ratio(a, b, c, d, conf),
                        fisher_p: stats::fisher_exact(a, b, c, d),
                        chi_square: stats::chi_square(&[vec![a, b], vec![c, d]]),
                    })
                }
                _ => None,
            };
            comparisons.push(Comparison {
                arm: arm.clone(),
                stats: c,
                holm_p: None,
            });
        }
        let ps: Vec<(usize, f64)> = comparisons
            .iter()
            .enumerate()
            .filter_map(|(k, c)| Some((k, c.stats.as_ref()?.fisher_p?)))
            .collect();
        let adj = stats::holm(&ps.iter().map(|p| p.1).collect::<Vec<_>>());
        for ((k, _), a) in ps.iter().zip(adj) {
            comparisons[*k].holm_p = Some(a);
        }
        let all: Option<Vec<Vec<u64>>> = (0..t.spec.rows.len())
            .map(|i| cells(i).map(|(a, b)| vec![a, b]))
            .collect();
        let overall = all.and_then(|m| stats::chi_square(&m));
        Some(SwatSummary {
            control: control.to_string(),
            comparisons,
            overall,
        })
    }
}

/// Statistics of one arm against the control.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonStats {
    /// Enrolment rate difference (arm − control), Newcombe interval.
    pub risk_difference: Option<Estimate>,
    /// Odds ratio of enrolment (arm vs control), logit interval.
    pub odds_ratio: Option<Estimate>,
    /// Fisher's exact test, two-sided.
    pub fisher_p: Option<f64>,
    /// Chi-square test of the 2×2 table.
    pub chi_square: Option<stats::ChiSquare>,
}

/// One arm against the control; `stats` is `None` when a cell it rests on
/// is suppressed.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Arm.
    pub arm: String,
    /// Statistics, when publishable.
    pub stats: Option<ComparisonStats>,
    /// Holm-adjusted Fisher p-value across the arms compared.
    pub holm_p: Option<f64>,
}

/// All SWAT statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct SwatSummary {
    /// Control arm.
    pub control: String,
    /// One per other arm.
    pub comparisons: Vec<Comparison>,
    /// Chi-square test of independence over all arms (when every cell is published).
    pub overall: Option<stats::ChiSquare>,
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

fn spec(id: &str, title: &str, row_header: &str, rows: Vec<String>, columns: &[&str]) -> TableSpec {
    TableSpec {
        id: id.into(),
        title: title.into(),
        row_header: row_header.into(),
        rows,
        columns: columns.iter().map(|c| c.to_string()).collect(),
        total_row: true,
        total_column: false,
        column_order: vec![],
        exempt_columns: vec![],
        cumulative: false,
        may_fall: vec![],
        shared: vec![],
        row_sums: vec![],
        weighted_sums: vec![],
        quotes: vec![],
        running_order: vec![],
        running_cumulative: false,
    }
}

fn share(spec: &mut TableSpec, row: &str, column: &str, key: &str) {
    spec.shared.push(SharedCell {
        row: row.into(),
        column: column.into(),
        key: key.into(),
    });
}

fn bad(field: impl Into<String>, expected: impl Into<String>) -> ReportError {
    ReportError::Input {
        field: field.into(),
        expected: expected.into(),
    }
}

/// What the tables built so far tell later ones, so that cells counting
/// the same people are declared shared.
#[derive(Debug, Default)]
pub(crate) struct Links {
    /// The uptake tables' grand total of invitations.
    pub uptake_invited: Option<u64>,
    /// Invitations per group of the uptake-by-stratum table.
    pub uptake_strata: BTreeMap<String, u64>,
    /// The uptake tables' grand totals `[invited, delivered, responded, enrolled]`.
    pub uptake_totals: Option<[u64; 4]>,
    /// Per arm `(delivered, enrolled)`.
    pub arm_counts: BTreeMap<String, (u64, u64)>,
}

/// Build the tables of a report input (true counts, not yet protected).
pub fn tables(input: &ReportInput) -> Result<(Vec<Table>, Option<String>), ReportError> {
    let mut out = Vec::new();
    // The uptake tables' grand totals and the stratum breakdown's rows: the
    // selection tables count the same invitations.
    let mut links = Links {
        uptake_invited: input
            .uptake
            .as_ref()
            .and_then(|u| u.breakdowns.first())
            .map(|b| b.rows.iter().map(|r| r.invited).sum()),
        uptake_strata: input
            .uptake
            .iter()
            .flat_map(|u| u.breakdowns.iter())
            .filter(|b| b.variable == "stratum")
            .flat_map(|b| b.rows.iter().map(|r| (r.group.clone(), r.invited)))
            .collect(),
        ..Links::default()
    };
    if let Some(sel) = &input.selection {
        selection::tables(sel, &links, &mut out)?;
    }
    if let Some(up) = &input.uptake {
        uptake::tables(up, &mut links, &mut out)?;
    }
    let mut control = None;
    if let Some(sw) = &input.swat {
        swat::swat_table(sw, &links, &mut out)?;
        control = Some(sw.control.clone());
    }
    if let Some(rt) = &input.returns {
        swat::returns_table(rt, &links, &mut out)?;
    }
    if let Some(rc) = &input.recruitment {
        recruitment::table(rc, &links, &mut out)?;
    }
    if let Some(sv) = &input.service {
        service::service_tables(sv, &mut out)?;
    }
    Ok((out, control))
}

/// Build and protect a report input as the next release of its study.
pub fn build(
    input: &ReportInput,
    policy: &Policy,
    earlier: &[Release],
    options: Options,
) -> Result<Report, ReportError> {
    if input.study.trim().is_empty() {
        return Err(bad("study", "a non-empty study id"));
    }
    let (mut tables, control) = tables(input)?;
    if input.service.is_some() {
        service::quote_studies(&mut tables, earlier);
    }
    let protected = protect_release(&input.study, &tables, policy, earlier)?;
    Ok(Report {
        study: input.study.clone(),
        as_of: input.as_of.clone(),
        protected,
        options,
        control,
        targets: input
            .recruitment
            .as_ref()
            .map(recruitment::targets)
            .unwrap_or_default(),
        allocation: input.selection.as_ref().and_then(|s| s.allocation.clone()),
    })
}

/// Wrap a store error with what was being read.
pub(crate) fn store_error(what: &'static str) -> impl Fn(store::StoreError) -> ReportError {
    move |source| ReportError::Store { what, source }
}
