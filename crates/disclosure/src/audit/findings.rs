//! What is checked about each published quantity, and how its interval
//! is settled: by feasible points, by the warm-started solver, or from
//! scratch.

// Grid code indexes several parallel grids by (row, column).
#![allow(clippy::needless_range_loop)]

use super::lp::{count_at_least, count_at_most, Prepared};
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

/// The interval of one finding's expression in its part of the program.
pub(super) fn settle(
    lp: &Prepared,
    obj: &[(usize, f64)],
    check: Check,
    policy: &Policy,
    scope: &Scope,
    programs: &mut usize,
    certified: &mut usize,
) -> Result<Interval, microlp::Error> {
    if scope.certify {
        if let Some(iv) = by_points(lp, obj, check, policy) {
            *certified += 1;
            return Ok(iv);
        }
    }
    let mut interval = match check {
        Check::Difference => {
            // both ends at once (two cores); the upper end is only used
            // when the lower one lies in the suppression range or above
            let iv = lp.interval(obj)?;
            *programs += 2;
            if iv.lo >= policy.sensitive_range().0 {
                iv
            } else {
                Interval { lo: iv.lo, hi: None }
            }
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
