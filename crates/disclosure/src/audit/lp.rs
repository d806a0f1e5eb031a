//! The reader's linear program as data, its solution from scratch and
//! warm-started from a solved feasibility problem, the feasible points met
//! on the way, and its split into independent parts.

use super::Interval;
use crate::policy::Policy;
#[cfg(not(feature = "clp"))]
use microlp::Problem;
use microlp::{ComparisonOp, OptimizationDirection};
#[cfg(not(feature = "clp"))]
use std::collections::BTreeMap;

/// `sum(coefficient × variable)`.
pub(super) type Terms = Vec<(usize, f64)>;

/// `sum(coefficient × variable) op rhs`.
pub(super) type Constraint = (Vec<(usize, f64)>, ComparisonOp, f64);

/// A linear program under construction: variable bounds and constraints.
#[derive(Debug, Default, Clone)]
pub(crate) struct Lp {
    pub(super) bounds: Vec<(f64, f64)>,
    pub(super) constraints: Vec<Constraint>,
}

impl Lp {
    pub(super) fn var(&mut self, lo: f64, hi: f64) -> usize {
        self.bounds.push((lo, hi));
        self.bounds.len() - 1
    }

    pub(super) fn constrain(&mut self, terms: Vec<(usize, f64)>, op: ComparisonOp, rhs: f64) {
        self.constraints.push((terms, op, rhs));
    }

    /// Optimise a linear objective from scratch; `Ok(None)` when unbounded.
    pub(super) fn optimise(
        &self,
        objective: &[(usize, f64)],
        dir: OptimizationDirection,
    ) -> Result<Option<(f64, Vec<f64>)>, microlp::Error> {
        let mut coeff = vec![0.0; self.bounds.len()];
        for &(v, c) in objective {
            coeff[v] += c;
        }
        let red = self.reduce()?;
        // objective coefficients go on the free columns; fixed variables
        // add a constant
        let mut constant = 0.0;
        let mut obj = vec![0.0; red.bounds.len()];
        for (v, &c) in coeff.iter().enumerate() {
            match red.col[v] {
                Some(k) => obj[k] += c,
                None => constant += c * red.value[v],
            }
        }
        Ok(solve_reduced(&red, &obj, dir)?.map(|(value, cols)| (value + constant, red.expand(|k| cols[k]))))
    }

    /// The program as handed to the solver: variables fixed by their
    /// bounds become constants, and constraints left with one variable
    /// become bounds. microlp keeps every column and row it is given, and
    /// under a sum-of-rounded totals rule about half the variables are
    /// fixed published values, each tied to its count by two rows: the
    /// reduced program has the same feasible counts with about half the
    /// columns and fewer rows. `Infeasible` when the fixed values alone
    /// break a constraint.
    fn reduce(&self) -> Result<Reduced, microlp::Error> {
        let n = self.bounds.len();
        let mut col = vec![None; n];
        let mut value = vec![0.0; n];
        let mut bounds: Vec<(f64, f64)> = Vec::new();
        for (v, &(lo, hi)) in self.bounds.iter().enumerate() {
            if lo == hi && lo.is_finite() {
                value[v] = lo;
            } else {
                col[v] = Some(bounds.len());
                bounds.push((lo, hi));
            }
        }
        let mut rows: Vec<Constraint> = Vec::new();
        for (terms, op, rhs) in &self.constraints {
            let mut constant = 0.0;
            let mut free: Vec<(usize, f64)> = Vec::with_capacity(terms.len());
            for &(v, c) in terms {
                match col[v] {
                    Some(k) => free.push((k, c)),
                    None => constant += c * value[v],
                }
            }
            let r = rhs - constant;
            match free.as_slice() {
                [] => {
                    let tol = 1e-9 * (1.0 + r.abs());
                    let ok = match op {
                        ComparisonOp::Eq => r.abs() <= tol,
                        ComparisonOp::Le => 0.0 <= r + tol,
                        ComparisonOp::Ge => 0.0 >= r - tol,
                    };
                    if !ok {
                        return Err(microlp::Error::Infeasible);
                    }
                }
                &[(k, c)] if c != 0.0 => {
                    let lim = r / c;
                    let (lo, hi) = bounds[k];
                    let (nlo, nhi) = match (op, c > 0.0) {
                        (ComparisonOp::Eq, _) => (lo.max(lim), hi.min(lim)),
                        (ComparisonOp::Le, true) | (ComparisonOp::Ge, false) => (lo, hi.min(lim)),
                        (ComparisonOp::Le, false) | (ComparisonOp::Ge, true) => (lo.max(lim), hi),
                    };
                    if nlo <= nhi {
                        bounds[k] = (nlo, nhi);
                    } else {
                        // crossing bounds: leave the row for the solver
                        rows.push((free, *op, r));
                    }
                }
                _ => rows.push((free, *op, r)),
            }
        }
        Ok(Reduced {
            col,
            value,
            bounds,
            rows,
        })
    }

    /// Extend a point of an earlier, smaller program over the first
    /// `p.len()` variables to all of them: those variables are fixed at
    /// `p` and the rest chosen by a small LP pushing their sum down
    /// (`sign` 1) or up (`sign` -1). `None` when no extension exists.
    /// The result is only a candidate: callers check it against every
    /// constraint ([`Prepared::adopt`]) before relying on it.
    pub(super) fn extend(&self, p: &[f64], sign: f64) -> Option<Vec<f64>> {
        let (m, n) = (p.len(), self.bounds.len());
        if m >= n {
            return None;
        }
        let small = self.restrict(m, n, p);
        let objective: Vec<(usize, f64)> = (0..n - m).map(|v| (v, sign)).collect();
        let (_, y) = small
            .optimise(&objective, OptimizationDirection::Minimize)
            .ok()??;
        let mut out = p.to_vec();
        out.extend(y);
        Some(out)
    }

    /// The program over variables `from..to` only (renumbered from 0):
    /// variables below `fixed.len()` outside that range are fixed at their
    /// value in `fixed`, and constraints on any other variable (beyond both
    /// `to` and `fixed`) are left out.
    pub(super) fn restrict(&self, from: usize, to: usize, fixed: &[f64]) -> Lp {
        let mut small = Lp {
            bounds: self.bounds[from..to].to_vec(),
            constraints: Vec::new(),
        };
        'each: for (terms, op, rhs) in &self.constraints {
            let mut constant = 0.0;
            let mut free = Vec::new();
            for &(v, c) in terms {
                if (from..to).contains(&v) {
                    free.push((v - from, c));
                } else if v < fixed.len() {
                    constant += c * fixed[v];
                } else {
                    continue 'each;
                }
            }
            if !free.is_empty() {
                small.constraints.push((free, *op, rhs - constant));
            }
        }
        small
    }

    /// A relaxation over variables `from..to` (renumbered from 0): the
    /// constraints on those variables alone, each variable also bounded by
    /// `outer` (valid bounds of the whole program).
    pub(super) fn relax(&self, from: usize, to: usize, outer: &[(f64, f64)]) -> Lp {
        let bounds = (from..to)
            .map(|v| {
                let (a, b) = self.bounds[v];
                let (c, d) = outer[v];
                let lo = a.max(c);
                (lo, b.min(d).max(lo))
            })
            .collect();
        let constraints = self
            .constraints
            .iter()
            .filter(|(terms, _, _)| terms.iter().all(|&(v, _)| (from..to).contains(&v)))
            .map(|(terms, op, rhs)| (terms.iter().map(|&(v, c)| (v - from, c)).collect(), *op, *rhs))
            .collect();
        Lp { bounds, constraints }
    }

    /// A feasible point built block by block (`starts`: the first variable
    /// of each block, ascending), each block's variables pushed down given
    /// the blocks before it, ignoring the blocks after it. `None` when a
    /// block cannot be completed; the point is only a candidate (callers
    /// check it against every constraint).
    pub(super) fn forward_point(&self, starts: &[usize]) -> Option<Vec<f64>> {
        let n = self.bounds.len();
        let mut p: Vec<f64> = Vec::with_capacity(n);
        for (b, &from) in starts.iter().enumerate() {
            let to = starts.get(b + 1).copied().unwrap_or(n);
            if from != p.len() || to <= from {
                return None;
            }
            let small = self.restrict(from, to, &p);
            let objective: Vec<(usize, f64)> = (0..to - from).map(|v| (v, 1.0)).collect();
            let (_, y) = small
                .optimise(&objective, OptimizationDirection::Minimize)
                .ok()??;
            p.extend(y);
        }
        (p.len() == n).then_some(p)
    }

    /// Does a point satisfy the bounds and constraints (relative tolerance
    /// 1e-5: warm-started optima on large problems miss 1e-6 by a few
    /// units; an error of that size moves no bound by a whole person)?
    pub(super) fn satisfies(&self, x: &[f64]) -> bool {
        let tol = |v: f64| 1e-5 * (1.0 + v.abs());
        for (k, &(lo, hi)) in self.bounds.iter().enumerate() {
            if x[k] < lo - tol(lo) || x[k] > hi + tol(hi) {
                return false;
            }
        }
        self.constraints.iter().all(|row| holds(row, x))
    }

    /// A prepared program with no point yet, whose feasibility problem is
    /// solved only when an objective needs the solver.
    pub(super) fn lazy(&self) -> Prepared {
        self.lazy_within(None)
    }

    /// [`Lp::lazy`], given a box holding every feasible point (the outer
    /// box), which bounds the expressions optimised.
    pub(super) fn lazy_within(&self, outer: Option<&[(f64, f64)]>) -> Prepared {
        // |z| <= 4 x the box's reach: a finding's expression (coefficients
        // of at most 1, two terms) stays within half of it, so an optimum
        // beyond half (see `warm_min`) is unbounded; a merged group of
        // `extremes` may reach further and be reported unbounded, which
        // only matters for its value, never used
        let reach =
            |b: &[(f64, f64)]| 4.0 * b.iter().map(|&(lo, hi)| lo.abs().max(hi.abs())).sum::<f64>() + 1e3;
        let mut zbound = reach(&self.bounds);
        if let Some(b) = outer {
            zbound = zbound.min(reach(b));
        }
        Prepared {
            base: std::cell::OnceCell::new(),
            alt: std::cell::OnceCell::new(),
            lp: self.clone(),
            points: std::cell::RefCell::new(Points::default()),
            warm: false,
            zbound: if zbound.is_finite() && zbound < BIG / 4.0 {
                zbound
            } else {
                BIG
            },
        }
    }

    /// The feasibility problem solved by Clp (from scratch), its model and
    /// basis kept for the warm re-solves; Clp needs no objective variable,
    /// and one basis is enough (its misses are solved from scratch).
    #[cfg(feature = "clp")]
    fn solve_base(&self, _reversed: bool, _zbound: f64) -> Result<Base, microlp::Error> {
        use super::clp::{Model, Outcome};
        let red = self.reduce()?;
        let mut m = Model::load(&red.bounds, &red.rows, &vec![0.0; red.bounds.len()]);
        match m.solve() {
            Outcome::Optimal => {}
            Outcome::Infeasible => return Err(microlp::Error::Infeasible),
            Outcome::Unbounded | Outcome::Trouble => return Err(trouble()),
        }
        let start = m.columns().ok_or_else(trouble)?;
        let basis = m.basis();
        Ok(Base {
            models: [std::sync::Mutex::new(Some(m)), std::sync::Mutex::new(None)],
            basis,
            start,
            red,
        })
    }

    /// The feasibility problem solved, its constraints given to the solver
    /// in order or (`reversed`) in reverse order, which leads it to
    /// another basis.
    ///
    /// The objective variable `z` is bounded by `zbound`, as tightly as
    /// is safe: at ±1e10 a double resolves only about 2e-6, and that
    /// error reaches the point's counts through `z = e`.
    #[cfg(not(feature = "clp"))]
    fn solve_base(&self, reversed: bool, zbound: f64) -> Result<Base, microlp::Error> {
        let red = self.reduce()?;
        let mut p = Problem::new(OptimizationDirection::Minimize);
        let vars: Vec<_> = red.bounds.iter().map(|&b| p.add_var(0.0, b)).collect();
        let z = p.add_var(1.0, (-zbound, zbound));
        let mut add = |(terms, op, rhs): &Constraint| {
            let t: Vec<_> = terms.iter().map(|&(k, c)| (vars[k], c)).collect();
            p.add_constraint(t.as_slice(), *op, *rhs);
        };
        if reversed {
            red.rows.iter().rev().for_each(&mut add);
        } else {
            red.rows.iter().for_each(&mut add);
        }
        Ok(Base {
            sol: p.solve()?,
            vars,
            red,
            z,
            zbound,
        })
    }
}

/// Does a point satisfy one constraint (the tolerance of
/// [`Lp::satisfies`])?
fn holds((terms, op, rhs): &Constraint, x: &[f64]) -> bool {
    let tol = |v: f64| 1e-5 * (1.0 + v.abs());
    let v: f64 = terms.iter().map(|&(i, c)| c * x[i]).sum();
    match op {
        ComparisonOp::Eq => (v - rhs).abs() <= tol(*rhs),
        ComparisonOp::Le => v <= rhs + tol(*rhs),
        ComparisonOp::Ge => v >= rhs - tol(*rhs),
    }
}

/// Optimise `obj` (over the free columns) over a reduced program from
/// scratch: the optimum (without the fixed variables' constant) and the
/// columns' values; `Ok(None)` when unbounded.
#[cfg(not(feature = "clp"))]
fn solve_reduced(
    red: &Reduced,
    obj: &[f64],
    dir: OptimizationDirection,
) -> Result<Option<(f64, Vec<f64>)>, microlp::Error> {
    let mut p = Problem::new(dir);
    let vars: Vec<_> = red
        .bounds
        .iter()
        .zip(obj)
        .map(|(&b, &c)| p.add_var(c, b))
        .collect();
    for (terms, op, rhs) in &red.rows {
        let t: Vec<_> = terms.iter().map(|&(k, c)| (vars[k], c)).collect();
        p.add_constraint(t.as_slice(), *op, *rhs);
    }
    match p.solve() {
        Ok(s) => Ok(Some((
            s.objective(),
            vars.iter().map(|v| *s.var_value(*v)).collect(),
        ))),
        Err(microlp::Error::Unbounded) => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`solve_reduced`] with Clp (presolve, then the dual simplex).
#[cfg(feature = "clp")]
fn solve_reduced(
    red: &Reduced,
    obj: &[f64],
    dir: OptimizationDirection,
) -> Result<Option<(f64, Vec<f64>)>, microlp::Error> {
    use super::clp::{Model, Outcome};
    let sign = match dir {
        OptimizationDirection::Minimize => 1.0,
        OptimizationDirection::Maximize => -1.0,
    };
    let cost: Vec<f64> = obj.iter().map(|c| sign * c).collect();
    let mut m = Model::load(&red.bounds, &red.rows, &cost);
    match m.solve() {
        Outcome::Optimal => {
            let cols = m.columns().ok_or_else(trouble)?;
            let value: f64 = obj.iter().zip(&cols).map(|(c, x)| c * x).sum();
            Ok(Some((value, cols)))
        }
        Outcome::Unbounded => Ok(None),
        Outcome::Infeasible => Err(microlp::Error::Infeasible),
        Outcome::Trouble => Err(trouble()),
    }
}

/// Clp stopped without an answer (iteration limit, numerical trouble).
#[cfg(feature = "clp")]
fn trouble() -> microlp::Error {
    microlp::Error::InternalError("the solver stopped without an answer".to_string())
}

/// A program reduced for the solver (see [`Lp::reduce`]).
struct Reduced {
    /// Each variable's column among the free ones (`None`: fixed).
    col: Vec<Option<usize>>,
    /// Each fixed variable's value.
    value: Vec<f64>,
    /// Bounds of the free columns.
    bounds: Vec<(f64, f64)>,
    /// Constraints over the free columns.
    rows: Vec<Constraint>,
}

impl Reduced {
    /// A point over every variable from the free columns' values.
    fn expand(&self, free: impl Fn(usize) -> f64) -> Vec<f64> {
        self.col
            .iter()
            .zip(&self.value)
            .map(|(c, &v)| c.map_or(v, &free))
            .collect()
    }
}

/// A solved feasibility problem and its columns.
#[cfg(not(feature = "clp"))]
struct Base {
    sol: microlp::Solution,
    /// The free columns.
    vars: Vec<microlp::Variable>,
    red: Reduced,
    z: microlp::Variable,
    /// The bound of `z` (±): an optimum there is unbounded.
    zbound: f64,
}

#[cfg(not(feature = "clp"))]
impl Base {
    /// A solution's point over every variable.
    fn point(&self, s: &microlp::Solution) -> Vec<f64> {
        self.red.expand(|k| *s.var_value(self.vars[k]))
    }

    /// The feasibility problem's point.
    fn start(&self) -> Vec<f64> {
        self.point(&self.sol)
    }
}

/// A solved feasibility problem: two Clp models of it, one for minima and
/// one for maxima, each keeping the basis of its last optimum (so the
/// points found depend only on the order of the calls, never on timing),
/// and the first basis, from which a model is started again after a solve
/// that went wrong.
#[cfg(feature = "clp")]
struct Base {
    models: [std::sync::Mutex<Option<super::clp::Model>>; 2],
    basis: Vec<u8>,
    start: Vec<f64>,
    red: Reduced,
}

#[cfg(feature = "clp")]
impl Base {
    /// The feasibility problem's point.
    fn start(&self) -> Vec<f64> {
        self.red.expand(|k| self.start[k])
    }
}

/// [`warm_min`] with Clp: the objective changed on a model that keeps the
/// basis of its last optimum, re-solved by the primal simplex.
#[cfg(feature = "clp")]
fn warm_min(
    base: &Base,
    lp: &Lp,
    objective: &[(usize, f64)],
    sign: f64,
) -> Result<Option<(f64, Vec<f64>)>, microlp::Error> {
    use super::clp::{Model, Outcome};
    let mut cost = vec![0.0; base.red.bounds.len()];
    for &(v, c) in objective {
        if let Some(k) = base.red.col[v] {
            cost[k] += sign * c;
        }
    }
    // a poisoned lock (a panic elsewhere) only costs the warm start
    let mut slot = match base.models[usize::from(sign < 0.0)].lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut model = slot.take().unwrap_or_else(|| {
        let mut m = Model::load(&base.red.bounds, &base.red.rows, &cost);
        m.set_basis(&base.basis);
        m
    });
    let outcome = model.resolve(&cost);
    let found = match outcome {
        Outcome::Optimal | Outcome::Unbounded => {
            let point = model.columns().map(|cols| base.red.expand(|k| cols[k]));
            if let Some(point) = point.filter(|p| lp.satisfies(p)) {
                let value: f64 = objective.iter().map(|&(v, c)| sign * c * point[v]).sum();
                let value = if outcome == Outcome::Unbounded {
                    -BIG
                } else {
                    value
                };
                Some((value, point))
            } else {
                WARM_MISSES[0].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                None
            }
        }
        Outcome::Infeasible | Outcome::Trouble => {
            WARM_MISSES[1].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            None
        }
    };
    // a model whose last solve went wrong is dropped with its basis
    if found.is_some() {
        *slot = Some(model);
    }
    Ok(found)
}

/// The minimum of `sign × objective` warm-started from the solved
/// feasibility problem, with the point where it is reached; `Ok(None)`
/// when the incremental re-solve gives no point satisfying every
/// constraint (then the caller solves from scratch). Shared by threads:
/// it reads the base and the program only.
#[cfg(not(feature = "clp"))]
fn warm_min(
    base: &Base,
    lp: &Lp,
    objective: &[(usize, f64)],
    sign: f64,
) -> Result<Option<(f64, Vec<f64>)>, microlp::Error> {
    // microlp wants a constraint's variables sorted and distinct (it
    // fails with "unsorted indices" otherwise): merge, then `z`, which
    // was added last.
    let mut merged: BTreeMap<usize, f64> = BTreeMap::new();
    for &(v, c) in objective {
        *merged.entry(v).or_default() += -sign * c;
    }
    // fixed variables' part of the expression moves to the right
    let mut rhs = 0.0;
    let mut terms: Vec<(microlp::Variable, f64)> = Vec::with_capacity(merged.len() + 1);
    for (v, c) in merged {
        if c == 0.0 {
            continue;
        }
        match base.red.col[v] {
            Some(k) => terms.push((base.vars[k], c)),
            None => rhs -= c * base.red.value[v],
        }
    }
    terms.push((base.z, 1.0));
    match base
        .sol
        .clone()
        .add_constraint(terms.as_slice(), ComparisonOp::Eq, rhs)
    {
        // Accept the incremental optimum only at a point that satisfies
        // every constraint: then the value is attained, so a minimum can
        // only be overestimated (a narrower interval: conservative).
        // Unsafe findings are re-solved from scratch (`exact_interval`).
        Ok(s) => {
            let point = base.point(&s);
            let ok = lp.satisfies(&point);
            if !ok {
                WARM_MISSES[0].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            // the value attained at the point (an optimum at the bound of
            // `z` is unbounded)
            let value: f64 = objective.iter().map(|&(v, c)| sign * c * point[v]).sum();
            let value = if value <= -0.5 * base.zbound { -BIG } else { value };
            Ok(ok.then_some((value, point)))
        }
        // The base problem is feasible and `z = e` always has a
        // solution, so this is numerical trouble in the incremental
        // re-solve: solve from scratch instead.
        Err(microlp::Error::Infeasible) | Err(microlp::Error::InternalError(_)) => {
            WARM_MISSES[1].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Warm starts that gave no usable optimum (then solved from scratch):
/// at a point off the constraints, and with solver trouble. Counted for
/// the profile line only.
pub(super) static WARM_MISSES: [std::sync::atomic::AtomicUsize; 3] = [
    std::sync::atomic::AtomicUsize::new(0),
    std::sync::atomic::AtomicUsize::new(0),
    std::sync::atomic::AtomicUsize::new(0),
];

/// Most points carried from one release of a series to the next.
pub(super) const CARRY: usize = 24;
/// More points carried with the `clp` feature, extended over the new
/// release by one Clp model of its variables each (see [`Extender`]):
/// the witnesses of old findings, which a new release seldom invalidates.
/// Measured to week 14, carrying 400 points instead of 24 cut the
/// findings' solves over the whole series by 14% (24,014 to 20,608).
pub(super) const CARRY_MORE: usize = if cfg!(feature = "clp") { 376 } else { 0 };
/// Carried points that stand in for the extreme points of a first round.
pub(super) const CARRY_WARM: usize = 8;

/// Points of an earlier, smaller program (over the first `m` variables)
/// extended over the rest, as [`Lp::extend`] does, by one Clp model of
/// the new variables whose rows' bounds follow each old point: a dual
/// simplex re-solve over one release's variables per point, not a program
/// set up and solved from scratch (cargo feature `clp`). The result is
/// only a candidate: callers check it against every constraint
/// ([`Prepared::adopt`]).
#[cfg(feature = "clp")]
pub(super) struct Extender {
    m: usize,
    /// The rows touching the new variables: their terms on the old
    /// variables, comparison and right-hand side.
    rows: Vec<Constraint>,
    model: super::clp::Model,
}

#[cfg(feature = "clp")]
impl Extender {
    /// New variables pushed down together (`sign` 1) or up (-1).
    pub(super) fn new(lp: &Lp, m: usize, sign: f64) -> Option<Extender> {
        let n = lp.bounds.len();
        if m >= n {
            return None;
        }
        let mut rows = Vec::new();
        let mut block: Vec<Constraint> = Vec::new();
        for (terms, op, rhs) in &lp.constraints {
            if !terms.iter().any(|&(v, _)| v >= m) {
                continue;
            }
            rows.push((terms.iter().copied().filter(|&(v, _)| v < m).collect(), *op, *rhs));
            block.push((
                terms
                    .iter()
                    .filter(|&&(v, _)| v >= m)
                    .map(|&(v, c)| (v - m, c))
                    .collect(),
                *op,
                *rhs,
            ));
        }
        let model = super::clp::Model::load(&lp.bounds[m..], &block, &vec![sign; n - m]);
        Some(Extender { m, rows, model })
    }

    /// The old point `p` followed by new values chosen given it (`None`
    /// when there are none, or on solver trouble).
    pub(super) fn extend(&mut self, p: &[f64]) -> Option<Vec<f64>> {
        if p.len() != self.m {
            return None;
        }
        let (mut lo, mut hi) = (
            Vec::with_capacity(self.rows.len()),
            Vec::with_capacity(self.rows.len()),
        );
        for (old, op, rhs) in &self.rows {
            let r = rhs - old.iter().map(|&(v, c)| c * p[v]).sum::<f64>();
            let (a, b) = match op {
                ComparisonOp::Eq => (r, r),
                ComparisonOp::Le => (f64::NEG_INFINITY, r),
                ComparisonOp::Ge => (r, f64::INFINITY),
            };
            lo.push(a);
            hi.push(b);
        }
        if self.model.resolve_rows(&lo, &hi) != super::clp::Outcome::Optimal {
            return None;
        }
        let mut x = p.to_vec();
        x.extend(self.model.columns()?);
        Some(x)
    }
}

/// The smallest whole count at or above a solver's value (a tolerance of
/// 1e-6 for its rounding error; never below 0): a lower end.
pub(super) fn count_at_least(x: f64) -> u64 {
    (x - 1e-6).ceil().max(0.0) as u64
}

/// The largest whole count at or below a solver's value (a tolerance of
/// 1e-6; never below 0): an upper end.
pub(super) fn count_at_most(x: f64) -> u64 {
    (x + 1e-6).floor().max(0.0) as u64
}

/// Bound of the objective variable; an optimum at it means unbounded.
pub(super) const BIG: f64 = 1e10;

/// Feasible points, kept by variable: the range of an expression over a
/// few thousand points of a program of ~10,000 variables then reads its
/// variables' values contiguously (kept by point, it touched one cache
/// line per point and term: over a second of a 20-week audit).
#[derive(Default)]
pub(crate) struct Points {
    /// Each variable's value at each point.
    cols: Vec<Vec<f64>>,
    len: usize,
}

impl Points {
    /// Keep a point (one value per variable of the program; a point of
    /// another length is not one of its points and is ignored).
    pub(super) fn push(&mut self, p: Vec<f64>) {
        if self.len == 0 {
            self.cols = vec![Vec::new(); p.len()];
        }
        if p.len() != self.cols.len() {
            return;
        }
        for (col, &v) in self.cols.iter_mut().zip(&p) {
            col.push(v);
        }
        self.len += 1;
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `k`-th point kept.
    pub(super) fn get(&self, k: usize) -> Option<Vec<f64>> {
        (k < self.len).then(|| self.cols.iter().map(|c| c[k]).collect())
    }

    /// Every point, in the order kept, leaving none.
    pub(super) fn take(&mut self) -> Vec<Vec<f64>> {
        let out = (0..self.len).filter_map(|k| self.get(k)).collect();
        self.cols.clear();
        self.len = 0;
        out
    }

    /// The range of an expression over the points (`(inf, -inf)` when
    /// there are none).
    pub(super) fn span(&self, objective: &[(usize, f64)]) -> (f64, f64) {
        if self.len == 0 {
            return (f64::INFINITY, f64::NEG_INFINITY);
        }
        let mut value = vec![0.0; self.len];
        for &(v, c) in objective {
            for (acc, &x) in value.iter_mut().zip(&self.cols[v]) {
                *acc += c * x;
            }
        }
        value
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            })
    }
}

/// A solved feasibility problem with a free-standing objective variable
/// `z` (minimised). Optimising an expression `e` adds `z = e` (or `z = -e`
/// for a maximum) to a copy of the solved problem — microlp re-solves from
/// the optimal basis instead of from scratch.
pub(crate) struct Prepared {
    lp: Lp,
    /// Solved on first use.
    base: std::cell::OnceCell<Base>,
    /// Solved to another basis, on the first warm start that fails.
    alt: std::cell::OnceCell<Base>,
    /// Feasible points met so far (every optimum found, checked against
    /// every constraint): the values an expression takes at them lie in
    /// its feasible interval, which can prove an interval wide enough
    /// without solving (see [`Prepared::certify`]).
    pub(super) points: std::cell::RefCell<Points>,
    /// Points enough are known already (carried or from a repair round):
    /// no extreme points are sought.
    pub(super) warm: bool,
    /// Bound of the objective variable (see [`Lp::lazy_within`]).
    zbound: f64,
}

impl Prepared {
    /// The solved feasibility problem (solved now if not yet).
    fn base(&self) -> Result<&Base, microlp::Error> {
        if let Some(b) = self.base.get() {
            return Ok(b);
        }
        let b = self.lp.solve_base(false, self.zbound)?;
        Ok(self.base.get_or_init(|| b))
    }

    /// Solve the feasibility problem and keep its solution as a point.
    pub(super) fn solve_point(&self) -> Result<(), microlp::Error> {
        let base = self.base()?;
        let start = base.start();
        // kept, as every point, only if it satisfies every constraint
        self.adopt(&[start]);
        Ok(())
    }

    /// Number of variables.
    pub(super) fn len(&self) -> usize {
        self.lp.bounds.len()
    }

    /// The minimum of the expression and the minimum of its negation
    /// (`(min, -max)`), each warm-started from the solved feasibility
    /// problem (the optimum is kept only at a point satisfying every
    /// constraint, else solved from scratch), the two programs solved at
    /// once on two cores. Each optimum's point is kept.
    pub(super) fn min_both(
        &self,
        objective: &[(usize, f64)],
    ) -> (Result<f64, microlp::Error>, Result<f64, microlp::Error>) {
        let base = match self.base() {
            Ok(b) => b,
            Err(e) => return (Err(e.clone()), Err(e)),
        };
        let lp = &self.lp;
        let (down, up) = rayon::join(
            || warm_min(base, lp, objective, 1.0),
            || warm_min(base, lp, objective, -1.0),
        );
        (
            self.settle_min(down, objective, 1.0),
            self.settle_min(up, objective, -1.0),
        )
    }

    /// The minimum of `sign × objective`, warm-started as in
    /// [`Prepared::min_both`] (on this thread).
    pub(super) fn min(&self, objective: &[(usize, f64)], sign: f64) -> Result<f64, microlp::Error> {
        let base = self.base()?;
        let found = warm_min(base, &self.lp, objective, sign);
        self.settle_min(found, objective, sign)
    }

    /// Keep a warm-started optimum's point, or solve from scratch when
    /// the warm start gave none.
    fn settle_min(
        &self,
        found: Result<Option<(f64, Vec<f64>)>, microlp::Error>,
        objective: &[(usize, f64)],
        sign: f64,
    ) -> Result<f64, microlp::Error> {
        match found {
            Ok(Some((value, point))) => {
                self.points.borrow_mut().push(point);
                Ok(value)
            }
            // Clp: a miss is solved from scratch (it has no other basis
            // to try: its two models each start from their last optimum)
            #[cfg(feature = "clp")]
            Ok(None) => self.scratch(objective, sign),
            // the incremental re-solve from another basis usually gets
            // through where this one ran into trouble
            #[cfg(not(feature = "clp"))]
            Ok(None) => match self.alternative().map(|b| warm_min(b, &self.lp, objective, sign)) {
                Ok(Ok(Some((value, point)))) => {
                    WARM_MISSES[2].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.points.borrow_mut().push(point);
                    Ok(value)
                }
                _ => self.scratch(objective, sign),
            },
            Err(e) => Err(e),
        }
    }

    /// The feasibility problem solved to another basis (solved now if not
    /// yet): see [`Lp::solve_base`].
    #[cfg_attr(feature = "clp", allow(dead_code))]
    fn alternative(&self) -> Result<&Base, microlp::Error> {
        if let Some(b) = self.alt.get() {
            return Ok(b);
        }
        let b = self.lp.solve_base(true, self.zbound)?;
        Ok(self.alt.get_or_init(|| b))
    }

    /// Minimum of `sign × objective`, solved from scratch.
    pub(super) fn scratch(&self, objective: &[(usize, f64)], sign: f64) -> Result<f64, microlp::Error> {
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
    pub(super) fn adopt(&self, points: &[Vec<f64>]) {
        let mut mine = self.points.borrow_mut();
        for p in points {
            if p.len() == self.len() && self.satisfies(p) {
                mine.push(p.clone());
            }
        }
    }

    /// The range of an expression over the points met so far.
    pub(super) fn span(&self, objective: &[(usize, f64)]) -> (f64, f64) {
        self.points.borrow().span(objective)
    }

    /// An interval the points prove safe without solving: its feasible
    /// interval contains every value at a feasible point, so it starts at
    /// or below the points' smallest value and is at least as wide as their
    /// range. `None` when the points prove nothing; the interval returned
    /// is the points' range (inside the feasible one).
    pub(super) fn certify(&self, objective: &[(usize, f64)], policy: &Policy) -> Option<Interval> {
        let (vmin, vmax) = self.span(objective);
        if !vmin.is_finite() {
            return None;
        }
        let lo = count_at_least(vmin);
        if vmax >= BIG / 2.0 {
            return Some(Interval { lo, hi: None });
        }
        let hi = count_at_most(vmax).max(lo);
        let interval = Interval { lo, hi: Some(hi) };
        let wide = hi - lo >= policy.min_width();
        (lo < policy.sensitive_range().0 || wide).then_some(interval)
    }

    /// Does a point satisfy the bounds and constraints? (See
    /// [`Lp::satisfies`].)
    pub(super) fn satisfies(&self, x: &[f64]) -> bool {
        self.lp.satisfies(x)
    }

    /// The interval solved from scratch (to confirm an unsafe finding).
    pub(super) fn exact_interval(&self, objective: &[(usize, f64)]) -> Result<Interval, microlp::Error> {
        let lo = self.scratch(objective, 1.0)?;
        let hi = -self.scratch(objective, -1.0)?;
        let lo = count_at_least(lo);
        let hi = if hi >= BIG / 2.0 {
            None
        } else {
            Some(count_at_most(hi).max(lo))
        };
        Ok(Interval { lo, hi })
    }

    /// Integer interval of a linear expression over the polytope.
    pub(super) fn interval(&self, objective: &[(usize, f64)]) -> Result<Interval, microlp::Error> {
        let (down, up) = self.min_both(objective);
        let lo = count_at_least(down?);
        let hi = -up?;
        let hi = (hi < BIG / 2.0).then(|| count_at_most(hi).max(lo));
        Ok(Interval { lo, hi })
    }
}

/// The reader's program split into independent parts: the connected
/// components of the graph joining variables that share a constraint (or
/// whose difference is checked).
pub(super) struct Parts {
    pub(super) comp: Vec<usize>,
    pub(super) local: Vec<usize>,
    pub(super) lps: Vec<Lp>,
}

pub(super) fn split(lp: &Lp, pairs: &[(usize, usize)]) -> Parts {
    let n = lp.bounds.len();
    let mut uf: Vec<usize> = (0..n).collect();
    pub(super) fn find(uf: &mut [usize], mut x: usize) -> usize {
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

#[cfg(test)]
mod reduce_tests {
    use super::*;

    /// A rounded value fixed by its bounds, tied to its count by two rows:
    /// the reduced program gives the same optimum and a point over every
    /// variable (the fixed one at its value), cold and warm-started.
    #[test]
    fn fixed_values_and_one_variable_rows_solve_as_the_full_program() {
        let mut lp = Lp::default();
        let r = lp.var(10.0, 10.0);
        let x = lp.var(0.0, f64::INFINITY);
        let y = lp.var(0.0, f64::INFINITY);
        lp.constrain(vec![(x, 1.0), (r, -1.0)], ComparisonOp::Ge, -2.0);
        lp.constrain(vec![(x, 1.0), (r, -1.0)], ComparisonOp::Le, 2.0);
        lp.constrain(vec![(x, 1.0), (y, 1.0)], ComparisonOp::Eq, 15.0);
        let red = lp.reduce().unwrap();
        assert_eq!(red.bounds.len(), 2, "the fixed value is not a column");
        assert_eq!(red.rows.len(), 1, "the two one-variable rows are bounds");
        let (v, p) = lp
            .optimise(&[(x, 1.0), (r, 1.0)], OptimizationDirection::Minimize)
            .unwrap()
            .unwrap();
        assert!((v - 18.0).abs() < 1e-9, "{v}");
        assert_eq!(p.len(), 3);
        assert!((p[r] - 10.0).abs() < 1e-12 && (p[x] - 8.0).abs() < 1e-9 && (p[y] - 7.0).abs() < 1e-9);
        let prepared = lp.lazy();
        let iv = prepared.interval(&[(x, 1.0), (r, -1.0), (y, 0.5)]).unwrap();
        // x - r + y/2 = x/2 - 2.5 with x in [8, 12]: [1.5, 3.5]
        assert_eq!(iv, Interval { lo: 2, hi: Some(3) });
        let (lo, hi) = prepared.min_both(&[(x, 1.0), (r, -1.0)]);
        assert!((lo.unwrap() + 2.0).abs() < 1e-9);
        assert!((hi.unwrap() + 2.0).abs() < 1e-9);
        assert!(prepared
            .points
            .borrow_mut()
            .take()
            .iter()
            .all(|q| q.len() == 3 && (q[r] - 10.0).abs() < 1e-12));
    }

    /// Fixed values that break a constraint on their own make the
    /// program infeasible, as the full program is.
    #[test]
    fn fixed_values_breaking_a_row_are_infeasible() {
        let mut lp = Lp::default();
        let a = lp.var(3.0, 3.0);
        let b = lp.var(4.0, 4.0);
        let c = lp.var(0.0, 9.0);
        lp.constrain(vec![(a, 1.0), (b, 1.0)], ComparisonOp::Eq, 8.0);
        lp.constrain(vec![(a, 1.0), (c, 1.0)], ComparisonOp::Le, 9.0);
        assert!(matches!(lp.reduce(), Err(microlp::Error::Infeasible)));
        assert!(matches!(
            lp.optimise(&[(c, 1.0)], OptimizationDirection::Minimize),
            Err(microlp::Error::Infeasible)
        ));
    }

    /// A small table: four cells summing to a published total, two of
    /// them published rounded, one difference between cells.
    fn table() -> (Lp, [usize; 4]) {
        let mut lp = Lp::default();
        let x: Vec<usize> = (0..4).map(|_| lp.var(0.0, 40.0)).collect();
        lp.constrain(x.iter().map(|&v| (v, 1.0)).collect(), ComparisonOp::Eq, 40.0);
        lp.constrain(vec![(x[0], 1.0)], ComparisonOp::Ge, 8.0);
        lp.constrain(vec![(x[0], 1.0)], ComparisonOp::Le, 12.0);
        lp.constrain(vec![(x[1], 1.0)], ComparisonOp::Ge, 13.0);
        lp.constrain(vec![(x[1], 1.0)], ComparisonOp::Le, 17.0);
        lp.constrain(vec![(x[2], 1.0), (x[3], -1.0)], ComparisonOp::Le, 3.0);
        (lp, [x[0], x[1], x[2], x[3]])
    }

    /// The basis reached with the constraints in reverse order gives the
    /// same optima as the usual one, at points satisfying every
    /// constraint: a warm start that fails on one basis may be retried on
    /// the other.
    #[test]
    fn the_other_basis_gives_the_same_optima() {
        let (lp, x) = table();
        let zbound = lp.lazy().zbound;
        assert!(zbound < 1e4, "bounded by the variables' bounds: {zbound}");
        let usual = lp.solve_base(false, zbound).unwrap();
        let other = lp.solve_base(true, zbound).unwrap();
        for obj in [
            vec![(x[2], 1.0)],
            vec![(x[3], 1.0)],
            vec![(x[2], 1.0), (x[0], -1.0)],
        ] {
            for sign in [1.0, -1.0] {
                let (a, pa) = warm_min(&usual, &lp, &obj, sign).unwrap().unwrap();
                let (b, pb) = warm_min(&other, &lp, &obj, sign).unwrap().unwrap();
                let (c, _) = lp
                    .optimise(
                        &obj.iter().map(|&(v, k)| (v, sign * k)).collect::<Vec<_>>(),
                        OptimizationDirection::Minimize,
                    )
                    .unwrap()
                    .unwrap();
                assert!((a - c).abs() < 1e-9 && (b - c).abs() < 1e-9, "{a} {b} {c}");
                assert!(lp.satisfies(&pa) && lp.satisfies(&pb));
            }
        }
        // x2 + x3 in [11, 19], x2 - x3 <= 3: x2 in [0, 11]
        let prepared = lp.lazy();
        assert_eq!(
            prepared.interval(&[(x[2], 1.0)]).unwrap(),
            Interval { lo: 0, hi: Some(11) }
        );
        assert!((prepared.min(&[(x[2], 1.0)], -1.0).unwrap() + 11.0).abs() < 1e-9);
    }

    /// Two releases of a two-cell table (cell 0 of each release: a count
    /// that only grows), the second release's total published as 30: the
    /// Clp extender gives the same extensions as a program solved from
    /// scratch, point after point (warm), and none where the old point
    /// leaves no room.
    #[cfg(feature = "clp")]
    #[test]
    fn the_extender_extends_as_a_program_from_scratch() {
        let mut lp = Lp::default();
        let a: Vec<usize> = (0..2).map(|_| lp.var(0.0, 40.0)).collect();
        let b: Vec<usize> = (0..2).map(|_| lp.var(0.0, 40.0)).collect();
        lp.constrain(vec![(a[0], 1.0), (b[0], -1.0)], ComparisonOp::Le, 0.0);
        lp.constrain(vec![(b[0], 1.0), (b[1], 1.0)], ComparisonOp::Eq, 30.0);
        lp.constrain(vec![(b[1], 1.0)], ComparisonOp::Ge, 5.0);
        for sign in [1.0, -1.0] {
            let mut e = Extender::new(&lp, 2, sign).expect("new variables");
            for p in [[3.0, 9.0], [20.0, 1.0], [12.0, 0.0], [0.0, 0.0]] {
                let fast = e.extend(&p).expect("an extension");
                let slow = lp.extend(&p, sign).expect("an extension");
                assert!(lp.satisfies(&fast), "{fast:?}");
                let sum = |x: &[f64]| x[2] + x[3];
                assert!((sum(&fast) - sum(&slow)).abs() < 1e-9, "{fast:?} {slow:?}");
                assert!(fast[b[0]] >= p[0] - 1e-9);
            }
            // cell 0 at 26 leaves at most 4 for the other new cell, below 5
            assert!(e.extend(&[26.0, 0.0]).is_none());
            assert!(e.extend(&[3.0, 9.0]).is_some(), "warm again after a miss");
        }
    }
}
