//! The fuzzy decision over a stream of candidates: fit the match model (or
//! find the Dice valley) from what the candidates show, then keep the pairs
//! it accepts, in the order they are assigned one to one.
//!
//! Each step is one scan of the blocks ([`Plan::fold`]): comparison
//! patterns are counted (distinct level vectors, not one per candidate),
//! rows' best scores are kept per row, and only accepted pairs are stored.

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

/// Fit the match model on the candidates, or `None` when there are fewer
/// than `min` of them. With field encodings u comes from random pairs and
/// m and the prior over all pairs from EM; otherwise a mixture over the
/// candidates, u starting from the candidates that are no row's best.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fit_model(
    plan: &Plan<'_>,
    left: &Side,
    right: &Side,
    l_ok: &[bool],
    r_ok: &[bool],
    ev: &Evidence<'_>,
    min: usize,
) -> Option<model::Model> {
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

/// How a candidate is accepted.
pub(crate) enum Rule<'m> {
    /// Match probability at least 0.5 under the model.
    Model(&'m model::Model),
    /// Record Dice at least this.
    Dice(f64),
}

/// One scan: the candidates between eligible rows that `rule` accepts, with
/// their probabilities (1 under a Dice rule), in assignment order: most
/// probable first, then by Dice, then left row, then right row.
#[allow(clippy::too_many_arguments)]
pub(crate) fn accepted(
    plan: &Plan<'_>,
    left: &Side,
    right: &Side,
    l_ok: &[bool],
    r_ok: &[bool],
    ev: &Evidence<'_>,
    rule: &Rule<'_>,
) -> Vec<(f64, Cand)> {
    let mut out = plan
        .fold(
            || (Vec::new(), Vec::new()),
            |(acc, v): &mut (Vec<(f64, Cand)>, Vec<u8>), c| {
                if !l_ok[c.l as usize] || !r_ok[c.r as usize] {
                    return;
                }
                match rule {
                    Rule::Model(m) => {
                        v.clear();
                        ev.pair_levels(left, right, c.l as usize, c.r as usize, c.score, v);
                        let p = m.probability(v);
                        if p >= 0.5 {
                            acc.push((p, c));
                        }
                    }
                    Rule::Dice(t) => {
                        if c.score >= *t {
                            acc.push((1.0, c));
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
            .then(b.1.score.total_cmp(&a.1.score))
            .then(a.1.l.cmp(&b.1.l))
            .then(a.1.r.cmp(&b.1.r))
    });
    out
}
