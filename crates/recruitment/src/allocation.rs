//! Response-adjusted quotas: invitations allocated so that the *expected*
//! enrolled (or responding) cohort matches a target per stratum.
//!
//! A request states its target under `[quotas.target]`: either
//! `[[quotas.stratum]]` counts read as enrolments (or responses) per
//! stratum, or `proportional = true` with a `total`, meaning "match the
//! eligible population's distribution over the strata". `invitations` is
//! then the most the batch may send.
//!
//! **Rates.** Each stratum's rate (enrolments, or responses, per
//! invitation) is estimated from the store's uptake history across every
//! study ([`store::Store::uptake_history`]), counting only invitations at
//! least `history_min_age_days` old (younger ones have not had time to
//! answer). Registry volunteers and other people are estimated separately,
//! because volunteers answer far more often and are invited first. Within
//! each group the strata share an empirical-Bayes beta prior:
//!
//! * a stratum's prior mean μₖ is a main-effects fit: the group's pooled
//!   rate times, for each stratum dimension, the pooled rate of the
//!   stratum's value (e.g. all `sex=male` history) relative to the group's
//!   (volunteers' strata take the others' μₖ scaled by the volunteers'
//!   pooled rate, their own margins being thin);
//! * the prior strength M (in pseudo-invitations) is the method-of-moments
//!   estimate for the beta-binomial around those means: with stratum
//!   counts `(nₖ, xₖ)` and `vₖ = μₖ(1−μₖ)`,
//!   `ρ = (Σ nₖ (xₖ/nₖ − μₖ)² − Σ vₖ) / Σ vₖ (nₖ − 1)`, `M = 1/ρ − 1`,
//!   clamped to `[1, 10⁶]` (ρ ≤ 0, strata varying no more than chance
//!   around the fit, pools fully); a request may fix M instead
//!   (`prior_strength`);
//! * a stratum's rate is the posterior mean `(xₖ + μₖM)/(nₖ + M)`: a
//!   stratum with little history (nₖ ≪ M) is pulled towards what its
//!   margins predict, one with much evidence keeps its own rate; the
//!   interval is the central 95% of the posterior
//!   `Beta(xₖ + μₖM, nₖ − xₖ + (1−μₖ)M)`.
//!
//! With no history at all the group's rate is `default_rate`; volunteers
//! with no history of their own are given the other group's rates.
//!
//! **Allocation.** Invitation of a stratum goes to registry volunteers first
//! (when the request prioritises them), so the expected enrolment of `n`
//! invitations is `r_reg·min(n, R) + r·max(0, n − R)` for a pool with `R`
//! volunteers. Each stratum gets the smallest `n` (rounded to the nearest
//! invitation) whose expected enrolment reaches its target, within its
//! eligible pool; a pool that runs out is flagged and its expected
//! shortfall shown. When the invitations needed exceed the request's
//! `invitations`, every target is scaled down by the same factor (the
//! cohort's distribution is kept; its size is not).
//!
//! **Top-ups.** With `net_of_study = true` a batch allocates only what the
//! study still lacks: per stratum, the target less the study's own
//! enrolments (or responses) recorded so far, and less the expected
//! successes of its invitations still awaiting an outcome — those made after
//! the history cut-off (as-of date − `history_min_age_days`) with no outcome
//! yet, each at its group's estimated rate — rounded to the nearest and never
//! below 0 ([`net_target`], from [`study_so_far`]). Older invitations
//! without an outcome count as final non-responses. Past invitations are
//! matched to the request's strata by their recorded stratum label, so the
//! request must stratify as the study's earlier batches did; invitations
//! whose label is not one of the request's strata are counted and shown
//! but not netted. With `proportional = true` the distribution matched is
//! that of the eligible pool together with the people the study already
//! invited (a top-up's pool lacks them). `wave_fraction` sends only that share of the allocation
//! (a first wave, to be topped up once outcomes arrive).

pub use crate::request::target::{Outcome, TargetSpec};
use crate::request::Validated;
use crate::select::{largest_remainder, Candidate};
use serde::Serialize;
use std::collections::HashMap;

/// A rate with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    /// Posterior mean.
    pub rate: f64,
    /// 2.5% point.
    pub low: f64,
    /// 97.5% point.
    pub high: f64,
}

/// The empirical-Bayes beta prior of one group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prior {
    /// The group's pooled rate (the strata's prior means are this times
    /// their margins' relative rates).
    pub mean: f64,
    /// Prior strength M, in pseudo-invitations.
    pub strength: f64,
    /// `moments`, `fixed`, `default` (no history), or `borrowed` (the
    /// other group's rates).
    pub method: &'static str,
    /// Invitations in the group's history.
    pub invitations: u64,
}

/// The prior strength M by the method of moments, from strata
/// `(invited, successes, prior mean)`; `1e6` (full pooling) when the
/// strata vary no more than chance.
pub fn fit_strength(cells: &[(u64, u64, f64)]) -> f64 {
    let (mut s, mut v, mut d) = (0.0, 0.0, 0.0);
    for &(n, x, mu) in cells.iter().filter(|c| c.0 > 0) {
        let (n, x) = (n as f64, x.min(n) as f64);
        let w = mu * (1.0 - mu);
        s += n * (x / n - mu).powi(2);
        v += w;
        d += w * (n - 1.0);
    }
    let rho = if d > 0.0 { (s - v) / d } else { 0.0 };
    if rho > 0.0 {
        (1.0 / rho - 1.0).clamp(1.0, 1e6)
    } else {
        1e6
    }
}

/// The posterior rate of a stratum with prior mean `mean`, prior strength
/// `strength`, and `x` successes in `n` invitations.
pub fn posterior(mean: f64, strength: f64, n: u64, x: u64) -> Rate {
    let mean = mean.clamp(1e-9, 1.0 - 1e-9);
    let a = x.min(n) as f64 + mean * strength;
    let b = (n - x.min(n)) as f64 + (1.0 - mean) * strength;
    Rate {
        rate: a / (a + b),
        low: beta_quantile(0.025, a, b),
        high: beta_quantile(0.975, a, b),
    }
}

fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised incomplete beta function I_x(a, b) (continued fraction).
pub fn beta_cdf(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(x, a, b) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(1.0 - x, b, a) / b
    }
}

fn beta_cf(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..500 {
        let m = m as f64;
        let m2 = 2.0 * m;
        for aa in [
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ] {
            d = 1.0 + aa * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-14 {
            break;
        }
    }
    h
}

/// The `q` quantile of Beta(a, b), by bisection on [`beta_cdf`].
pub fn beta_quantile(q: f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if beta_cdf(mid, a, b) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// One stratum's eligible pool, target and estimated rates.
#[derive(Debug, Clone, PartialEq)]
pub struct StratumInput {
    /// Target enrolments (or responses).
    pub target: u64,
    /// Eligible people.
    pub pool: u64,
    /// ... of whom registry volunteers invited first (0 when volunteers are
    /// not prioritised).
    pub registry_pool: u64,
    /// Rate of people who are not volunteers (or of everyone).
    pub rate: Rate,
    /// Rate of volunteers.
    pub registry_rate: Rate,
}

/// Expected successes of `n` invitations, volunteers first, at rates `(reg, other)`.
fn expected(s: &StratumInput, n: u64, reg: f64, other: f64) -> f64 {
    let r = n.min(s.registry_pool);
    reg * r as f64 + other * n.saturating_sub(r) as f64
}

/// The invitations whose expected successes reach `target` (rounded to the
/// nearest invitation), within the pool.
pub fn invitations_for(s: &StratumInput, target: f64) -> u64 {
    if target <= 0.0 {
        return 0;
    }
    let (reg, other) = (s.registry_rate.rate, s.rate.rate);
    let from_reg = reg * s.registry_pool as f64;
    let n = if target <= from_reg {
        (target / reg).round()
    } else if other > 0.0 {
        s.registry_pool as f64 + ((target - from_reg) / other).round()
    } else {
        f64::INFINITY
    };
    if n.is_finite() {
        (n as u64).min(s.pool)
    } else {
        s.pool
    }
}

/// What a study already has in one stratum (for `net_of_study`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SoFar {
    /// The study's invitations in the stratum.
    pub invited: u64,
    /// Enrolments (or responses) recorded so far.
    pub achieved: u64,
    /// Invitations to people who are not volunteers still awaiting an outcome.
    pub pending: u64,
    /// Invitations to registry volunteers still awaiting an outcome.
    pub pending_registry: u64,
}

impl SoFar {
    /// Expected successes of the pending invitations at `(rate, registry_rate)`.
    pub fn pending_expected(&self, rate: f64, registry_rate: f64) -> f64 {
        self.pending as f64 * rate + self.pending_registry as f64 * registry_rate
    }
}

/// A stratum's remaining target: `target` less what the study has achieved
/// and expects from its pending invitations at the stratum's rates
/// (`rate` for people who are not volunteers, `registry_rate` for
/// volunteers), rounded to the nearest and never below 0.
pub fn net_target(target: u64, so_far: &SoFar, rate: f64, registry_rate: f64) -> u64 {
    let left = target as f64 - so_far.achieved as f64 - so_far.pending_expected(rate, registry_rate);
    left.max(0.0).round() as u64
}

/// The study's invitations so far by the request's strata (`labels`, matched
/// on the stratum label each invitation recorded): successes (`outcome`)
/// and invitations made after `invited_by` with no outcome yet. Also the
/// study's invitations whose stratum is not one of `labels`. QA seeds are
/// never counted.
pub fn study_so_far(
    store: &store::Store,
    study: &str,
    labels: &[String],
    outcome: Outcome,
    invited_by: &str,
) -> store::Result<(Vec<SoFar>, u64)> {
    let rows = store.study_strata_so_far(study, invited_by)?;
    let idx: HashMap<&str, usize> = labels.iter().enumerate().map(|(k, l)| (l.as_str(), k)).collect();
    let mut out = vec![SoFar::default(); labels.len()];
    let mut unmatched = 0;
    for store::rates::StratumSoFar {
        stratum: label,
        registry,
        invited,
        responded,
        enrolled,
        pending,
    } in rows
    {
        let Some(&k) = idx.get(label.as_str()) else {
            unmatched += invited;
            continue;
        };
        let o = &mut out[k];
        o.invited += invited;
        o.achieved += match outcome {
            Outcome::Enrolled => enrolled,
            Outcome::Responded => responded,
        };
        if registry {
            o.pending_registry += pending;
        } else {
            o.pending += pending;
        }
    }
    Ok((out, unmatched))
}

/// Invitations per stratum for the targets scaled by the largest factor
/// `f ≤ 1` whose invitations fit `budget`.
pub fn allocate(strata: &[StratumInput], budget: u64) -> (Vec<u64>, f64) {
    let at = |f: f64| -> Vec<u64> {
        strata
            .iter()
            .map(|s| invitations_for(s, f * s.target as f64))
            .collect()
    };
    let full = at(1.0);
    if full.iter().sum::<u64>() <= budget {
        return (full, 1.0);
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if at(mid).iter().sum::<u64>() <= budget {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (at(lo), lo)
}

/// One stratum of the plan, as the selection summary shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanStratum {
    /// Stratum label.
    pub stratum: String,
    /// Target enrolments (or responses).
    pub target: u64,
    /// Eligible people.
    pub pool: u64,
    /// Eligible registry volunteers invited first.
    pub registry_pool: u64,
    /// Invitations in the history for this stratum (both groups).
    pub history_invited: u64,
    /// Successes among them.
    pub history_successes: u64,
    /// Rate used for people who are not volunteers.
    pub rate: Rate,
    /// Rate used for volunteers.
    pub registry_rate: Rate,
    /// Invitations allocated.
    pub invitations: u64,
    /// Expected successes of those invitations, with the range the rate
    /// intervals give.
    pub expected: Rate,
    /// The eligible pool runs out before the target is expected to be met.
    pub pool_exhausted: bool,
    /// With `net_of_study`: the study's target for the stratum, and what it
    /// has so far (`target` above is then what remains).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub study: Option<StudyStratum>,
}

/// One stratum of a study's progress, as a `net_of_study` plan used it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StudyStratum {
    /// The study's target for the stratum.
    pub target: u64,
    /// Recorded so far, and invitations awaiting an outcome.
    pub so_far: SoFar,
    /// Expected successes of the pending invitations.
    pub pending_expected: f64,
}

/// A response-adjusted allocation (recorded in the selection summary).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// `enrolled` or `responded`.
    pub outcome: &'static str,
    /// Evidence: invitations made on or before this date.
    pub history_invited_by: String,
    /// Prior of people who are not volunteers.
    pub prior: Prior,
    /// Prior of registry volunteers.
    pub registry_prior: Prior,
    /// Requested total (sum of the strata's targets).
    pub requested: u64,
    /// Expected total, with the range the rate intervals give.
    pub expected: Rate,
    /// Invitations allocated.
    pub invitations: u64,
    /// The most the request allows.
    pub budget: u64,
    /// Factor the targets were scaled by to fit the budget (1 = not).
    pub scaled: f64,
    /// Per stratum.
    pub strata: Vec<PlanStratum>,
    /// With `net_of_study`: the study's earlier invitations whose stratum is
    /// not one of this request's (not netted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub study_unmatched: Option<u64>,
    /// The share of the allocation sent now, when less than all of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave_fraction: Option<f64>,
}

impl Plan {
    /// The invitations per stratum, in the order of the strata.
    pub fn requested_invitations(&self) -> Vec<u32> {
        self.strata
            .iter()
            .map(|s| s.invitations.min(u32::MAX as u64) as u32)
            .collect()
    }
}

/// One group's evidence (volunteers, or everyone else): per stratum, per
/// value of each stratum dimension, and in total, `(invited, successes)`.
#[derive(Default)]
struct GroupHistory {
    strata: Vec<(u64, u64)>,
    margins: Vec<HashMap<String, (u64, u64)>>,
    total: (u64, u64),
}

fn add(e: &mut (u64, u64), n: u64, x: u64) {
    e.0 += n;
    e.1 += x;
}

fn group_histories(
    v: &Validated,
    labels: &[String],
    history: &[store::rates::HistoryCell],
    outcome: Outcome,
) -> [GroupHistory; 2] {
    let index: HashMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let mut out: [GroupHistory; 2] = Default::default();
    for g in &mut out {
        g.strata = vec![(0, 0); labels.len()];
        g.margins = vec![HashMap::new(); v.dims.len()];
    }
    for c in history {
        let x = match outcome {
            Outcome::Enrolled => c.enrolled,
            Outcome::Responded => c.responded,
        };
        let g = &mut out[usize::from(c.registry)];
        add(&mut g.total, c.invited, x);
        for (m, d) in g.margins.iter_mut().zip(&v.dims) {
            let value = c.demographic(d.name()).unwrap_or_default().to_string();
            add(m.entry(value).or_default(), c.invited, x);
        }
        let label = crate::request::stratum_label(&v.dims, |d| {
            c.demographic(d.name()).unwrap_or_default().to_string()
        });
        if let Some(&k) = index.get(label.as_str()) {
            add(&mut g.strata[k], c.invited, x);
        }
    }
    out
}

fn ratio(x: (u64, u64)) -> Option<f64> {
    (x.0 > 0).then(|| x.1 as f64 / x.0 as f64)
}

/// Prior means of the strata: the group's pooled rate times, for each
/// dimension, the rate of the stratum's value relative to the pooled rate
/// (a main-effects fit), within (0, 1).
fn prior_means(g: &GroupHistory, values: &[Vec<String>]) -> Vec<f64> {
    let overall = ratio(g.total).unwrap_or(0.0);
    values
        .iter()
        .map(|vals| {
            let mut mu = overall;
            for (m, val) in g.margins.iter().zip(vals) {
                if let (Some(r), true) = (m.get(val).copied().and_then(ratio), overall > 0.0) {
                    mu *= r / overall;
                }
            }
            mu.clamp(1e-6, 1.0 - 1e-6)
        })
        .collect()
}

/// Each stratum's rates `[others, volunteers]` and the two groups' priors.
fn estimate(
    t: &TargetSpec,
    hist: &[GroupHistory; 2],
    values: &[Vec<String>],
) -> (Vec<[Rate; 2]>, [Prior; 2]) {
    let fit = |g: &GroupHistory, means: &[f64]| -> f64 {
        t.prior_strength.unwrap_or_else(|| {
            let cells: Vec<(u64, u64, f64)> = g
                .strata
                .iter()
                .zip(means)
                .map(|(&(n, x), &mu)| (n, x, mu))
                .collect();
            fit_strength(&cells)
        })
    };
    let method = if t.prior_strength.is_some() {
        "fixed"
    } else {
        "moments"
    };
    let (others, volunteers) = (&hist[0], &hist[1]);
    let (means0, prior0) = match ratio(others.total) {
        Some(mean) => {
            let means = prior_means(others, values);
            let strength = fit(others, &means);
            (
                means,
                Prior {
                    mean,
                    strength,
                    method,
                    invitations: others.total.0,
                },
            )
        }
        None => (
            vec![t.default_rate; values.len()],
            Prior {
                mean: t.default_rate,
                strength: t.prior_strength.unwrap_or(1e6),
                method: "default",
                invitations: 0,
            },
        ),
    };
    let rates0: Vec<Rate> = (0..values.len())
        .map(|k| posterior(means0[k], prior0.strength, others.strata[k].0, others.strata[k].1))
        .collect();
    // volunteers: the same strata's prior means, scaled by the volunteers' pooled rate
    let Some(mean1) = ratio(volunteers.total) else {
        let prior1 = Prior {
            method: "borrowed",
            invitations: 0,
            ..prior0
        };
        return (rates0.iter().map(|&r| [r, r]).collect(), [prior0, prior1]);
    };
    let scale = mean1 / prior0.mean.max(1e-9);
    let means1: Vec<f64> = means0
        .iter()
        .map(|m| (m * scale).clamp(1e-6, 1.0 - 1e-6))
        .collect();
    let prior1 = Prior {
        mean: mean1,
        strength: fit(volunteers, &means1),
        method,
        invitations: volunteers.total.0,
    };
    let rates = (0..values.len())
        .map(|k| {
            [
                rates0[k],
                posterior(
                    means1[k],
                    prior1.strength,
                    volunteers.strata[k].0,
                    volunteers.strata[k].1,
                ),
            ]
        })
        .collect();
    (rates, [prior0, prior1])
}

/// The dimension values of a stratum label (`sex=female|age_band=50-54`).
fn label_values(label: &str, dims: usize) -> Vec<String> {
    if dims == 0 {
        return Vec::new();
    }
    label
        .split('|')
        .map(|p| p.split_once('=').map_or(p, |(_, b)| b).to_string())
        .collect()
}

/// Plan a response-adjusted allocation for the request's strata (`labels`,
/// with `targets` per stratum as the request gives them, or proportional
/// ones from the pool), given the eligible candidates and the store's
/// history. `None` when the request has no `[quotas.target]`.
pub fn plan(
    store: &store::Store,
    v: &Validated,
    labels: &[String],
    targets: &[u32],
    cands: &[Candidate],
) -> store::Result<Option<Plan>> {
    let Some(t) = v.request.quotas.as_ref().and_then(|q| q.target.as_ref()) else {
        return Ok(None);
    };
    let invited_by = pseudonym::Date::from_days_since_epoch(
        v.as_of.days_since_epoch() - i64::from(t.history_min_age_days),
    )
    .map(|d| d.to_string())
    .unwrap_or_default();
    let history = store.uptake_history(&invited_by)?;
    let prioritise = v.request.registry.prioritise;
    let mut pools = vec![(0u64, 0u64); labels.len()];
    for c in cands {
        if let Some(p) = pools.get_mut(c.stratum as usize) {
            p.0 += 1;
            p.1 += u64::from(c.registry && prioritise);
        }
    }
    let so_far = if t.net_of_study {
        Some(study_so_far(
            store,
            &v.request.study,
            labels,
            t.outcome,
            &invited_by,
        )?)
    } else {
        None
    };
    let mut targets: Vec<u64> = if v.proportional() {
        // a top-up's pool lacks the people the study already invited: the
        // distribution to match is that of the pool with them
        let weights: Vec<u64> = match &so_far {
            Some((f, _)) => pools.iter().zip(f).map(|(p, f)| p.0 + f.invited).collect(),
            None => pools.iter().map(|p| p.0).collect(),
        };
        largest_remainder(t.total.unwrap_or(0) as u64, &weights)
    } else {
        targets.iter().map(|&x| x as u64).collect()
    };
    let hist = group_histories(v, labels, &history, t.outcome);
    let values: Vec<Vec<String>> = labels.iter().map(|l| label_values(l, v.dims.len())).collect();
    let (rates, priors) = estimate(t, &hist, &values);
    let mut study = None;
    let mut unmatched = None;
    if let Some((so_far, other)) = so_far {
        let mut per = Vec::with_capacity(labels.len());
        for (k, f) in so_far.iter().enumerate() {
            let (r, rr) = (rates[k][0].rate, rates[k][1].rate);
            per.push(StudyStratum {
                target: targets[k],
                so_far: *f,
                pending_expected: f.pending_expected(r, rr),
            });
            targets[k] = net_target(targets[k], f, r, rr);
        }
        study = Some(per);
        unmatched = Some(other);
    }
    let inputs: Vec<StratumInput> = (0..labels.len())
        .map(|k| StratumInput {
            target: targets[k],
            pool: pools[k].0,
            registry_pool: pools[k].1,
            rate: rates[k][0],
            registry_rate: rates[k][1],
        })
        .collect();
    let evidence: Vec<(u64, u64)> = (0..labels.len())
        .map(|k| {
            (
                hist[0].strata[k].0 + hist[1].strata[k].0,
                hist[0].strata[k].1 + hist[1].strata[k].1,
            )
        })
        .collect();
    let budget = v.request.invitations as u64;
    let (alloc, scaled) = allocate(&inputs, budget);
    let mut p = assemble(
        t, invited_by, priors, labels, &evidence, &inputs, &alloc, scaled, budget,
    );
    if let Some(per) = study {
        for (s, st) in p.strata.iter_mut().zip(per) {
            s.study = Some(st);
        }
        p.study_unmatched = unmatched;
    }
    Ok(Some(match t.wave_fraction {
        Some(f) if f < 1.0 => {
            let part: Vec<u64> = alloc.iter().map(|&n| (n as f64 * f).round() as u64).collect();
            let mut q = assemble(
                t,
                p.history_invited_by.clone(),
                priors,
                labels,
                &evidence,
                &inputs,
                &part,
                scaled,
                budget,
            );
            // whether a pool runs out is a property of the whole allocation
            for (a, b) in q.strata.iter_mut().zip(&p.strata) {
                a.pool_exhausted = b.pool_exhausted;
                a.study = b.study;
            }
            q.study_unmatched = p.study_unmatched;
            q.wave_fraction = Some(f);
            q
        }
        _ => p,
    }))
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    t: &TargetSpec,
    invited_by: String,
    priors: [Prior; 2],
    labels: &[String],
    evidence: &[(u64, u64)],
    inputs: &[StratumInput],
    alloc: &[u64],
    scaled: f64,
    budget: u64,
) -> Plan {
    let strata: Vec<PlanStratum> = inputs
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let n = alloc[k];
            let e = |reg: f64, other: f64| expected(s, n, reg, other);
            let expected = Rate {
                rate: e(s.registry_rate.rate, s.rate.rate),
                low: e(s.registry_rate.low, s.rate.low),
                high: e(s.registry_rate.high, s.rate.high),
            };
            PlanStratum {
                stratum: labels[k].clone(),
                target: s.target,
                pool: s.pool,
                registry_pool: s.registry_pool,
                history_invited: evidence[k].0,
                history_successes: evidence[k].1,
                rate: s.rate,
                registry_rate: s.registry_rate,
                invitations: n,
                pool_exhausted: n == s.pool && expected.rate + 0.5 < scaled * s.target as f64,
                expected,
                study: None,
            }
        })
        .collect();
    let sum = |f: fn(&Rate) -> f64| strata.iter().map(|s| f(&s.expected)).sum::<f64>();
    Plan {
        outcome: t.outcome.name(),
        history_invited_by: invited_by,
        prior: priors[0],
        registry_prior: priors[1],
        requested: inputs.iter().map(|s| s.target).sum(),
        expected: Rate {
            rate: sum(|r| r.rate),
            low: sum(|r| r.low),
            high: sum(|r| r.high),
        },
        invitations: alloc.iter().sum(),
        budget,
        scaled,
        strata,
        study_unmatched: None,
        wave_fraction: None,
    }
}

fn pct(r: f64) -> String {
    format!("{:.1}%", 100.0 * r)
}

/// The plan as a Markdown section of the selection summary.
pub fn markdown(p: &Plan) -> String {
    let mut o = format!(
        "\n## Response-adjusted allocation\n\nTargets are {o} people; rates are {o} per invitation, estimated from invitations made on or before {d} \
         across all studies and shrunk towards each group's pooled rate (empirical-Bayes beta prior; intervals are the posterior's central 95%).\n\n\
         | group | pooled rate | prior strength (pseudo-invitations) | method | history invitations |\n|---|---:|---:|---|---:|\n\
         | not a volunteer | {} | {:.0} | {} | {} |\n| registry volunteer | {} | {:.0} | {} | {} |\n\n\
         Requested {o}: {}. Expected: {:.1} (range {:.1}–{:.1}) from {} invitations (at most {}).{}\n\n",
        pct(p.prior.mean),
        p.prior.strength,
        p.prior.method,
        p.prior.invitations,
        pct(p.registry_prior.mean),
        p.registry_prior.strength,
        p.registry_prior.method,
        p.registry_prior.invitations,
        p.requested,
        p.expected.rate,
        p.expected.low,
        p.expected.high,
        p.invitations,
        p.budget,
        if p.scaled < 1.0 {
            format!(
                " **The invitations needed exceed the request's `invitations`: every target was scaled by {:.3}.**",
                p.scaled
            )
        } else {
            String::new()
        },
        o = p.outcome,
        d = p.history_invited_by,
    );
    o.push_str("| stratum | target | eligible | volunteers first | history invited | history successes | rate (95% interval) | volunteer rate | invitations | expected (range) | pool |\n|---|---:|---:|---:|---:|---:|---|---|---:|---|---|\n");
    for s in &p.strata {
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} ({}–{}) | {} | {} | {:.1} ({:.1}–{:.1}) | {} |\n",
            s.stratum.replace('|', "\\|"),
            s.target,
            s.pool,
            s.registry_pool,
            s.history_invited,
            s.history_successes,
            pct(s.rate.rate),
            pct(s.rate.low),
            pct(s.rate.high),
            pct(s.registry_rate.rate),
            s.invitations,
            s.expected.rate,
            s.expected.low,
            s.expected.high,
            if s.pool_exhausted {
                "**runs out**"
            } else {
                "enough"
            },
        ));
    }
    if p.strata.iter().any(|s| s.study.is_some()) {
        o.push_str(&format!(
            "\nNet of the study so far (`net_of_study`): each stratum's target above is what remains of the study's target after the {o} recorded so far \
             and the expected {o} of invitations still awaiting an outcome (made after {d}, no outcome yet); a stratum already met gets none.\n\n\
             | stratum | study target | {o} so far | awaiting an outcome | expected from them | remaining |\n|---|---:|---:|---:|---:|---:|\n",
            o = p.outcome,
            d = p.history_invited_by,
        ));
        for s in &p.strata {
            if let Some(st) = &s.study {
                o.push_str(&format!(
                    "| {} | {} | {} | {} | {:.1} | {} |\n",
                    s.stratum.replace('|', "\\|"),
                    st.target,
                    st.so_far.achieved,
                    st.so_far.pending + st.so_far.pending_registry,
                    st.pending_expected,
                    s.target,
                ));
            }
        }
        if let Some(n) = p.study_unmatched.filter(|&n| n > 0) {
            o.push_str(&format!(
                "\n{n} of the study's earlier invitations are in strata this request does not list (stratified differently): not netted.\n"
            ));
        }
    }
    if let Some(f) = p.wave_fraction {
        o.push_str(&format!(
            "\nFirst wave (`wave_fraction`): {:.0}% of each stratum's allocation is sent now; the invitations and expected figures above are this wave's.\n",
            100.0 * f
        ));
    }
    let short: Vec<&str> = p
        .strata
        .iter()
        .filter(|s| s.pool_exhausted)
        .map(|s| s.stratum.as_str())
        .collect();
    if !short.is_empty() {
        o.push_str(&format!(
            "\n**{} stratum pool(s) run out before the target is expected to be met**: every eligible person there is invited.\n",
            short.len()
        ));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rate(r: f64) -> Rate {
        Rate {
            rate: r,
            low: r,
            high: r,
        }
    }

    #[test]
    fn beta_functions_match_known_values() {
        // Beta(1,1) is uniform; Beta(2,2) cdf at 0.5 is 0.5; Beta(2,5) cdf(0.2) = 0.34464
        assert!((beta_cdf(0.3, 1.0, 1.0) - 0.3).abs() < 1e-10);
        assert!((beta_cdf(0.5, 2.0, 2.0) - 0.5).abs() < 1e-10);
        assert!((beta_cdf(0.2, 2.0, 5.0) - 0.34464).abs() < 1e-5);
        assert!((beta_quantile(0.975, 1.0, 1.0) - 0.975).abs() < 1e-9);
        // Beta(10, 90)'s 2.5% point is 0.0495 (400,000 draws put it at 0.04946)
        let q = beta_quantile(0.025, 10.0, 90.0);
        assert!((q - 0.0495).abs() < 2e-4, "{q}");
        assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-10);
    }

    #[test]
    fn prior_pools_when_strata_agree_and_separates_when_they_differ() {
        // Same rate everywhere: no spread beyond chance, full pooling.
        assert_eq!(
            fit_strength(&[(1000, 100, 0.1), (1000, 100, 0.1), (1000, 100, 0.1)]),
            1e6
        );
        // Very different rates around one mean: a weak prior.
        let m = fit_strength(&[(1000, 20, 0.14), (1000, 100, 0.14), (1000, 300, 0.14)]);
        assert!(m < 50.0, "{m}");
        // ... but a fit that explains them leaves nothing to spread: full pooling
        assert_eq!(
            fit_strength(&[(1000, 20, 0.02), (1000, 100, 0.1), (1000, 300, 0.3)]),
            1e6
        );
        assert_eq!(fit_strength(&[]), 1e6);
        // thin evidence shrinks: 1/2 with M=100 around 0.1 stays near 0.1
        let thin = posterior(0.1, 100.0, 2, 1);
        assert!((thin.rate - 11.0 / 102.0).abs() < 1e-12);
        let thick = posterior(0.1, 100.0, 100_000, 30_000);
        assert!((thick.rate - 0.3).abs() < 1e-3);
        assert!(thin.low < thin.rate && thin.rate < thin.high);
        assert!(thick.high - thick.low < thin.high - thin.low);
    }

    #[test]
    fn prior_means_follow_the_margins() {
        let g = GroupHistory {
            strata: vec![(0, 0); 2],
            margins: vec![
                [
                    ("male".to_string(), (1000, 50)),
                    ("female".to_string(), (1000, 150)),
                ]
                .into_iter()
                .collect(),
                [
                    ("Black".to_string(), (200, 10)),
                    ("White".to_string(), (1800, 190)),
                ]
                .into_iter()
                .collect(),
            ],
            total: (2000, 200),
        };
        let v = |a: &str, b: &str| vec![a.to_string(), b.to_string()];
        let mu = prior_means(
            &g,
            &[v("male", "Black"), v("female", "White"), v("other", "Asian")],
        );
        assert!((mu[0] - 0.1 * 0.5 * 0.5).abs() < 1e-12, "{mu:?}");
        assert!((mu[1] - 0.1 * 1.5 * (190.0 / 1800.0 / 0.1)).abs() < 1e-12);
        assert!(
            (mu[2] - 0.1).abs() < 1e-12,
            "no history for either value: the pooled rate"
        );
        assert_eq!(label_values("sex=male|ethnic_group=Black", 2), ["male", "Black"]);
        assert!(label_values("all", 0).is_empty());
    }

    const REQUEST: &str = r#"
study = "s"
channel = "postal"
invitations = 5000
seed = 1
as_of = "2026-11-21"
[[arms]]
name = "A"
template = "a"
[quotas]
by = ["sex"]
"#;

    fn parse(extra: &str) -> Result<Validated, crate::request::RequestError> {
        let today = pseudonym::Date::new(2026, 11, 21).unwrap();
        crate::request::parse("r.toml", &format!("{REQUEST}{extra}"), today)
    }

    #[test]
    fn targets_are_checked_with_their_quotas() {
        let listed = "[[quotas.stratum]]\nsex = \"female\"\ncount = 60\n[[quotas.stratum]]\nsex = \"male\"\ncount = 40\n";
        // strata counts are enrolments: they need not add up to `invitations`
        let v = parse(&format!("{listed}[quotas.target]\noutcome = \"enrolled\"\n")).unwrap();
        assert_eq!(v.explicit.len(), 2);
        assert!(parse(listed).unwrap_err().to_string().contains("add up to 100"));
        let e = parse(&format!(
            "{listed}[quotas.target]\noutcome = \"enrolled\"\ntotal = 99\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("quotas.target.total"), "{e}");
        let prop = "proportional = true\n[quotas.target]\noutcome = \"responded\"\n";
        let e = parse(prop).unwrap_err();
        assert!(e.to_string().contains("quotas.target.total"), "{e}");
        assert!(parse(&format!("{prop}total = 300\n")).unwrap().proportional());
        let e = parse(&format!("{prop}total = 300\ndefault_rate = 0\n")).unwrap_err();
        assert!(e.to_string().contains("default_rate"), "{e}");
        let e = parse(&format!("{prop}total = 300\nprior_strength = -1\n")).unwrap_err();
        assert!(e.to_string().contains("prior_strength"), "{e}");
        let e = parse(&format!("{prop}total = 300\nshrink = 1\n")).unwrap_err();
        assert!(e.to_string().contains("shrink"), "{e}");
        let e = parse(
            &format!("{prop}total = 3\n")
                .replace("proportional = true", "proportional = true\nallow_fill = true"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("allow_fill"), "{e}");
    }

    #[test]
    fn plan_from_a_store_history() {
        let d = tempfile::tempdir().unwrap();
        let s = store::Store::open(&d.path().join("s.sqlite")).unwrap();
        let v = parse(
            "proportional = true\n[quotas.target]\noutcome = \"enrolled\"\ntotal = 100\ndefault_rate = 0.1\n",
        )
        .unwrap();
        let labels = vec!["sex=female".to_string(), "sex=male".to_string()];
        let cands: Vec<Candidate> = (0..3000u32)
            .map(|i| Candidate {
                stratum: u32::from(i % 3 == 0),
                registry: i % 100 == 0,
                rank: i as u64,
            })
            .collect();
        let p = plan(&s, &v, &labels, &[0, 0], &cands).unwrap().unwrap();
        // no history: the default rate, targets in proportion to the pool (2000 : 1000)
        assert_eq!(p.prior.method, "default");
        assert_eq!(p.registry_prior.method, "borrowed");
        assert_eq!(p.strata[0].target + p.strata[1].target, 100);
        assert_eq!(p.strata[0].target, 67);
        assert_eq!(p.strata[0].invitations, 670);
        assert!((p.expected.rate - 100.0).abs() < 1.0);
        assert_eq!(p.history_invited_by, "2026-09-26");
        let md = markdown(&p);
        assert!(
            md.contains("Response-adjusted allocation") && md.contains("sex=female"),
            "{md}"
        );
        // a target beyond the pool: flagged
        let v = parse(
            "proportional = true\n[quotas.target]\noutcome = \"enrolled\"\ntotal = 400\ndefault_rate = 0.1\n",
        )
        .unwrap();
        let p = plan(&s, &v, &labels, &[0, 0], &cands).unwrap().unwrap();
        assert!(p.strata.iter().all(|s| s.pool_exhausted));
        assert!(markdown(&p).contains("run out"));
        // no target: no plan
        let v = parse("proportional = true\n").unwrap();
        assert!(plan(&s, &v, &labels, &[0, 0], &cands).unwrap().is_none());
    }

    #[test]
    fn net_targets_subtract_what_the_study_has() {
        let none = SoFar::default();
        assert_eq!(
            net_target(40, &none, 0.1, 0.3),
            40,
            "nothing yet: the whole target"
        );
        // a stratum already met, or over-met, gets nothing
        let met = SoFar { achieved: 45, ..none };
        assert_eq!(net_target(40, &met, 0.1, 0.3), 0);
        assert_eq!(net_target(45, &met, 0.1, 0.3), 0);
        // pending invitations count at their group's rate: 10 + 50·0.1 + 10·0.3 = 18
        let f = SoFar {
            invited: 100,
            achieved: 10,
            pending: 50,
            pending_registry: 10,
        };
        assert!((f.pending_expected(0.1, 0.3) - 8.0).abs() < 1e-12);
        assert_eq!(net_target(40, &f, 0.1, 0.3), 22);
        // expected pending successes beyond the target: 0, never negative
        let lots = SoFar { pending: 1000, ..f };
        assert_eq!(net_target(40, &lots, 0.1, 0.3), 0);
        // shortfalls: each stratum's own, summed; met strata add nothing
        let targets = [40u64, 100, 5];
        let so_far = [f, met, none];
        let left: Vec<u64> = targets
            .iter()
            .zip(&so_far)
            .map(|(&t, s)| net_target(t, s, 0.1, 0.3))
            .collect();
        assert_eq!(left, [22, 55, 5]);
        assert_eq!(left.iter().sum::<u64>(), 82);
    }

    fn study_invitation(i: u32, sex: &str, registry: bool) -> store::Invitation {
        let mut t = [0u8; 32];
        t[..4].copy_from_slice(&i.to_be_bytes());
        let mut u = t;
        u[31] = 1;
        store::Invitation {
            reference: format!("00000000-0000-4000-8000-{i:012}"),
            position: i,
            service_token: t,
            study_token: u,
            service_nhs_token: None,
            study_nhs_token: None,
            arm: "A".into(),
            template: "a".into(),
            registry,
            stratum: format!("sex={sex}"),
            age_band: "50-54".into(),
            sex: sex.into(),
            ethnic_group: "White".into(),
            region: "London".into(),
        }
    }

    fn add_study_batch(
        s: &mut store::Store,
        dir: &std::path::Path,
        seed: u64,
        on: &str,
        invs: &[store::Invitation],
    ) {
        let temp = dir.join(format!(".b{seed}.tmp"));
        std::fs::write(&temp, "x").unwrap();
        let files = [store::StagedFile {
            temp,
            final_path: dir.join(format!("b{seed}.csv")),
            primary: true,
        }];
        s.ensure_study("s", "fp").unwrap();
        let id = s
            .stage_batch(&store::NewBatch {
                study: "s",
                seed,
                request_digest: "r",
                channel: "postal",
                route: "service-mailer",
                as_of: on,
                invited_on: on,
                backdate_reason: None,
                files: &files,
                invitations: invs,
                qa_seeds: &[],
                summary_json: "{}",
            })
            .unwrap();
        s.publish_batch(id).unwrap();
    }

    fn record(s: &mut store::Store, i: u32, status: store::UptakeStatus) {
        let id: i64 = s
            .connection()
            .query_row(
                "SELECT id FROM invitations WHERE reference = ?1",
                [format!("00000000-0000-4000-8000-{i:012}")],
                |r| r.get(0),
            )
            .unwrap();
        s.record_outcome(id, status, "2026-11-10", "t").unwrap();
    }

    #[test]
    fn net_of_study_tops_up_only_the_shortfall() {
        let d = tempfile::tempdir().unwrap();
        let mut s = store::Store::open(&d.path().join("s.sqlite")).unwrap();
        // an old batch (before the history cut-off 2026-09-26): 400 women,
        // 70 enrolled; 100 men, 10 enrolled; 20 people of another stratum
        let mut old: Vec<store::Invitation> =
            (1..=400).map(|i| study_invitation(i, "female", false)).collect();
        old.extend((401..=500).map(|i| study_invitation(i, "male", false)));
        old.extend((501..=520).map(|i| study_invitation(i, "other", false)));
        add_study_batch(&mut s, d.path(), 1, "2026-06-01", &old);
        // a recent batch: 100 men (5 of them volunteers), 4 answered, none enrolled yet
        let recent: Vec<store::Invitation> = (601..=700)
            .map(|i| study_invitation(i, "male", i > 695))
            .collect();
        add_study_batch(&mut s, d.path(), 2, "2026-11-01", &recent);
        s.begin().unwrap();
        for i in (1..=70).chain(401..=410) {
            record(&mut s, i, store::UptakeStatus::Randomised);
        }
        for i in 601..=604 {
            record(&mut s, i, store::UptakeStatus::ExpressedInterest);
        }
        s.commit().unwrap();

        let listed = "[[quotas.stratum]]\nsex = \"female\"\ncount = 60\n[[quotas.stratum]]\nsex = \"male\"\ncount = 40\n";
        let labels = vec!["sex=female".to_string(), "sex=male".to_string()];
        let cands: Vec<Candidate> = (0..3000u32)
            .map(|i| Candidate {
                stratum: u32::from(i % 3 == 0),
                registry: i % 100 == 0,
                rank: i as u64,
            })
            .collect();
        let v = parse(&format!("{listed}[quotas.target]\noutcome = \"enrolled\"\n")).unwrap();
        let before = plan(&s, &v, &labels, &[60, 40], &cands).unwrap().unwrap();
        assert_eq!(
            (before.strata[0].target, before.strata[1].target),
            (60, 40),
            "without the option the study's own progress is not netted"
        );
        assert!(before.strata.iter().all(|s| s.study.is_none()) && before.study_unmatched.is_none());
        let json = serde_json::to_string(&before).unwrap();
        assert!(
            !json.contains("study") && !json.contains("wave_fraction"),
            "{json}"
        );

        let v = parse(&format!(
            "{listed}[quotas.target]\noutcome = \"enrolled\"\nnet_of_study = true\n"
        ))
        .unwrap();
        let p = plan(&s, &v, &labels, &[60, 40], &cands).unwrap().unwrap();
        // women: 70 enrolled of a target of 60: met, no invitations
        let f = p.strata[0].study.unwrap();
        assert_eq!((f.target, f.so_far.achieved), (60, 70));
        assert_eq!((p.strata[0].target, p.strata[0].invitations), (0, 0));
        // men: 10 enrolled, 96 recent invitations without an outcome (91 + 5 volunteers) at their rates
        let m = p.strata[1].study.unwrap();
        assert_eq!(
            m.so_far,
            SoFar {
                invited: 200,
                achieved: 10,
                pending: 91,
                pending_registry: 5
            }
        );
        let (r, rr) = (p.strata[1].rate.rate, p.strata[1].registry_rate.rate);
        assert!((m.pending_expected - (91.0 * r + 5.0 * rr)).abs() < 1e-9);
        assert!(m.pending_expected > 5.0, "{m:?}");
        assert_eq!(p.strata[1].target, net_target(40, &m.so_far, r, rr));
        assert_eq!(p.requested, p.strata[1].target);
        assert_eq!(
            p.strata[1].invitations,
            invitations_for(&inputs_of(&p, 1), p.strata[1].target as f64)
        );
        assert_eq!(p.study_unmatched, Some(20));
        let md = markdown(&p);
        assert!(
            md.contains("Net of the study so far") && md.contains("20 of the study's earlier invitations"),
            "{md}"
        );

        // proportional targets: the distribution of the pool together with
        // those the study already invited (2000 + 400 : 1000 + 200)
        let v = parse(
            "proportional = true\n[quotas.target]\noutcome = \"enrolled\"\ntotal = 100\nnet_of_study = true\n",
        )
        .unwrap();
        let p = plan(&s, &v, &labels, &[0, 0], &cands).unwrap().unwrap();
        let (f, m) = (p.strata[0].study.unwrap(), p.strata[1].study.unwrap());
        assert_eq!((f.target, m.target), (67, 33));
        assert_eq!(p.strata[0].target, 0);
        let (r, rr) = (p.strata[1].rate.rate, p.strata[1].registry_rate.rate);
        assert_eq!(p.strata[1].target, net_target(33, &m.so_far, r, rr));

        // responses instead: the 4 who answered count, and they are not pending
        let v = parse(&format!(
            "{listed}[quotas.target]\noutcome = \"responded\"\nnet_of_study = true\n"
        ))
        .unwrap();
        let p = plan(&s, &v, &labels, &[60, 40], &cands).unwrap().unwrap();
        assert_eq!(p.strata[1].study.unwrap().so_far.achieved, 14);

        // a first wave: the share of each stratum's allocation
        let v = parse(&format!(
            "{listed}[quotas.target]\noutcome = \"enrolled\"\nwave_fraction = 0.5\n"
        ))
        .unwrap();
        let half = plan(&s, &v, &labels, &[60, 40], &cands).unwrap().unwrap();
        for (a, b) in half.strata.iter().zip(&before.strata) {
            assert_eq!(a.invitations, (b.invitations as f64 * 0.5).round() as u64);
        }
        assert_eq!(half.wave_fraction, Some(0.5));
        assert!(markdown(&half).contains("First wave"));
        let e = parse(&format!(
            "{listed}[quotas.target]\noutcome = \"enrolled\"\nwave_fraction = 1.5\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("wave_fraction"), "{e}");
    }

    fn inputs_of(p: &Plan, k: usize) -> StratumInput {
        let s = &p.strata[k];
        StratumInput {
            target: s.target,
            pool: s.pool,
            registry_pool: s.registry_pool,
            rate: s.rate,
            registry_rate: s.registry_rate,
        }
    }

    #[test]
    fn volunteers_first_then_others() {
        let s = StratumInput {
            target: 30,
            pool: 1000,
            registry_pool: 50,
            rate: rate(0.1),
            registry_rate: rate(0.4),
        };
        // 50 volunteers give 20; 10 more at 0.1 need 100
        assert_eq!(invitations_for(&s, 30.0), 150);
        assert_eq!(invitations_for(&s, 8.0), 20);
        assert_eq!(invitations_for(&s, 1000.0), 1000, "pool runs out");
        assert_eq!(invitations_for(&s, 0.0), 0);
    }

    #[test]
    fn budget_scales_every_target_alike() {
        let mk = |target, r| StratumInput {
            target,
            pool: 100_000,
            registry_pool: 0,
            rate: rate(r),
            registry_rate: rate(r),
        };
        let strata = [mk(100, 0.1), mk(100, 0.05)];
        let (full, f) = allocate(&strata, 10_000);
        assert_eq!((full.clone(), f), (vec![1000, 2000], 1.0));
        let (half, f) = allocate(&strata, 1500);
        assert!(half.iter().sum::<u64>() <= 1500);
        assert!((f - 0.5).abs() < 0.01, "{f}");
        assert!((half[1] as f64 / half[0] as f64 - 2.0).abs() < 0.01);
    }

    proptest! {
        #[test]
        fn allocation_fits_pool_and_budget(
            strata in proptest::collection::vec((0u64..500, 0u64..5000, 0u64..100, 1u32..1000, 1u32..1000), 1..8),
            budget in 0u64..20_000,
        ) {
            let inputs: Vec<StratumInput> = strata.iter().map(|&(t, pool, reg, r, rr)| StratumInput {
                target: t,
                pool,
                registry_pool: reg.min(pool),
                rate: rate(r as f64 / 1000.0),
                registry_rate: rate(rr as f64 / 1000.0),
            }).collect();
            let (alloc, f) = allocate(&inputs, budget);
            prop_assert!(alloc.iter().sum::<u64>() <= budget);
            prop_assert!((0.0..=1.0).contains(&f));
            for (s, &n) in inputs.iter().zip(&alloc) {
                prop_assert!(n <= s.pool);
                // the expected outcome is within one invitation's worth of the scaled target, unless the pool ran out
                let e = expected(s, n, s.registry_rate.rate, s.rate.rate);
                if n < s.pool {
                    prop_assert!((e - f * s.target as f64).abs() <= 0.5 * s.rate.rate.max(s.registry_rate.rate) + 1e-6,
                        "e {} target {} f {}", e, s.target, f);
                }
            }
        }

        #[test]
        fn quantiles_bracket_the_mean(a in 0.1f64..500.0, b in 0.1f64..5000.0) {
            let lo = beta_quantile(0.025, a, b);
            let hi = beta_quantile(0.975, a, b);
            let m = a / (a + b);
            prop_assert!(lo <= m + 1e-9 && m <= hi + 1e-9, "{} {} {}", lo, m, hi);
            if hi < 1.0 {
                prop_assert!((beta_cdf(hi, a, b) - 0.975).abs() < 1e-6);
            } else {
                // b small, a large: the quantile lies closer to 1 than the
                // largest double below 1, so 1 is the nearest answer
                let below_one = 1.0 - f64::EPSILON / 2.0;
                prop_assert!(beta_cdf(below_one, a, b) < 0.975, "{} {}", a, b);
            }
        }
    }
}

#[cfg(test)]
mod quantile_edge {
    use super::*;

    /// A rate near 1 with a tiny `b`: the 97.5% quantile lies closer to 1
    /// than any double below 1 (the case a property run once drew), so the
    /// upper bound is 1 and the lower bound is still a real quantile.
    #[test]
    fn an_upper_quantile_beyond_the_last_double_below_one_is_one() {
        let (a, b) = (365.40147781391295, 0.1);
        assert_eq!(beta_quantile(0.975, a, b), 1.0);
        assert!(beta_cdf(1.0 - f64::EPSILON / 2.0, a, b) < 0.975);
        let lo = beta_quantile(0.025, a, b);
        assert!(lo < 1.0 && (beta_cdf(lo, a, b) - 0.025).abs() < 1e-6);
    }
}
