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

// Grid code indexes several parallel grids by (row, column).
#![allow(clippy::needless_range_loop)]

use crate::policy::{Policy, TotalsRule};
use crate::table::{Published, Release, TableError};
use microlp::{ComparisonOp, OptimizationDirection, Problem};
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

/// `sum(coefficient × variable)`.
type Terms = Vec<(usize, f64)>;

/// `sum(coefficient × variable) op rhs`.
type Constraint = (Vec<(usize, f64)>, ComparisonOp, f64);

/// Does an interval from the incremental solver need solving from scratch?
/// Its minimum can only be too high and its maximum too low (see
/// [`Prepared`]): a narrow interval, or one whose lower bound lies above
/// the suppression range, may be an artefact.
fn needs_confirmation(interval: Interval, policy: &Policy) -> bool {
    let wide = match interval.width() {
        None => true,
        Some(w) => w >= policy.min_width(),
    };
    !is_safe(interval, policy) || (interval.lo > policy.sensitive_range().1 && !wide)
}

/// A linear program under construction: variable bounds and constraints.
#[derive(Debug, Default, Clone)]
pub(crate) struct Lp {
    bounds: Vec<(f64, f64)>,
    constraints: Vec<Constraint>,
}

impl Lp {
    fn var(&mut self, lo: f64, hi: f64) -> usize {
        self.bounds.push((lo, hi));
        self.bounds.len() - 1
    }

    fn constrain(&mut self, terms: Vec<(usize, f64)>, op: ComparisonOp, rhs: f64) {
        self.constraints.push((terms, op, rhs));
    }

    /// Optimise a linear objective from scratch; `Ok(None)` when unbounded.
    fn optimise(
        &self,
        objective: &[(usize, f64)],
        dir: OptimizationDirection,
    ) -> Result<Option<(f64, Vec<f64>)>, microlp::Error> {
        let mut coeff = vec![0.0; self.bounds.len()];
        for &(v, c) in objective {
            coeff[v] += c;
        }
        let mut p = Problem::new(dir);
        let vars: Vec<_> = self
            .bounds
            .iter()
            .zip(&coeff)
            .map(|(&b, &c)| p.add_var(c, b))
            .collect();
        for (terms, op, rhs) in &self.constraints {
            let t: Vec<_> = terms.iter().map(|&(v, c)| (vars[v], c)).collect();
            p.add_constraint(t.as_slice(), *op, *rhs);
        }
        match p.solve() {
            Ok(s) => Ok(Some((
                s.objective(),
                vars.iter().map(|&v| *s.var_value(v)).collect(),
            ))),
            Err(microlp::Error::Unbounded) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Extend a point of an earlier, smaller program over the first
    /// `p.len()` variables to all of them: those variables are fixed at
    /// `p` and the rest chosen by a small LP pushing their sum down
    /// (`sign` 1) or up (`sign` -1). `None` when no extension exists.
    /// The result is only a candidate: callers check it against every
    /// constraint ([`Prepared::adopt`]) before relying on it.
    fn extend(&self, p: &[f64], sign: f64) -> Option<Vec<f64>> {
        let m = p.len();
        let n = self.bounds.len();
        if m >= n {
            return None;
        }
        let mut small = Lp {
            bounds: self.bounds[m..].to_vec(),
            constraints: Vec::new(),
        };
        for (terms, op, rhs) in &self.constraints {
            let fixed: f64 = terms
                .iter()
                .filter(|&&(v, _)| v < m)
                .map(|&(v, c)| c * p[v])
                .sum();
            let free: Vec<(usize, f64)> = terms
                .iter()
                .filter(|&&(v, _)| v >= m)
                .map(|&(v, c)| (v - m, c))
                .collect();
            if free.is_empty() {
                continue;
            }
            small.constraints.push((free, *op, rhs - fixed));
        }
        let objective: Vec<(usize, f64)> = (0..n - m).map(|v| (v, sign)).collect();
        let (_, y) = small
            .optimise(&objective, OptimizationDirection::Minimize)
            .ok()??;
        let mut out = p.to_vec();
        out.extend(y);
        Some(out)
    }

    /// Solve the feasibility problem once; objectives are then optimised
    /// incrementally from its basis (see [`Prepared`]).
    fn prepare(&self) -> Result<Prepared, microlp::Error> {
        let mut p = Problem::new(OptimizationDirection::Minimize);
        let vars: Vec<_> = self.bounds.iter().map(|&b| p.add_var(0.0, b)).collect();
        let z = p.add_var(1.0, (-BIG, BIG));
        for (terms, op, rhs) in &self.constraints {
            let t: Vec<_> = terms.iter().map(|&(v, c)| (vars[v], c)).collect();
            p.add_constraint(t.as_slice(), *op, *rhs);
        }
        let base = p.solve()?;
        let start: Vec<f64> = vars.iter().map(|&v| *base.var_value(v)).collect();
        Ok(Prepared {
            base,
            vars,
            z,
            lp: self.clone(),
            points: std::cell::RefCell::new(vec![start]),
        })
    }
}

/// Most points carried from one release of a series to the next.
const CARRY: usize = 24;
/// Carried points that stand in for the extreme points of a first round.
const CARRY_WARM: usize = 8;

/// Bound of the objective variable; an optimum at it means unbounded.
const BIG: f64 = 1e10;

/// A solved feasibility problem with a free-standing objective variable
/// `z` (minimised). Optimising an expression `e` adds `z = e` (or `z = -e`
/// for a maximum) to a copy of the solved problem — microlp re-solves from
/// the optimal basis instead of from scratch.
pub(crate) struct Prepared {
    lp: Lp,
    base: microlp::Solution,
    vars: Vec<microlp::Variable>,
    z: microlp::Variable,
    /// Feasible points met so far (every optimum found, checked against
    /// every constraint): the values an expression takes at them lie in
    /// its feasible interval, which can prove an interval wide enough
    /// without solving (see [`Prepared::certify`]).
    points: std::cell::RefCell<Vec<Vec<f64>>>,
}

impl Prepared {
    fn min(&self, objective: &[(usize, f64)], sign: f64) -> Result<f64, microlp::Error> {
        // microlp wants a constraint's variables sorted and distinct (it
        // fails with "unsorted indices" otherwise): merge, then `z`, which
        // was added last.
        let mut merged: BTreeMap<usize, f64> = BTreeMap::new();
        for &(v, c) in objective {
            *merged.entry(v).or_default() += -sign * c;
        }
        let mut terms: Vec<(microlp::Variable, f64)> = merged
            .into_iter()
            .filter(|&(_, c)| c != 0.0)
            .map(|(v, c)| (self.vars[v], c))
            .collect();
        terms.push((self.z, 1.0));
        match self
            .base
            .clone()
            .add_constraint(terms.as_slice(), ComparisonOp::Eq, 0.0)
        {
            // Accept the incremental optimum only at a point that satisfies
            // every constraint: then the value is attained, so a minimum can
            // only be overestimated (a narrower interval: conservative).
            // Unsafe findings are re-solved from scratch (`exact_interval`).
            Ok(s) if self.feasible(&s) => {
                self.points
                    .borrow_mut()
                    .push(self.vars.iter().map(|&v| *s.var_value(v)).collect());
                Ok(s.objective())
            }
            Ok(_) => self.scratch(objective, sign),
            // The base problem is feasible and `z = e` always has a
            // solution, so this is numerical trouble in the incremental
            // re-solve: solve from scratch instead.
            Err(microlp::Error::Infeasible) | Err(microlp::Error::InternalError(_)) => {
                self.scratch(objective, sign)
            }
            Err(e) => Err(e),
        }
    }

    /// Minimum of `sign × objective`, solved from scratch.
    fn scratch(&self, objective: &[(usize, f64)], sign: f64) -> Result<f64, microlp::Error> {
        let scaled: Vec<(usize, f64)> = objective.iter().map(|&(v, c)| (v, sign * c)).collect();
        match self.lp.optimise(&scaled, OptimizationDirection::Minimize)? {
            Some((value, point)) => {
                if self.satisfies(&point) {
                    self.points.borrow_mut().push(point);
                }
                Ok(value)
            }
            None => Ok(-BIG),
        }
    }

    /// Add points from an earlier audit of a problem with the same
    /// variables whose feasible set is contained in this one's (the same
    /// releases with fewer cells published); each is checked.
    fn adopt(&self, points: &[Vec<f64>]) {
        let mut mine = self.points.borrow_mut();
        for p in points {
            if p.len() == self.vars.len() && self.satisfies(p) {
                mine.push(p.clone());
            }
        }
    }

    /// The range of an expression over the points met so far.
    fn span(&self, objective: &[(usize, f64)]) -> (f64, f64) {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for p in self.points.borrow().iter() {
            let v: f64 = objective.iter().map(|&(i, c)| c * p[i]).sum();
            lo = lo.min(v);
            hi = hi.max(v);
        }
        (lo, hi)
    }

    /// An interval the points prove safe without solving: its feasible
    /// interval contains every value at a feasible point, so it starts at
    /// or below the points' smallest value and is at least as wide as their
    /// range. `None` when the points prove nothing; the interval returned
    /// is the points' range (inside the feasible one).
    fn certify(&self, objective: &[(usize, f64)], policy: &Policy) -> Option<Interval> {
        let (vmin, vmax) = self.span(objective);
        if !vmin.is_finite() {
            return None;
        }
        let lo = (vmin - 1e-6).ceil().max(0.0) as u64;
        if vmax >= BIG / 2.0 {
            return Some(Interval { lo, hi: None });
        }
        let hi = ((vmax + 1e-6).floor().max(0.0) as u64).max(lo);
        let interval = Interval { lo, hi: Some(hi) };
        let wide = hi - lo >= policy.min_width();
        (lo < policy.sensitive_range().0 || wide).then_some(interval)
    }

    /// Push every variable in `vars` towards its lower (`sign` 1) or upper
    /// (`sign` -1) end at once: one solve that gives a point far from the
    /// others, so that [`Prepared::certify`] settles many findings.
    fn extreme(&self, vars: &[(usize, f64)], sign: f64) -> Result<(), microlp::Error> {
        if !vars.is_empty() {
            self.min(vars, sign)?;
        }
        Ok(())
    }

    /// Does the solution satisfy the bounds and constraints?
    fn feasible(&self, s: &microlp::Solution) -> bool {
        let x: Vec<f64> = self.vars.iter().map(|&v| *s.var_value(v)).collect();
        self.satisfies(&x)
    }

    /// Does a point satisfy the bounds and constraints (relative tolerance
    /// 1e-5: warm-started optima on large problems miss 1e-6 by a few
    /// units; an error of that size moves no bound by a whole person)?
    fn satisfies(&self, x: &[f64]) -> bool {
        let tol = |v: f64| 1e-5 * (1.0 + v.abs());
        for (k, &(lo, hi)) in self.lp.bounds.iter().enumerate() {
            if x[k] < lo - tol(lo) || x[k] > hi + tol(hi) {
                return false;
            }
        }
        self.lp.constraints.iter().all(|(terms, op, rhs)| {
            let v: f64 = terms.iter().map(|&(i, c)| c * x[i]).sum();
            match op {
                ComparisonOp::Eq => (v - rhs).abs() <= tol(*rhs),
                ComparisonOp::Le => v <= rhs + tol(*rhs),
                ComparisonOp::Ge => v >= rhs - tol(*rhs),
            }
        })
    }

    /// The interval solved from scratch (to confirm an unsafe finding).
    fn exact_interval(&self, objective: &[(usize, f64)]) -> Result<Interval, microlp::Error> {
        let lo = self.scratch(objective, 1.0)?;
        let hi = -self.scratch(objective, -1.0)?;
        let lo = (lo - 1e-6).ceil().max(0.0) as u64;
        let hi = if hi >= BIG / 2.0 {
            None
        } else {
            Some(((hi + 1e-6).floor().max(0.0) as u64).max(lo))
        };
        Ok(Interval { lo, hi })
    }

    /// Smallest integer value of the expression.
    fn lower(&self, objective: &[(usize, f64)]) -> Result<u64, microlp::Error> {
        let lo = self.min(objective, 1.0)?;
        Ok((lo - 1e-6).ceil().max(0.0) as u64)
    }

    /// Largest integer value, `None` when unbounded.
    fn upper(&self, objective: &[(usize, f64)], lo: u64) -> Result<Option<u64>, microlp::Error> {
        let hi = -self.min(objective, -1.0)?;
        if hi >= BIG / 2.0 {
            return Ok(None);
        }
        Ok(Some(((hi + 1e-6).floor().max(0.0) as u64).max(lo)))
    }

    /// Integer interval of a linear expression over the polytope.
    fn interval(&self, objective: &[(usize, f64)]) -> Result<Interval, microlp::Error> {
        let lo = self.lower(objective)?;
        let hi = self.upper(objective, lo)?;
        Ok(Interval { lo, hi })
    }
}

/// Variable indices of every cell: `[release][table][row][column]`.
pub(crate) type Layout = Vec<Vec<Vec<Vec<usize>>>>;

/// Build the reader's linear program for a list of releases.
/// The reader's LP, each cell's variable, the monotone links between
/// releases `(earlier, later)`, and the same pairs for counts that may fall
/// (no constraint between them).
/// Cells of a release that, under a sum-of-rounded totals rule, are
/// published as sums of other published cells: the totals of
/// [`crate::table::RowSum`]s (`(table, (row, column))`).
pub(crate) fn sum_rounded_cross_totals(rel: &Release) -> std::collections::BTreeSet<(usize, (usize, usize))> {
    let p = &rel.policy;
    if p.round.totals != TotalsRule::SumOfRounded || p.round.base <= 1 {
        return Default::default();
    }
    rel.cross_equations()
        .unwrap_or_default()
        .iter()
        .map(|e| e.total)
        .collect()
}

pub(crate) struct Built {
    pub lp: Lp,
    pub layout: Layout,
    /// Cells `(release, table, (row, column))` that quote other releases'
    /// cells faithfully: functions of what is already published.
    pub faithful: std::collections::BTreeSet<(usize, usize, (usize, usize))>,
}

/// The reader's relations, written once: every published cell with its
/// rounding bounds, totals, nested columns, linked and shared cells, row
/// and weighted sums, quotes of other releases, and counts that never fall
/// between releases of a series (adjacent releases only: the chain implies
/// every other pair).
pub(crate) fn build_lp(releases: &[Release]) -> Result<Built, AuditError> {
    let mut lp = Lp::default();
    let mut links: Vec<(usize, usize)> = Vec::new();
    let mut layout: Layout = Vec::new();
    let mut falls: Vec<(usize, usize)> = Vec::new();
    let inf = f64::INFINITY;
    for rel in releases {
        let p = &rel.policy;
        let b = p.round.base.max(1);
        let (down, up) = ((b / 2) as f64, (b - 1 - b / 2) as f64);
        let sum_rounded = p.round.totals == TotalsRule::SumOfRounded && b > 1;
        let mut rel_vars = Vec::new();
        let mut rel_rs: Vec<Vec<Vec<Option<usize>>>> = Vec::new();
        let mut shared: BTreeMap<&str, usize> = BTreeMap::new();
        // under sum-of-rounded totals, rows that add up rows of another
        // table are published as the sum of those rows' published values
        let cross_totals = sum_rounded_cross_totals(rel);
        for (ti, t) in rel.tables.iter().enumerate() {
            let s = &t.spec;
            let mut xs = vec![vec![0usize; s.grid_columns()]; s.grid_rows()];
            let mut rs = vec![vec![None; s.grid_columns()]; s.grid_rows()];
            for i in 0..s.grid_rows() {
                for j in 0..s.grid_columns() {
                    let cell = t.cells[i][j];
                    let leaf = s.is_leaf(i, j) && !cross_totals.contains(&(ti, (i, j)));
                    let (lo, hi) = if s.is_exempt(j) {
                        match cell {
                            Published::Count(v) => (v as f64, v as f64),
                            Published::Suppressed => (0.0, inf),
                        }
                    } else {
                        match cell {
                            Published::Suppressed => (p.suppressed_lower_bound() as f64, inf),
                            Published::Count(_) if sum_rounded && !leaf => (0.0, inf),
                            Published::Count(v) => {
                                let (a, z) = p.published_interval(v);
                                (a as f64, z as f64)
                            }
                        }
                    };
                    let x = lp.var(lo, hi);
                    xs[i][j] = x;
                    if sum_rounded && !s.is_exempt(j) {
                        let r = match cell {
                            Published::Count(v) => lp.var(v as f64, v as f64),
                            Published::Suppressed => lp.var(0.0, inf),
                        };
                        rs[i][j] = Some(r);
                        if leaf {
                            // x in [r - down, r + up]
                            lp.constrain(vec![(x, 1.0), (r, -1.0)], ComparisonOp::Ge, -down);
                            lp.constrain(vec![(x, 1.0), (r, -1.0)], ComparisonOp::Le, up);
                        }
                    }
                }
            }
            for eq in s.equations() {
                let mut terms = vec![(xs[eq.total.0][eq.total.1], 1.0)];
                terms.extend(eq.parts.iter().map(|&(i, j)| (xs[i][j], -1.0)));
                lp.constrain(terms, ComparisonOp::Eq, 0.0);
                if sum_rounded {
                    let members: Option<Vec<usize>> = eq.members().map(|(i, j)| rs[i][j]).collect();
                    if let Some(m) = members {
                        let terms = m
                            .iter()
                            .enumerate()
                            .map(|(k, &v)| (v, if k == 0 { 1.0 } else { -1.0 }))
                            .collect();
                        lp.constrain(terms, ComparisonOp::Eq, 0.0);
                    }
                }
            }
            for (a, bcol) in s.order_pairs() {
                for row in &xs {
                    lp.constrain(vec![(row[a], 1.0), (row[bcol], -1.0)], ComparisonOp::Le, 0.0);
                }
            }
            for ((i, j), key) in s.shared_positions() {
                match shared.get(key) {
                    Some(&other) => lp.constrain(vec![(xs[i][j], 1.0), (other, -1.0)], ComparisonOp::Eq, 0.0),
                    None => {
                        shared.insert(key, xs[i][j]);
                    }
                }
            }
            rel_vars.push(xs);
            rel_rs.push(rs);
        }
        // weighted sums bounded by a cell of another table (validated)
        let specs: Vec<&crate::table::TableSpec> = rel.tables.iter().map(|t| &t.spec).collect();
        for w in crate::table::weighted_relations(&specs).unwrap_or_default() {
            let var = |(t, (i, j)): (usize, (usize, usize))| rel_vars[t][i][j];
            let mut terms: Vec<(usize, f64)> = w.terms.iter().map(|&(m, c)| (var(m), c)).collect();
            terms.push((var(w.bound), -1.0));
            let op = if w.at_most {
                ComparisonOp::Le
            } else {
                ComparisonOp::Eq
            };
            lp.constrain(terms, op, 0.0);
        }
        // rows of one table that add up to a row of another (validated)
        for eq in rel.cross_equations().unwrap_or_default() {
            let var = |(t, (i, j)): (usize, (usize, usize))| rel_vars[t][i][j];
            let mut terms = vec![(var(eq.total), 1.0)];
            terms.extend(eq.parts.iter().map(|&m| (var(m), -1.0)));
            lp.constrain(terms, ComparisonOp::Eq, 0.0);
            if sum_rounded {
                let r = |(t, (i, j)): (usize, (usize, usize))| rel_rs[t][i][j];
                let members: Option<Vec<usize>> = eq.members().map(r).collect();
                if let Some(m) = members {
                    let terms = m
                        .iter()
                        .enumerate()
                        .map(|(k, &v)| (v, if k == 0 { 1.0 } else { -1.0 }))
                        .collect();
                    lp.constrain(terms, ComparisonOp::Eq, 0.0);
                }
            }
        }
        layout.push(rel_vars);
    }
    // quotes of other releases' cells: the cell is their sum; a faithful
    // quote carries no bound of its own (it is a function of them)
    let mut faithful = std::collections::BTreeSet::new();
    // (release, table) of the quoting cell, its equation
    let mut quote_eqs: Vec<((usize, usize), Terms)> = Vec::new();
    for (k, rel) in releases.iter().enumerate() {
        for (t, tab) in rel.tables.iter().enumerate() {
            for q in &tab.spec.quotes {
                let err = || AuditError::Quote {
                    study: rel.study.clone(),
                    sequence: rel.sequence,
                    quoted_study: q.study.clone(),
                    quoted_sequence: q.sequence,
                };
                let s = &tab.spec;
                let (Some(i), Some(j)) = (s.row_index(&q.row), s.column_index(&q.column)) else {
                    return Err(err());
                };
                let k2 = releases
                    .iter()
                    .position(|r| r.study == q.study && r.sequence == q.sequence)
                    .ok_or_else(err)?;
                let t2 = releases[k2]
                    .tables
                    .iter()
                    .position(|x| x.spec.id == q.table)
                    .ok_or_else(err)?;
                let tab2 = &releases[k2].tables[t2];
                let mut cells = Vec::new();
                let mut terms = vec![(layout[k][t][i][j], 1.0)];
                for [r, c] in &q.cells {
                    let (Some(i2), Some(j2)) = (tab2.spec.row_index(r), tab2.spec.column_index(c)) else {
                        return Err(err());
                    };
                    cells.push(tab2.cells[i2][j2]);
                    terms.push((layout[k2][t2][i2][j2], -1.0));
                }
                let ok = crate::table::quoted_value(&cells) == tab.cells[i][j] && !s.is_exempt(j);
                if ok {
                    // a function of published cells: no bound of its own
                    let x = layout[k][t][i][j];
                    lp.bounds[x] = (0.0, inf);
                    faithful.insert((k, t, (i, j)));
                }
                quote_eqs.push(((k, t), terms));
            }
        }
    }
    // A table made only of faithful quotes, related to no other table,
    // adds nothing: the relations among its cells (nested columns, never
    // falling between its releases) hold among the quoted cells already.
    // Its equations are left out so that series stay independent parts of
    // the program. Any other quote keeps its equation (a total over quotes
    // published afresh is exactly what lets a reader difference series).
    let pure = |k: usize, t: usize| {
        let rel = &releases[k];
        let tab = &rel.tables[t];
        let s = &tab.spec;
        let referenced = rel.tables.iter().any(|o| {
            o.spec.row_sums.iter().any(|r| r.table == s.id)
                || o.spec.weighted_sums.iter().any(|w| w.table == s.id)
        });
        !referenced
            && s.row_sums.is_empty()
            && s.weighted_sums.is_empty()
            && s.shared.is_empty()
            && (0..s.grid_rows())
                .all(|i| (0..s.grid_columns()).all(|j| s.is_exempt(j) || faithful.contains(&(k, t, (i, j)))))
    };
    for ((k, t), terms) in quote_eqs {
        if !pure(k, t) {
            lp.constrain(terms, ComparisonOp::Eq, 0.0);
        }
    }
    // cumulative tables: a cell never falls from one release to the next
    for (k2, rel2) in releases.iter().enumerate() {
        for (t2, tab2) in rel2.tables.iter().enumerate() {
            if !tab2.spec.cumulative {
                continue;
            }
            // the latest earlier release of the same study holding this table
            let prev = releases
                .iter()
                .enumerate()
                .filter(|(_, r)| r.study == rel2.study && r.sequence < rel2.sequence)
                .filter_map(|(k, r)| {
                    let t = r
                        .tables
                        .iter()
                        .position(|t| t.spec.id == tab2.spec.id && t.spec.cumulative)?;
                    Some((r.sequence, k, t))
                })
                .max();
            if let Some((_, k1, t1)) = prev {
                let s1 = &releases[k1].tables[t1].spec;
                let s2 = &tab2.spec;
                for i in 0..s2.grid_rows() {
                    for j in 0..s2.grid_columns() {
                        if let (Some(i1), Some(j1)) =
                            (s1.row_index(s2.row_label(i)), s1.column_index(s2.column_label(j)))
                        {
                            let (a, b) = (layout[k1][t1][i1][j1], layout[k2][t2][i][j]);
                            if s2.may_fall_at(i, j) || s1.may_fall_at(i1, j1) {
                                falls.push((a, b));
                                continue;
                            }
                            lp.constrain(vec![(a, 1.0), (b, -1.0)], ComparisonOp::Le, 0.0);
                            links.push((a, b));
                        }
                    }
                }
            }
        }
    }
    Ok(Built { lp, layout, faithful })
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
    };
    /// Every finding; safe ones may be settled by feasible points.
    pub(crate) const FAST: Scope = Scope {
        touching: None,
        certify: true,
        confirm: Confirm::Unsafe,
        only: None,
    };
    /// Protection's rounds: points, a cache, no confirmation, only the
    /// parts the new release touches.
    pub(crate) fn protect(release: usize) -> Scope {
        Scope {
            touching: Some(release),
            certify: true,
            confirm: Confirm::Never,
            only: None,
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

/// Safe in a way that survives suppressing more cells (which widens every
/// interval): starts below the suppression range, or wide enough.
fn robustly_safe(interval: Interval, policy: &Policy) -> bool {
    interval.lo < policy.sensitive_range().0 || interval.width().is_none_or(|w| w >= policy.min_width())
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

/// The reader's program split into independent parts: the connected
/// components of the graph joining variables that share a constraint (or
/// whose difference is checked).
struct Parts {
    comp: Vec<usize>,
    local: Vec<usize>,
    lps: Vec<Lp>,
}

fn split(lp: &Lp, pairs: &[(usize, usize)]) -> Parts {
    let n = lp.bounds.len();
    let mut uf: Vec<usize> = (0..n).collect();
    fn find(uf: &mut [usize], mut x: usize) -> usize {
        while uf[x] != x {
            uf[x] = uf[uf[x]];
            x = uf[x];
        }
        x
    }
    let mut union = |a: usize, b: usize| {
        let (ra, rb) = (find(&mut uf, a), find(&mut uf, b));
        if ra != rb {
            uf[ra.max(rb)] = ra.min(rb);
        }
    };
    for (terms, _, _) in &lp.constraints {
        for w in terms.windows(2) {
            union(w[0].0, w[1].0);
        }
    }
    for &(a, b) in pairs {
        union(a, b);
    }
    let mut id = vec![usize::MAX; n];
    let mut parts = Parts {
        comp: vec![0; n],
        local: vec![0; n],
        lps: Vec::new(),
    };
    for v in 0..n {
        let r = find(&mut uf, v);
        if id[r] == usize::MAX {
            id[r] = parts.lps.len();
            parts.lps.push(Lp::default());
        }
        let c = id[r];
        parts.comp[v] = c;
        parts.local[v] = parts.lps[c].bounds.len();
        parts.lps[c].bounds.push(lp.bounds[v]);
    }
    for (terms, op, rhs) in &lp.constraints {
        let Some(&(first, _)) = terms.first() else {
            continue;
        };
        let c = parts.comp[first];
        let local: Vec<(usize, f64)> = terms.iter().map(|&(v, x)| (parts.local[v], x)).collect();
        parts.lps[c].constraints.push((local, *op, *rhs));
    }
    parts
}

/// What a finding checks.
#[derive(Clone, Copy)]
enum Check {
    Suppressed,
    Difference,
    /// A rounded count that must keep this many feasible values.
    Rounded(u64),
}

fn check_safe(check: Check, interval: Interval, policy: &Policy) -> bool {
    match check {
        Check::Rounded(need) => interval.width().is_none_or(|w| w + 1 >= need),
        _ => is_safe(interval, policy),
    }
}

fn check_robust(check: Check, interval: Interval, policy: &Policy) -> bool {
    match check {
        Check::Rounded(_) => check_safe(check, interval, policy),
        _ => robustly_safe(interval, policy),
    }
}

/// The interval of one finding's expression in its part of the program.
fn settle(
    lp: &Prepared,
    obj: &[(usize, f64)],
    check: Check,
    policy: &Policy,
    scope: &Scope,
    programs: &mut usize,
    certified: &mut usize,
) -> Result<Interval, microlp::Error> {
    if scope.certify {
        let iv = match check {
            Check::Rounded(need) => {
                let (vmin, vmax) = lp.span(obj);
                if vmin.is_finite() {
                    let lo = (vmin - 1e-6).ceil().max(0.0) as u64;
                    let hi = ((vmax + 1e-6).floor().max(0.0) as u64).max(lo);
                    (hi - lo + 1 >= need).then_some(Interval { lo, hi: Some(hi) })
                } else {
                    None
                }
            }
            _ => lp.certify(obj, policy),
        };
        if let Some(iv) = iv {
            *certified += 1;
            return Ok(iv);
        }
    }
    let mut interval = match check {
        Check::Difference => {
            let lo = lp.lower(obj)?;
            *programs += 1;
            let mut interval = Interval { lo, hi: None };
            if lo >= policy.sensitive_range().0 {
                interval.hi = lp.upper(obj, lo)?;
                *programs += 1;
            }
            interval
        }
        _ => {
            *programs += 2;
            lp.interval(obj)?
        }
    };
    if matches!(check, Check::Difference) && interval.hi.is_none() {
        return Ok(interval);
    }
    let confirm = match (scope.confirm, check) {
        (Confirm::Never, _) => false,
        (Confirm::Doubtful, Check::Rounded(_)) | (Confirm::Unsafe, _) => !check_safe(check, interval, policy),
        (Confirm::Doubtful, _) => needs_confirmation(interval, policy),
    };
    if confirm {
        interval = lp.exact_interval(obj)?;
        *programs += 2;
    }
    Ok(interval)
}

/// One candidate finding before it is settled.
struct Candidate {
    release: usize,
    table: usize,
    position: (usize, usize),
    kind: FindingKind,
    check: Check,
    key: FindingKey,
    objective: Vec<(usize, f64)>,
}

pub(crate) fn audit_scoped(
    releases: &[Release],
    policy: &Policy,
    scope: &Scope,
    mut cache: Option<&mut AuditCache>,
) -> Result<AuditReport, AuditError> {
    let prof = std::env::var_os("TRIALINK_AUDIT_PROFILE").is_some();
    let t0 = std::time::Instant::now();
    for r in releases {
        r.validate()?;
    }
    let Built {
        lp, layout, faithful, ..
    } = build_lp(releases)?;
    let mut report = AuditReport {
        policy: policy.name.clone(),
        sensitive_range: policy.sensitive_range(),
        min_width: policy.min_width(),
        releases: releases.len(),
        suppressed_cells: 0,
        differences: 0,
        rounded_cells: 0,
        min_rounded_values: policy.min_rounded_values(),
        components: 0,
        linear_programs: 0,
        findings: Vec::new(),
    };
    if releases.is_empty() {
        return Ok(report);
    }
    // ---- the candidate findings -------------------------------------------
    let mut cands: Vec<Candidate> = Vec::new();
    let need = policy.min_rounded_values();
    for (k, rel) in releases.iter().enumerate() {
        let p = &rel.policy;
        let sum_rounded = p.round.totals == TotalsRule::SumOfRounded && p.round.base > 1;
        let cross_totals = sum_rounded_cross_totals(rel);
        for (t, tab) in rel.tables.iter().enumerate() {
            let s = &tab.spec;
            for i in 0..s.grid_rows() {
                for j in 0..s.grid_columns() {
                    if s.is_exempt(j) {
                        continue;
                    }
                    let x = layout[k][t][i][j];
                    if faithful.contains(&(k, t, (i, j))) {
                        continue;
                    }
                    match tab.cells[i][j] {
                        Published::Suppressed => cands.push(Candidate {
                            release: k,
                            table: t,
                            position: (i, j),
                            kind: FindingKind::Suppressed,
                            check: Check::Suppressed,
                            key: (k, t, (i, j), None, false),
                            objective: vec![(x, 1.0)],
                        }),
                        Published::Count(v) => {
                            if faithful.contains(&(k, t, (i, j)))
                                || (sum_rounded && !s.is_leaf(i, j))
                                || cross_totals.contains(&(t, (i, j)))
                            {
                                continue;
                            }
                            let (lo, hi) = p.published_interval(v);
                            let want = need.min(hi - lo + 1);
                            if want <= 1 {
                                continue;
                            }
                            cands.push(Candidate {
                                release: k,
                                table: t,
                                position: (i, j),
                                kind: FindingKind::Rounded,
                                check: Check::Rounded(want),
                                key: (k, t, (i, j), Some(u32::MAX), true),
                                objective: vec![(x, 1.0)],
                            });
                        }
                    }
                }
            }
        }
    }
    // differences between any two releases of a series' cumulative table
    for (k2, rel2) in releases.iter().enumerate() {
        for (k1, rel1) in releases.iter().enumerate() {
            if rel1.study != rel2.study || rel1.sequence >= rel2.sequence {
                continue;
            }
            for (t2, tab2) in rel2.tables.iter().enumerate() {
                let Some(t1) = rel1.tables.iter().position(|t| t.spec.id == tab2.spec.id) else {
                    continue;
                };
                let tab1 = &rel1.tables[t1];
                if !(tab1.spec.cumulative && tab2.spec.cumulative) {
                    continue;
                }
                let s2 = &tab2.spec;
                for i in 0..s2.grid_rows() {
                    for j in 0..s2.grid_columns() {
                        if s2.is_exempt(j) {
                            continue;
                        }
                        let (Some(i1), Some(j1)) = (
                            tab1.spec.row_index(s2.row_label(i)),
                            tab1.spec.column_index(s2.column_label(j)),
                        ) else {
                            continue;
                        };
                        // a faithful quote's differences are those of the
                        // quoted cells, checked in their own series
                        if faithful.contains(&(k2, t2, (i, j))) && faithful.contains(&(k1, t1, (i1, j1))) {
                            continue;
                        }
                        let (c1, c2) = (tab1.cells[i1][j1], tab2.cells[i][j]);
                        let (x1, x2) = (layout[k1][t1][i1][j1], layout[k2][t2][i][j]);
                        let falls = s2.may_fall_at(i, j) || tab1.spec.may_fall_at(i1, j1);
                        let directions: &[f64] = if falls { &[1.0, -1.0] } else { &[1.0] };
                        for &sign in directions {
                            // quick exit: both published values far apart
                            if let (Published::Count(a), Published::Count(b)) = (c1, c2) {
                                let (a_lo, a_hi) = rel1.policy.published_interval(a);
                                let (b_lo, b_hi) = rel2.policy.published_interval(b);
                                let gap = if sign > 0.0 {
                                    b_lo.saturating_sub(a_hi)
                                } else {
                                    a_lo.saturating_sub(b_hi)
                                };
                                if gap > policy.sensitive_range().1 {
                                    continue;
                                }
                            }
                            cands.push(Candidate {
                                release: k2,
                                table: t2,
                                position: (i, j),
                                kind: FindingKind::Difference {
                                    earlier: rel1.sequence,
                                },
                                check: Check::Difference,
                                key: (k2, t2, (i, j), Some(rel1.sequence), sign < 0.0),
                                objective: vec![(x2, sign), (x1, -sign)],
                            });
                        }
                    }
                }
            }
        }
    }
    if let Some(only) = &scope.only {
        cands.retain(|c| {
            let r = &releases[c.release];
            only.contains(&(r.study.clone(), r.sequence, c.table, c.position, c.kind))
        });
    }
    // ---- the independent parts ------------------------------------------
    let pairs: Vec<(usize, usize)> = cands
        .iter()
        .filter(|c| c.objective.len() == 2)
        .map(|c| (c.objective[0].0, c.objective[1].0))
        .collect();
    let parts = split(&lp, &pairs);
    let ncomp = parts.lps.len();
    let mut needed = vec![scope.touching.is_none(); ncomp];
    if let Some(k) = scope.touching {
        for x in layout[k].iter().flatten().flatten() {
            needed[parts.comp[*x]] = true;
        }
    }
    // the latest release holding a variable of each part (for errors)
    let mut owner = vec![0usize; ncomp];
    for (k, rel_vars) in layout.iter().enumerate() {
        for x in rel_vars.iter().flatten().flatten() {
            owner[parts.comp[*x]] = k;
        }
    }
    let inconsistent = |k: usize| AuditError::Inconsistent {
        study: releases[k].study.clone(),
        sequence: releases[k].sequence,
    };
    let map_err = |e: microlp::Error, k: usize| match e {
        microlp::Error::Infeasible => inconsistent(k),
        other => AuditError::Solver(other.to_string()),
    };
    let local = |obj: &[(usize, f64)]| -> Vec<(usize, f64)> {
        obj.iter().map(|&(v, c)| (parts.local[v], c)).collect()
    };
    // only parts with something to check are solved
    let mut used = vec![false; ncomp];
    for c in &cands {
        used[parts.comp[c.objective[0].0]] = true;
    }
    let known: BTreeMap<FindingKey, Interval> = match cache.as_deref_mut() {
        Some(c) => std::mem::take(&mut c.safe),
        None => BTreeMap::new(),
    };
    let mut old_points: BTreeMap<usize, Vec<Vec<f64>>> = match cache.as_deref_mut() {
        Some(c) => std::mem::take(&mut c.points),
        None => BTreeMap::new(),
    };
    let t_build = t0.elapsed().as_secs_f64();
    // each part the current release touches, named by its first cell there
    let mut carry_key: BTreeMap<usize, (usize, (usize, usize))> = BTreeMap::new();
    if let Some(k) = scope.touching {
        for (t, rows) in layout[k].iter().enumerate() {
            for (i, row) in rows.iter().enumerate() {
                for (j, &x) in row.iter().enumerate() {
                    carry_key.entry(parts.comp[x]).or_insert((t, (i, j)));
                }
            }
        }
    }
    let mut carry_in = match cache.as_deref_mut() {
        Some(c) => std::mem::take(&mut c.carry_in),
        None => BTreeMap::new(),
    };
    let mut prepared: Vec<Option<Prepared>> = Vec::with_capacity(ncomp);
    let mut carried = 0usize;
    let mut warm = vec![false; ncomp];
    for c in 0..ncomp {
        if !(needed[c] && used[c]) {
            prepared.push(None);
            continue;
        }
        let lpc = parts.lps[c].prepare().map_err(|e| map_err(e, owner[c]))?;
        report.linear_programs += 1;
        report.components += 1;
        if let Some(pts) = old_points.remove(&c) {
            lpc.adopt(&pts);
            // a repair round: the last round's extreme points are still
            // feasible (suppressing cells only widens the polytope)
            warm[c] = lpc.points.borrow().len() > 1;
        } else if let Some(pts) = carry_key.get(&c).and_then(|key| carry_in.remove(key)) {
            // the series' previous release: its points extended over this
            // release's cells, each checked against every constraint
            let ext: Vec<Vec<f64>> = pts
                .iter()
                .enumerate()
                .filter_map(|(n, p)| {
                    let sign = if n % 2 == 0 { 1.0 } else { -1.0 };
                    let lp = &parts.lps[c];
                    // else free the previous release's cells too (as many
                    // as this release adds)
                    let d = lp.bounds.len().saturating_sub(p.len());
                    lp.extend(p, sign)
                        .filter(|x| lpc.satisfies(x))
                        .or_else(|| lp.extend(&p[..p.len().saturating_sub(d)], sign))
                })
                .collect();
            report.linear_programs += pts.len();
            let before = lpc.points.borrow().len();
            lpc.adopt(&ext);
            carried += lpc.points.borrow().len() - before;
            warm[c] = lpc.points.borrow().len() > CARRY_WARM;
        }
        prepared.push(Some(lpc));
    }
    if scope.certify {
        // points at the ends of everything at once, part by part: all
        // suppressed cells low, then high; all changes between releases;
        // all rounded counts
        let mut groups: BTreeMap<(usize, u8), Vec<(usize, f64)>> = BTreeMap::new();
        for cand in &cands {
            let c = parts.comp[cand.objective[0].0];
            if prepared[c].is_none() {
                continue;
            }
            let g = match cand.check {
                Check::Suppressed => 0,
                Check::Difference if cand.objective[0].1 > 0.0 => 1,
                Check::Difference => 2,
                Check::Rounded(_) => 3,
            };
            groups.entry((c, g)).or_default().extend(local(&cand.objective));
        }
        for ((c, _), terms) in &groups {
            if warm[*c] {
                continue;
            }
            let lpc = prepared[*c].as_ref().expect("prepared");
            for sign in [1.0, -1.0] {
                lpc.extreme(terms, sign).map_err(|e| map_err(e, owner[*c]))?;
                report.linear_programs += 1;
            }
        }
    }
    let t_prep = t0.elapsed().as_secs_f64();
    let lps_before = report.linear_programs;
    let mut safe_now: BTreeMap<FindingKey, Interval> = BTreeMap::new();
    let (mut reused, mut certified) = (0usize, 0usize);
    for cand in &cands {
        let c = parts.comp[cand.objective[0].0];
        let Some(lpc) = prepared[c].as_ref() else {
            continue;
        };
        let interval = if let Some(&iv) = known.get(&cand.key) {
            reused += 1;
            iv
        } else {
            settle(
                lpc,
                &local(&cand.objective),
                cand.check,
                policy,
                scope,
                &mut report.linear_programs,
                &mut certified,
            )
            .map_err(|e| map_err(e, cand.release))?
        };
        if check_robust(cand.check, interval, policy) {
            safe_now.insert(cand.key, interval);
        }
        let safe = check_safe(cand.check, interval, policy);
        match cand.check {
            Check::Suppressed => report.suppressed_cells += 1,
            Check::Difference => report.differences += 1,
            Check::Rounded(_) => report.rounded_cells += 1,
        }
        if safe && !matches!(cand.check, Check::Suppressed) {
            continue;
        }
        let rel = &releases[cand.release];
        let s = &rel.tables[cand.table].spec;
        report.findings.push(Finding {
            study: rel.study.clone(),
            sequence: rel.sequence,
            table: s.id.clone(),
            row: s.row_label(cand.position.0).to_string(),
            column: s.column_label(cand.position.1).to_string(),
            release_index: cand.release,
            table_index: cand.table,
            position: cand.position,
            kind: cand.kind,
            interval,
            safe,
        });
    }
    if prof {
        eprintln!(
            "audit profile: {} releases, {} candidates, vars {}, build {:.3}s, prepare+extremes {:.3}s ({} lps), findings {:.3}s ({} lps, {} certified, {} reused), {} points carried",
            releases.len(),
            cands.len(),
            lp.bounds.len(),
            t_build,
            t_prep - t_build,
            lps_before,
            t0.elapsed().as_secs_f64() - t_prep,
            report.linear_programs - lps_before,
            certified,
            reused,
            carried
        );
    }
    if let Some(cc) = cache {
        cc.points = prepared
            .into_iter()
            .enumerate()
            .filter_map(|(c, p)| Some((c, p?.points.take())))
            .collect();
        // parts not solved this time keep their points
        for (c, pts) in old_points {
            cc.points.entry(c).or_insert(pts);
        }
        cc.carry_out = carry_key
            .iter()
            .filter_map(|(&c, &key)| Some((key, cc.points.get(&c)?.iter().take(CARRY).cloned().collect())))
            .collect();
        cc.safe = safe_now;
        cc.reused = reused;
        cc.certified = certified;
    }
    Ok(report)
}
