//! Outer bounds on every variable of the reader's program by constraint
//! propagation, without solving it.
//!
//! Each constraint `Σ aᵢ xᵢ ≤ b` (an equation is two) bounds each of its
//! variables by what the others can at least contribute:
//! `aⱼ xⱼ ≤ b − Σ_{i≠j} min(aᵢ xᵢ)`. Sweeping every constraint forwards and
//! backwards until nothing moves (or a sweep limit) gives a box that
//! contains every point of the program: each step only uses consequences of
//! the constraints. A quantity whose lower end over that box lies above the
//! suppression range has a feasible interval that does too, so it is safe
//! without solving a linear program; nothing else is decided from the box
//! (a box that is too wide proves nothing, so a sweep limit can only cost
//! time, never soundness).
//!
//! Arithmetic is in `f64` on counts far below 2⁵³; every derived bound is
//! loosened by a relative 1e-9 before use, so rounding cannot tighten it.

use super::lp::Lp;
use microlp::ComparisonOp;
use std::collections::BTreeMap;

/// Most sweeps over the constraints (each sweep alternates direction).
const MAX_SWEEPS: usize = 40;

/// An improvement smaller than this does not count as a change.
const MOVE: f64 = 1e-7;

/// Outer bounds `(lo, hi)` of every variable of `lp`; `None` when
/// propagation finds the program infeasible (it is then left to the solver
/// to report).
pub(super) fn propagate(lp: &Lp) -> Option<Vec<(f64, f64)>> {
    let mut b = lp.bounds.clone();
    // each constraint as `Σ a x ≤ rhs` rows, terms merged
    let mut rows: Vec<(Vec<(usize, f64)>, f64)> = Vec::with_capacity(lp.constraints.len() * 2);
    for (terms, op, rhs) in &lp.constraints {
        let mut merged: BTreeMap<usize, f64> = BTreeMap::new();
        for &(v, c) in terms {
            *merged.entry(v).or_default() += c;
        }
        let t: Vec<(usize, f64)> = merged.into_iter().filter(|&(_, c)| c != 0.0).collect();
        let neg = || t.iter().map(|&(v, c)| (v, -c)).collect::<Vec<_>>();
        match op {
            ComparisonOp::Le => rows.push((t, *rhs)),
            ComparisonOp::Ge => rows.push((neg(), -rhs)),
            ComparisonOp::Eq => {
                rows.push((neg(), -rhs));
                rows.push((t, *rhs));
            }
        }
    }
    for sweep in 0..MAX_SWEEPS {
        let mut changed = false;
        if sweep % 2 == 0 {
            for (t, rhs) in &rows {
                changed |= tighten(&mut b, t, *rhs);
            }
        } else {
            for (t, rhs) in rows.iter().rev() {
                changed |= tighten(&mut b, t, *rhs);
            }
        }
        if b.iter().any(|&(lo, hi)| lo > hi + 1e-6 * (1.0 + hi.abs())) {
            return None;
        }
        if !changed {
            break;
        }
    }
    Some(b)
}

/// The least a term `a x` can contribute over the box.
fn least(a: f64, (lo, hi): (f64, f64)) -> f64 {
    if a > 0.0 {
        a * lo
    } else {
        a * hi
    }
}

/// Tighten the variables of `Σ a x ≤ rhs`; true when a bound moved.
fn tighten(b: &mut [(f64, f64)], terms: &[(usize, f64)], rhs: f64) -> bool {
    // the least activity, leaving out at most one unbounded term
    let mut finite = 0.0;
    let mut unbounded: Option<usize> = None;
    let mut contrib = Vec::with_capacity(terms.len());
    for (k, &(v, a)) in terms.iter().enumerate() {
        let m = least(a, b[v]);
        contrib.push(m);
        if m.is_finite() {
            finite += m;
        } else if unbounded.is_some() {
            return false;
        } else {
            unbounded = Some(k);
        }
    }
    let mut changed = false;
    for (k, &(v, a)) in terms.iter().enumerate() {
        let rest = match unbounded {
            Some(u) if u != k => continue,
            Some(_) => finite,
            None => finite - contrib[k],
        };
        let lim = (rhs - rest) / a;
        if !lim.is_finite() {
            continue;
        }
        let slack = 1e-9 * (1.0 + lim.abs() + rhs.abs() + rest.abs());
        if a > 0.0 {
            let nb = lim + slack;
            if nb < b[v].1 - MOVE {
                b[v].1 = nb;
                changed = true;
            }
        } else {
            let nb = lim - slack;
            if nb > b[v].0 + MOVE {
                b[v].0 = nb;
                changed = true;
            }
        }
    }
    changed
}

/// The least value of `Σ c x` over a box (−∞ when unbounded below).
pub(super) fn lower(bounds: &[(f64, f64)], objective: &[(usize, f64)]) -> f64 {
    objective.iter().map(|&(v, c)| least(c, bounds[v])).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lp(bounds: Vec<(f64, f64)>, constraints: Vec<crate::audit::lp::Constraint>) -> Lp {
        Lp { bounds, constraints }
    }

    #[test]
    fn a_total_bounds_its_hidden_part() {
        // x0 + x1 = x2, x1 in [23, 27], x2 in [48, 52], x0 >= 1
        let inf = f64::INFINITY;
        let l = lp(
            vec![(1.0, inf), (23.0, 27.0), (48.0, 52.0)],
            vec![(vec![(0, 1.0), (1, 1.0), (2, -1.0)], ComparisonOp::Eq, 0.0)],
        );
        let b = propagate(&l).unwrap();
        assert!(
            (b[0].0 - 21.0).abs() < 1e-6 && (b[0].1 - 29.0).abs() < 1e-6,
            "{b:?}"
        );
        assert!(lower(&b, &[(0, 1.0)]) > 20.9);
    }

    #[test]
    fn a_chain_carries_lower_bounds_forwards_and_upper_bounds_back() {
        let inf = f64::INFINITY;
        // x0 <= x1 <= x2, x0 >= 10, x2 <= 12
        let l = lp(
            vec![(10.0, inf), (1.0, inf), (0.0, 12.0)],
            vec![
                (vec![(0, 1.0), (1, -1.0)], ComparisonOp::Le, 0.0),
                (vec![(1, 1.0), (2, -1.0)], ComparisonOp::Le, 0.0),
            ],
        );
        let b = propagate(&l).unwrap();
        assert!(b[1].0 >= 10.0 - 1e-6 && b[1].1 <= 12.0 + 1e-6, "{b:?}");
        assert!(b[0].1 <= 12.0 + 1e-6 && b[2].0 >= 10.0 - 1e-6);
        // the difference x2 - x0 is at least -2 over the box (really 0)
        assert!(lower(&b, &[(2, 1.0), (0, -1.0)]) <= 0.0);
    }

    #[test]
    fn infeasible_programs_give_none() {
        let l = lp(
            vec![(0.0, 5.0), (10.0, 20.0)],
            vec![(vec![(0, 1.0), (1, -1.0)], ComparisonOp::Eq, 0.0)],
        );
        assert!(propagate(&l).is_none());
    }
}
