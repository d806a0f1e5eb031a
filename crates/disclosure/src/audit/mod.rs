//! The audit: what can a reader of the published releases infer?
//!
//! Everything a reader knows is written as a linear program over the true
//! counts, one variable per cell per release (plus, under a sum-of-rounded
//! totals rule, one per rounded value):
//!
//! * a published count `v` bounds its cell to the policy's rounding interval
//!   (`25` under round-to-5 means 23..=27), less the suppression range;
//! * a `*` is at least 1 (0 when the policy suppresses zeros) and unbounded
//!   above (a reader cannot tell primary from secondary suppression);
//! * totals equal the sums of their parts (for sum-of-rounded totals, the
//!   published total equals the sum of the parts' rounded values, each
//!   within the rounding interval of its true count);
//! * nested columns (enrolled ≤ invited) and linked tables' shared cells;
//! * earlier releases of the same study: a cumulative table's count at an
//!   earlier release is at most the same cell's count later.
//!
//! For each suppressed cell the minimum and maximum of its count over that
//! polytope give its feasible interval; for each cell of a cumulative table
//! and each pair of releases, so does the difference between them (the
//! people counted in between: a small, pinned-down difference is the
//! differencing attack). A finding is unsafe when its interval starts inside
//! the policy's suppression range and is narrower than the policy's
//! `protect.min_width`. The linear relaxation contains every integer
//! solution, so its intervals contain the integer-feasible ones (bounds are
//! rounded inwards to integers only after solving).
//!
//! How each interval is settled, cheapest first (module by module):
//!
//! * `model` writes the program; the parts of it that share no
//!   variable are solved apart (`lp`);
//! * `bounds`: constraint propagation gives an outer box of every
//!   part — a difference (or, in the fast scopes, a suppressed cell) whose
//!   lower end over the box is above the suppression range is safe;
//! * feasible points (carried from the series' previous release, built
//!   release by release, or found while solving) prove an interval wide or
//!   starting below the range — they lie inside it; more are found by
//!   pushing the findings still open down and up together, group by group,
//!   halving the groups whose points settle too few (`run::refine`);
//! * `window` (with microlp only: Clp settles these findings over the
//!   whole part faster): a few consecutive releases solved with the rest of
//!   the part fixed at a feasible point find more such points, and their
//!   relaxation (the window alone, within the outer box) proves intervals
//!   large, or exact when its ends are reached by feasible points;
//!   a window whose own points fall short tries its twin running to
//!   the part's newest release (a count pushed up may need every later
//!   release to follow it);
//! * what none of these settles is solved over the whole part
//!   (`findings`), only the ends the window's relaxation has not proven
//!   exact; a warm start that runs into solver trouble is retried from
//!   the program solved to another basis before solving from scratch;
//!   the exact audit ([`audit()`]) solves every
//!   finding that way.
//!
//! The solver is `microlp`, or COIN-OR Clp with the `clp` feature
//! (`clp`: each optimum re-solved from the last one's basis, points
//! carried from release to release extended by one model of the new
//! release). Either way only points checked against every constraint are
//! used.

// Grid code indexes several parallel grids by (row, column).
#![allow(clippy::needless_range_loop)]

mod bounds;
#[cfg(feature = "clp")]
#[allow(unsafe_code)]
mod clp;
mod findings;
mod lp;
mod model;
mod run;
mod window;

use crate::policy::Policy;
use crate::table::{Release, TableError};
pub(crate) use run::audit_scoped;
use serde::Serialize;
use std::collections::BTreeMap;

/// A feasible interval of integer counts; `hi = None` means unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Interval {
    /// Smallest feasible value.
    pub lo: u64,
    /// Largest feasible value, if bounded.
    pub hi: Option<u64>,
}

impl Interval {
    /// `hi - lo`, or `None` when unbounded.
    pub fn width(&self) -> Option<u64> {
        self.hi.map(|h| h.saturating_sub(self.lo))
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.hi {
            Some(h) => write!(f, "[{}, {}]", self.lo, h),
            None => write!(f, "[{}, ∞)", self.lo),
        }
    }
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum FindingKind {
    /// A suppressed cell of release `sequence`.
    Suppressed,
    /// The difference between this cell at release `sequence` and at the
    /// earlier release `earlier` (cumulative tables).
    Difference {
        /// The earlier release's sequence number.
        earlier: u32,
    },
    /// A published rounded count of release `sequence` that a reader can
    /// narrow to fewer than the policy's `min_rounded_values` values.
    Rounded,
}

/// One checked quantity and its feasible interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Study of the release.
    pub study: String,
    /// Release sequence number.
    pub sequence: u32,
    /// Table id.
    pub table: String,
    /// Row label.
    pub row: String,
    /// Column label.
    pub column: String,
    /// Index of the release in the audited list.
    #[serde(skip)]
    pub release_index: usize,
    /// Index of the table in its release.
    #[serde(skip)]
    pub table_index: usize,
    /// Grid position `(row, column)`.
    #[serde(skip)]
    pub position: (usize, usize),
    /// Suppressed cell or difference.
    #[serde(flatten)]
    pub kind: FindingKind,
    /// What a reader can infer.
    pub interval: Interval,
    /// False when the interval is too narrow.
    pub safe: bool,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            FindingKind::Suppressed => "suppressed cell".to_string(),
            FindingKind::Difference { earlier } => format!("difference from release {earlier} of"),
            FindingKind::Rounded => "rounded cell".to_string(),
        };
        write!(
            f,
            "{} release {} table `{}`: {} ({}, {}) is in {}{}",
            self.study,
            self.sequence,
            self.table,
            what,
            self.row,
            self.column,
            self.interval,
            if self.safe { "" } else { " — too narrow" }
        )
    }
}

/// The result of an audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Policy whose protection range was checked.
    pub policy: String,
    /// Counts a reader must not be able to pin down.
    pub sensitive_range: (u64, u64),
    /// Narrowest acceptable interval width.
    pub min_width: u64,
    /// Releases audited.
    pub releases: usize,
    /// Suppressed cells checked.
    pub suppressed_cells: usize,
    /// Differences between releases checked.
    pub differences: usize,
    /// Rounded counts checked.
    pub rounded_cells: usize,
    /// Fewest feasible values a rounded count must keep.
    pub min_rounded_values: u64,
    /// Independent parts of the reader's linear program (connected
    /// components of its constraint graph) solved.
    pub components: usize,
    /// Linear programs solved.
    pub linear_programs: usize,
    /// Every suppressed cell, and every difference that is not safe.
    pub findings: Vec<Finding>,
}

impl AuditReport {
    /// A report with nothing checked yet.
    fn empty(policy: &Policy, releases: usize) -> AuditReport {
        AuditReport {
            policy: policy.name.clone(),
            sensitive_range: policy.sensitive_range(),
            min_width: policy.min_width(),
            releases,
            suppressed_cells: 0,
            differences: 0,
            rounded_cells: 0,
            min_rounded_values: policy.min_rounded_values(),
            components: 0,
            linear_programs: 0,
            findings: Vec::new(),
        }
    }

    /// True when no finding is unsafe.
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.safe)
    }

    /// The unsafe findings.
    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| !f.safe)
    }
}

/// Why an audit could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A release is malformed.
    #[error(transparent)]
    Table(#[from] TableError),
    /// No counts satisfy the published figures under their policy: the
    /// release was not produced under the stated policy, or was edited.
    #[error("the published figures are inconsistent with each other under the stated policies (release {sequence} of `{study}` or an earlier one): check the policy and that no cell was edited")]
    Inconsistent {
        /// Study.
        study: String,
        /// Release sequence.
        sequence: u32,
    },
    /// A cell quotes a release that is not among those audited.
    #[error("release {sequence} of `{study}` quotes release {quoted_sequence} of `{quoted_study}`, which is not among the releases audited (or lacks the quoted table or cells): audit them together")]
    Quote {
        /// Study of the quoting release.
        study: String,
        /// Its sequence.
        sequence: u32,
        /// Quoted study.
        quoted_study: String,
        /// Quoted sequence.
        quoted_sequence: u32,
    },
    /// The LP solver failed.
    #[error("linear-program solver failed: {0}")]
    Solver(String),
}

/// True when an interval is acceptable under `policy`.
pub fn is_safe(interval: Interval, policy: &Policy) -> bool {
    let (smin, smax) = policy.sensitive_range();
    if interval.lo < smin || interval.lo > smax {
        return true;
    }
    match interval.width() {
        None => true,
        Some(w) => w >= policy.min_width(),
    }
}

/// Which findings to compute, and how.
pub(crate) struct Scope {
    /// Only the independent parts of the program (connected components of
    /// its constraint graph) that hold a cell of this release (None: all).
    /// Nothing in a new release can change an interval in a part it does
    /// not touch.
    pub touching: Option<usize>,
    /// Settle findings that feasible points prove safe without solving for
    /// their exact interval (the interval reported is then the points'
    /// range, inside the feasible interval). Unsafe findings are always
    /// solved exactly.
    pub certify: bool,
    /// Re-solve from scratch every interval the warm-started solver finds
    /// unsafe or doubtful (see [`needs_confirmation`]). Without it a
    /// warm-started optimum (checked feasible) is taken as it is: it can
    /// only make an interval narrower, so protection suppresses more, never
    /// less.
    pub confirm: Confirm,
    /// Only these findings `(study, sequence, table index, cell, kind)`
    /// (None: all). Each finding's verdict is settled on its own, so the
    /// verdict of one does not depend on which others are checked.
    pub only: Option<std::collections::BTreeSet<OnlyKey>>,
    /// Only the findings of the release `touching` names: its cells and
    /// its differences from earlier releases (protection's first round).
    pub current_only: bool,
}

/// A finding named across audits of different lists of releases.
pub(crate) type OnlyKey = (String, u32, usize, (usize, usize), FindingKind);

/// Which intervals the exact solver confirms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confirm {
    /// Unsafe and doubtful ones (the audit's default).
    Doubtful,
    /// Only the unsafe ones, after the fact (a fast audit's failures).
    Unsafe,
    /// None (protection's repair loop: a narrower interval only adds
    /// suppression).
    Never,
}

impl Scope {
    /// Every finding, every interval exact.
    pub(crate) const EXACT: Scope = Scope {
        touching: None,
        certify: false,
        confirm: Confirm::Doubtful,
        only: None,
        current_only: false,
    };
    /// Every finding; safe ones may be settled by feasible points.
    pub(crate) const FAST: Scope = Scope {
        touching: None,
        certify: true,
        confirm: Confirm::Unsafe,
        only: None,
        current_only: false,
    };
    /// Protection's rounds: points, a cache, no confirmation, only the
    /// parts the new release touches.
    pub(crate) fn protect(release: usize) -> Scope {
        Scope {
            touching: Some(release),
            certify: true,
            confirm: Confirm::Never,
            only: None,
            current_only: false,
        }
    }
}

/// A finding's identity across audits of the same releases:
/// `(release index, table index, cell, earlier sequence for a difference
/// (`u32::MAX` for a rounded cell), reversed difference)`.
type FindingKey = (usize, usize, (usize, usize), Option<u32>, bool);

/// Feasible points of a series' parts of the program, by the first cell
/// `(table, (row, column))` of its latest release in each part.
pub(crate) type Carried = BTreeMap<(usize, (usize, usize)), Vec<Vec<f64>>>;

/// What one audit round hands to the next when the releases stay the same
/// but more cells are suppressed (protection's repair loop). Suppressing a
/// cell only removes what a reader knows, so feasible points stay feasible
/// and an interval proven wide enough stays so.
#[derive(Debug, Default)]
pub(crate) struct AuditCache {
    points: BTreeMap<usize, Vec<Vec<f64>>>,
    safe: BTreeMap<FindingKey, Interval>,
    /// Feasible points of the same series' part of the program at its
    /// previous release, keyed by the first cell of the current release in
    /// that part `(table, (row, column))`: extended over the new release's
    /// variables and checked against every constraint before use (see
    /// [`Lp::extend`]). Used in the first round only.
    pub(crate) carry_in: Carried,
    /// The points to carry to the next release, same keys.
    pub(crate) carry_out: Carried,
    /// Findings taken from the cache in the last audit.
    pub(crate) reused: usize,
    /// Findings settled by feasible points in the last audit.
    pub(crate) certified: usize,
}

/// Audit a list of releases (of one or more series: studies and the
/// service evaluation) against `policy`'s protection range. Each release's
/// own policy says how its figures were published (its rounding); `policy`
/// says how wide intervals must be.
pub fn audit(releases: &[Release], policy: &Policy) -> Result<AuditReport, AuditError> {
    audit_scoped(releases, policy, &Scope::EXACT, None)
}

/// [`audit()`], settling findings that feasible points of the reader's
/// linear program already prove safe without solving for their exact
/// interval: the pass/fail verdict is the same, every unsafe interval is
/// exact, and a safe suppressed cell's interval may be reported narrower
/// than its feasible interval (it is a range of values a reader cannot rule
/// out). Much faster on long series of releases.
pub fn audit_fast(releases: &[Release], policy: &Policy) -> Result<AuditReport, AuditError> {
    audit_scoped(releases, policy, &Scope::FAST, None)
}
