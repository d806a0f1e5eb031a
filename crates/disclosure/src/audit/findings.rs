//! What is checked about each published quantity, and how its interval
//! is settled: by feasible points, by the warm-started solver, or from
//! scratch.

// Grid code indexes several parallel grids by (row, column).
#![allow(clippy::needless_range_loop)]

use super::lp::{count_at_least, count_at_most, Prepared, BIG};
use super::model::{sum_rounded_cross_totals, Faithful, Layout};
use super::{is_safe, Confirm, FindingKey, FindingKind, Interval, Scope};
use crate::policy::{Policy, TotalsRule};
use crate::table::{Published, Release};

/// Does an interval from the incremental solver need solving from scratch?
/// Its minimum can only be too high and its maximum too low (see
/// [`Prepared`]): a narrow interval, or one whose lower bound lies above
/// the suppression range, may be an artefact.
pub(super) fn needs_confirmation(interval: Interval, policy: &Policy) -> bool {
    let wide = match interval.width() {
        None => true,
        Some(w) => w >= policy.min_width(),
    };
    !is_safe(interval, policy) || (interval.lo > policy.sensitive_range().1 && !wide)
}

/// Safe in a way that survives suppressing more cells (which widens every
/// interval): starts below the suppression range, or wide enough.
pub(super) fn robustly_safe(interval: Interval, policy: &Policy) -> bool {
    interval.lo < policy.sensitive_range().0 || interval.width().is_none_or(|w| w >= policy.min_width())
}

/// What a finding checks.
#[derive(Clone, Copy)]
pub(super) enum Check {
    Suppressed,
    Difference,
    /// A rounded count that must keep this many feasible values.
    Rounded(u64),
}

pub(super) fn check_safe(check: Check, interval: Interval, policy: &Policy) -> bool {
    match check {
        Check::Rounded(need) => interval.width().is_none_or(|w| w + 1 >= need),
        _ => is_safe(interval, policy),
    }
}

pub(super) fn check_robust(check: Check, interval: Interval, policy: &Policy) -> bool {
    match check {
        Check::Rounded(_) => check_safe(check, interval, policy),
        _ => robustly_safe(interval, policy),
    }
}

/// An interval the feasible points met so far prove safe (see
/// [`Prepared::certify`]); `None` when they prove nothing.
pub(super) fn by_points(
    lp: &Prepared,
    obj: &[(usize, f64)],
    check: Check,
    policy: &Policy,
) -> Option<Interval> {
    match check {
        Check::Rounded(need) => {
            let (vmin, vmax) = lp.span(obj);
            if !vmin.is_finite() {
                return None;
            }
            let lo = count_at_least(vmin);
            let hi = count_at_most(vmax).max(lo);
            (hi - lo + 1 >= need).then_some(Interval { lo, hi: Some(hi) })
        }
        _ => lp.certify(obj, policy),
    }
}

/// Ends of a finding's interval already exact before the whole part is
/// solved (a window's relaxation bounds every feasible value, and a
/// feasible point reaches its end).
#[derive(Clone, Copy, Default)]
pub(super) struct Ends {
    pub(super) lo: Option<u64>,
    /// `Some(None)`: unbounded.
    pub(super) hi: Option<Option<u64>>,
}

/// The interval of one finding's expression in its part of the program:
/// proven by the feasible points met so far, or each end not `known`
/// solved over the whole part (both at once, on two cores, when neither
/// is known).
#[allow(clippy::too_many_arguments)]
pub(super) fn settle(
    lp: &Prepared,
    obj: &[(usize, f64)],
    check: Check,
    policy: &Policy,
    scope: &Scope,
    known: Ends,
    programs: &mut usize,
    certified: &mut usize,
) -> Result<Interval, microlp::Error> {
    if scope.certify {
        if let Some(iv) = by_points(lp, obj, check, policy) {
            *certified += 1;
            return Ok(iv);
        }
    }
    let upper = |max: f64, lo: u64| (max < BIG / 2.0).then(|| count_at_most(max).max(lo));
    let mut interval = match (known.lo, known.hi) {
        (Some(lo), Some(hi)) => Interval {
            lo,
            hi: hi.map(|h| h.max(lo)),
        },
        (Some(lo), None) => {
            *programs += 1;
            let max = -lp.min(obj, -1.0)?;
            Interval {
                lo,
                hi: upper(max, lo),
            }
        }
        (None, Some(hi)) => {
            *programs += 1;
            let lo = count_at_least(lp.min(obj, 1.0)?);
            Interval {
                lo,
                hi: hi.map(|h| h.max(lo)),
            }
        }
        (None, None) => {
            *programs += 2;
            lp.interval(obj)?
        }
    };
    // a difference's upper end is only used when its lower one lies in
    // the suppression range or above
    if matches!(check, Check::Difference)
        && (interval.lo < policy.sensitive_range().0 || interval.hi.is_none())
    {
        return Ok(Interval {
            lo: interval.lo,
            hi: None,
        });
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
pub(super) struct Candidate {
    pub(super) release: usize,
    pub(super) table: usize,
    pub(super) position: (usize, usize),
    pub(super) kind: FindingKind,
    pub(super) check: Check,
    pub(super) key: FindingKey,
    pub(super) objective: Vec<(usize, f64)>,
}

/// Every suppressed cell and every rounded count to check (faithful quotes
/// excepted: they are functions of cells checked in their own series).
pub(super) fn cell_candidates(
    releases: &[Release],
    layout: &Layout,
    faithful: &Faithful,
    policy: &Policy,
) -> Vec<Candidate> {
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
    cands
}

/// Every difference between two releases of a series' cumulative table
/// that published values do not already show to be large.
pub(super) fn difference_candidates(
    releases: &[Release],
    layout: &Layout,
    faithful: &Faithful,
    policy: &Policy,
) -> Vec<Candidate> {
    let mut cands: Vec<Candidate> = Vec::new();
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
    cands
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::lp::Lp;
    use microlp::ComparisonOp;

    /// An end already known exact (from a window's relaxation) leaves only
    /// the other to solve: the interval is the one both ends solved give,
    /// from one program instead of two.
    #[test]
    fn a_known_end_gives_the_same_interval_from_one_program() {
        let policy = Policy::builtin("nhs-hes").expect("built-in");
        // two cells summing to a total published as 9 to 11, the first at
        // least 2: the first lies in [2, 11]
        let mut lp = Lp::default();
        let a = lp.var(0.0, f64::INFINITY);
        let b = lp.var(0.0, f64::INFINITY);
        lp.constrain(vec![(a, 1.0), (b, 1.0)], ComparisonOp::Ge, 9.0);
        lp.constrain(vec![(a, 1.0), (b, 1.0)], ComparisonOp::Le, 11.0);
        lp.constrain(vec![(a, 1.0)], ComparisonOp::Ge, 2.0);
        let obj = [(a, 1.0)];
        let exact = Interval { lo: 2, hi: Some(11) };
        for scope in [Scope::EXACT, Scope::protect(0)] {
            let cases = [
                (Ends::default(), 2),
                (
                    Ends {
                        lo: Some(2),
                        hi: None,
                    },
                    1,
                ),
                (
                    Ends {
                        lo: None,
                        hi: Some(Some(11)),
                    },
                    1,
                ),
                (
                    Ends {
                        lo: Some(2),
                        hi: Some(Some(11)),
                    },
                    0,
                ),
            ];
            for (known, solved) in cases {
                let prepared = lp.lazy();
                let (mut programs, mut certified) = (0, 0);
                let iv = settle(
                    &prepared,
                    &obj,
                    Check::Suppressed,
                    &policy,
                    &scope,
                    known,
                    &mut programs,
                    &mut certified,
                )
                .unwrap();
                assert_eq!(iv, exact);
                assert_eq!(programs, solved, "programs solved");
                assert_eq!(certified, 0);
            }
        }
        // a difference starting below the suppression range keeps no
        // upper end, whichever end was known
        let prepared = lp.lazy();
        let (mut programs, mut certified) = (0, 0);
        let known = Ends {
            lo: None,
            hi: Some(Some(11)),
        };
        let iv = settle(
            &prepared,
            &obj,
            Check::Difference,
            &policy,
            &Scope::EXACT,
            known,
            &mut programs,
            &mut certified,
        )
        .unwrap();
        assert_eq!(iv, Interval { lo: 2, hi: Some(11) }, "2 is inside the range 1-7");
        let b_obj = [(b, 1.0)];
        let iv = settle(
            &lp.lazy(),
            &b_obj,
            Check::Difference,
            &policy,
            &Scope::EXACT,
            Ends::default(),
            &mut programs,
            &mut certified,
        )
        .unwrap();
        assert_eq!(iv, Interval { lo: 0, hi: None }, "0 is below the range");
    }
}
