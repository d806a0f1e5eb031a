//! The fuzzy decision over a stream of candidates: fit the match model (or
//! find the Dice valley) from what the candidates show, then keep the pairs
//! it accepts, in the order they are assigned one to one.
//!
//! Each step is one scan of the blocks ([`Plan::fold`]): comparison
//! patterns are counted (distinct level vectors, not one per candidate),
//! rows' best scores are kept per row, and only accepted pairs are stored.
//! Under the all-pairs prior one more scan sums each row's candidate odds
//! for the one-to-one posterior ([`model::one_to_one_posterior`]).

use crate::blocks::{Cand, Plan};
use crate::evidence::{random_pair_u, sampled_u, Evidence};
use crate::model;
use crate::side::Side;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinct comparison vectors with their counts: all candidates, and those
/// that are the best-scoring candidate of neither their left nor right row.
type Patterns = HashMap<Box<[u8]>, (f64, f64)>;

fn merge_patterns(mut a: Patterns, b: Patterns) -> Patterns {
    if a.len() < b.len() {
        return merge_patterns(b, a);
    }
    for (k, (n, x)) in b {
        let e = a.entry(k).or_insert((0.0, 0.0));
        e.0 += n;
        e.1 += x;
    }
    a
}

/// Each row's best candidate score (0 for none), both sides.
pub(crate) struct Bests {
    pub(crate) left: Vec<f64>,
    pub(crate) right: Vec<f64>,
    /// Candidates seen.
    pub(crate) count: usize,
}

/// One scan: every row's best score and the number of candidates.
pub(crate) fn bests(plan: &Plan<'_>, nl: usize, nr: usize) -> Bests {
    // Scores are non-negative, so their bit patterns order as the scores do.
    let bl: Vec<AtomicU64> = (0..nl).map(|_| AtomicU64::new(0)).collect();
    let br: Vec<AtomicU64> = (0..nr).map(|_| AtomicU64::new(0)).collect();
    let count = plan.fold(
        || 0usize,
        |n, c| {
            *n += 1;
            bl[c.l as usize].fetch_max(c.score.to_bits(), Ordering::Relaxed);
            br[c.r as usize].fetch_max(c.score.to_bits(), Ordering::Relaxed);
        },
        |a, b| a + b,
    );
    let f = |v: Vec<AtomicU64>| v.into_iter().map(|x| f64::from_bits(x.into_inner())).collect();
    Bests {
        left: f(bl),
        right: f(br),
        count,
    }
}

/// One scan: the candidates' comparison patterns (with `bests`, also
/// counted among the candidates that are no row's best).
fn patterns(
    plan: &Plan<'_>,
    left: &Side,
    right: &Side,
    ev: &Evidence<'_>,
    bests: Option<&Bests>,
) -> Patterns {
    plan.fold(
        || (Patterns::new(), Vec::new()),
        |(pats, v), c| {
            v.clear();
            ev.pair_levels(left, right, c.l as usize, c.r as usize, c.score, v);
            let non_best =
                bests.is_some_and(|b| c.score < b.left[c.l as usize] && c.score < b.right[c.r as usize]);
            let add = (1.0, if non_best { 1.0 } else { 0.0 });
            match pats.get_mut(&v[..]) {
                Some(e) => {
                    e.0 += add.0;
                    e.1 += add.1;
                }
                None => {
                    pats.insert(v[..].into(), add);
                }
            }
        },
        |a, b| (merge_patterns(a.0, b.0), Vec::new()),
    )
    .0
}

/// Patterns sorted by vector, as [`model::Model::fit_patterns`] takes them.
fn sorted(p: &Patterns) -> Vec<(&[u8], f64)> {
    let mut v: Vec<(&[u8], f64)> = p.iter().map(|(k, c)| (&k[..], c.0)).collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// What every scan of the fuzzy decision reads: the candidate plan, the two
/// sides, which of their rows take part, and the evidence compared.
#[derive(Clone, Copy)]
pub(crate) struct Fit<'a> {
    pub(crate) plan: &'a Plan<'a>,
    pub(crate) left: &'a Side,
    pub(crate) right: &'a Side,
    /// The left rows that take part (a candidate of any other row is skipped).
    pub(crate) l_ok: &'a [bool],
    /// The right rows that take part.
    pub(crate) r_ok: &'a [bool],
    pub(crate) ev: &'a Evidence<'a>,
}

/// Fit the match model on the candidates, or `None` when there are fewer
/// than `min` of them. With field encodings u comes from random pairs and
/// m and the prior over all pairs from EM; otherwise a mixture over the
/// candidates, u starting from the candidates that are no row's best.
pub(crate) fn fit_model(fit: &Fit<'_>, min: usize) -> Option<model::Model> {
    let Fit {
        plan,
        left,
        right,
        l_ok,
        r_ok,
        ev,
    } = *fit;
    let fields = ev.model_fields();
    if !ev.fields.is_empty() {
        // Field evidence: u from random pairs, m and the prior over all
        // pairs by EM (candidates stand for every pair of the two files).
        let pats = patterns(plan, left, right, ev, None);
        if (pats.values().map(|c| c.0).sum::<f64>() as usize) < min {
            return None;
        }
        let u = sampled_u(left, right, l_ok, r_ok, ev, &fields);
        let nl = l_ok.iter().filter(|x| **x).count() as f64;
        let nr = r_ok.iter().filter(|x| **x).count() as f64;
        let how = model::Fit::AllPairs {
            pairs: (nl * nr).max(1.0),
            expected: (nl.min(nr) / 2.0).max(1.0),
        };
        return Some(model::Model::fit_patterns(fields, &sorted(&pats), u, how));
    }
    let b = bests(plan, left.len(), right.len());
    if b.count < min {
        return None;
    }
    let pats = patterns(plan, left, right, ev, Some(&b));
    // u from non-matches among the candidates themselves: a pair that is
    // the best-scoring candidate of neither its left nor its right row is
    // almost never a match (one true partner per row), and unlike random
    // pairs it was selected by the same blocking, so its key agreements are
    // not mistaken for evidence.
    let mut u: Vec<Vec<f64>> = fields.iter().map(|f| vec![0.5; f.levels]).collect();
    let mut non = 0.0;
    for (p, (_, x)) in sorted_with_non_best(&pats) {
        non += x;
        for (f, &lv) in p.iter().enumerate() {
            u[f][lv as usize] += x;
        }
    }
    // Too few such pairs (sparse candidates): fall back to random pairs.
    if non < 100.0 {
        u = random_pair_u(left, right, l_ok, r_ok, ev, &fields);
    }
    // The lowest Dice level is never a candidate.
    u[0][0] = 1e-9;
    for f in &mut u {
        let s: f64 = f.iter().sum();
        for x in f.iter_mut() {
            *x /= s;
        }
    }
    Some(model::Model::fit_patterns(
        fields,
        &sorted(&pats),
        u,
        model::Fit::Candidates,
    ))
}

fn sorted_with_non_best(p: &Patterns) -> Vec<(&[u8], (f64, f64))> {
    let mut v: Vec<(&[u8], (f64, f64))> = p.iter().map(|(k, c)| (&k[..], *c)).collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// Fixed-point unit of the pair odds summed per row: sums of integers do
/// not depend on the order the candidates arrive in (threads), so the
/// decision is deterministic.
const ODDS_UNIT: f64 = (1u64 << 20) as f64;
/// Pair odds above this count as this (a probability of 1 − 1e-6) in the
/// sums, so a row's sum cannot overflow.
const ODDS_CAP: f64 = (1u64 << 20) as f64;

fn odds_units(o: f64) -> u64 {
    if o.is_nan() {
        return 0;
    }
    (o.min(ODDS_CAP) * ODDS_UNIT).round() as u64
}

/// What the one-to-one posterior ([`model::one_to_one_posterior`]) needs:
/// every eligible row's summed candidate odds, and per side the scale and
/// the share of rows with a partner.
pub(crate) struct OneToOne {
    left: Vec<u64>,
    right: Vec<u64>,
    /// (scale, rho) for left rows, then right rows.
    pub(crate) left_view: (f64, f64),
    pub(crate) right_view: (f64, f64),
}

impl OneToOne {
    fn posterior(&self, o: f64, c: Cand) -> f64 {
        let q = odds_units(o);
        if q == 0 {
            return 0.0;
        }
        let own = q as f64 / ODDS_UNIT;
        let sl = self.left[c.l as usize] as f64 / ODDS_UNIT;
        let sr = self.right[c.r as usize] as f64 / ODDS_UNIT;
        let pl = model::one_to_one_posterior(own, sl, self.left_view.0, self.left_view.1);
        let pr = model::one_to_one_posterior(own, sr, self.right_view.0, self.right_view.1);
        pl.min(pr)
    }
}

/// One scan: every eligible row's sum of its eligible candidates' odds
/// under `m`, for the one-to-one posterior. `matched` rows were paired by
/// tokens already; `rows` the rows (left, right) the prior was fitted over,
/// `eligible` those left for the fuzzy decision.
pub(crate) fn one_to_one(fit: &Fit<'_>, m: &model::Model, matched: usize) -> OneToOne {
    let Fit {
        plan,
        left,
        right,
        l_ok,
        r_ok,
        ev,
    } = *fit;
    let sl: Vec<AtomicU64> = (0..left.len()).map(|_| AtomicU64::new(0)).collect();
    let sr: Vec<AtomicU64> = (0..right.len()).map(|_| AtomicU64::new(0)).collect();
    plan.fold(
        Vec::new,
        |v: &mut Vec<u8>, c| {
            if !l_ok[c.l as usize] || !r_ok[c.r as usize] {
                return;
            }
            v.clear();
            ev.pair_levels(left, right, c.l as usize, c.r as usize, c.score, v);
            let q = odds_units(m.odds(v));
            if q > 0 {
                sl[c.l as usize].fetch_add(q, Ordering::Relaxed);
                sr[c.r as usize].fetch_add(q, Ordering::Relaxed);
            }
        },
        |a, _| a,
    );
    let nl = l_ok.iter().filter(|x| **x).count().max(1) as f64;
    let nr = r_ok.iter().filter(|x| **x).count().max(1) as f64;
    let (al, ar) = (
        left.has_clk.iter().filter(|x| **x).count() as f64,
        right.has_clk.iter().filter(|x| **x).count() as f64,
    );
    // Matches the prior implies among the fitted rows, less the pairs
    // tokens made: those left among the eligible rows.
    let expected = (m.lambda * al * ar - matched as f64).max(0.0);
    // A left row's partner is one of the nr eligible right rows: pair
    // prior rho_l / nr where the model's is lambda.
    let view = |n: f64, other: f64| {
        let rho = (expected / n).clamp(0.0, model::RHO_MAX);
        let scale = if m.lambda > 0.0 {
            rho / other / m.lambda
        } else {
            0.0
        };
        (scale, rho)
    };
    OneToOne {
        left: sl.into_iter().map(AtomicU64::into_inner).collect(),
        right: sr.into_iter().map(AtomicU64::into_inner).collect(),
        left_view: view(nl, nr),
        right_view: view(nr, nl),
    }
}

/// How a candidate is accepted.
pub(crate) enum Rule<'m> {
    /// Match probability (or, with [`OneToOne`], one-to-one posterior) at
    /// least 0.5 under the model.
    Model(&'m model::Model, Option<&'m OneToOne>),
    /// Record Dice at least this.
    Dice(f64),
}

/// One scan: the candidates between eligible rows that `rule` accepts, with
/// their probabilities (1 under a Dice rule; the larger of the match
/// probability and the one-to-one posterior under the model) and whether
/// only the one-to-one posterior accepted them, in assignment order: most
/// probable first, then by Dice, then left row, then right row.
pub(crate) fn accepted(fit: &Fit<'_>, rule: &Rule<'_>) -> Vec<(f64, bool, Cand)> {
    let Fit {
        plan,
        left,
        right,
        l_ok,
        r_ok,
        ev,
    } = *fit;
    let mut out = plan
        .fold(
            || (Vec::new(), Vec::new()),
            |(acc, v): &mut (Vec<(f64, bool, Cand)>, Vec<u8>), c| {
                if !l_ok[c.l as usize] || !r_ok[c.r as usize] {
                    return;
                }
                match rule {
                    Rule::Model(m, one) => {
                        v.clear();
                        ev.pair_levels(left, right, c.l as usize, c.r as usize, c.score, v);
                        let p = m.probability(v);
                        let q = one.map_or(0.0, |o| o.posterior(m.odds(v), c));
                        if p >= 0.5 || q >= 0.5 {
                            acc.push((p.max(q), p < 0.5, c));
                        }
                    }
                    Rule::Dice(t) => {
                        if c.score >= *t {
                            acc.push((1.0, false, c));
                        }
                    }
                }
            },
            |mut a, b| {
                a.0.extend(b.0);
                a
            },
        )
        .0;
    out.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(b.2.score.total_cmp(&a.2.score))
            .then(a.2.l.cmp(&b.2.l))
            .then(a.2.r.cmp(&b.2.r))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(left: Vec<f64>, right: Vec<f64>, rho: f64) -> OneToOne {
        let u = |v: Vec<f64>| v.into_iter().map(odds_units).collect();
        OneToOne {
            left: u(left),
            right: u(right),
            left_view: (1.0, rho),
            right_view: (1.0, rho),
        }
    }

    fn cand(l: u32, r: u32) -> Cand {
        Cand { score: 0.9, l, r }
    }

    #[test]
    fn uncontested_pairs_pass_contested_do_not() {
        // Left 0 has one candidate (right 0, odds 0.25: probability 0.2).
        // Left 1 has two of equal odds (right 1 and right 2).
        let o = one(vec![0.25, 0.5], vec![0.25, 0.25, 0.25], 0.99);
        assert!(o.posterior(0.25, cand(0, 0)) >= 0.5);
        assert!(o.posterior(0.25, cand(1, 1)) < 0.5);
        assert!(o.posterior(0.25, cand(1, 2)) < 0.5);
        // Few rows with partners: no more than the match probability.
        let o = one(vec![0.25], vec![0.25], 0.0);
        assert!((o.posterior(0.25, cand(0, 0)) - 0.2).abs() < 1e-6);
        // A rival on the right side alone is enough to refuse.
        let o = one(vec![0.25], vec![0.5], 0.99);
        assert!(o.posterior(0.25, cand(0, 0)) < 0.5);
    }

    #[test]
    fn odds_units_are_capped_and_ordered() {
        assert_eq!(odds_units(f64::NAN), 0);
        assert_eq!(odds_units(f64::INFINITY), odds_units(ODDS_CAP));
        assert!(odds_units(0.5) < odds_units(0.6));
        // A row can sum 2^24 capped candidates without overflow.
        assert!(odds_units(ODDS_CAP).checked_mul(1 << 23).is_some());
    }
}
