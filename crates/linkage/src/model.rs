//! The match model: Fellegi–Sunter weights over per-field comparison levels,
//! estimated without labels, and an automatic Dice threshold where the only
//! evidence is a record-level CLK.
//!
//! Every field is compared on keyed encodings only: the Dice score of the two
//! CLKs (binned into ordered levels), equality of each keyed blocking /
//! match key (`missing`, `disagree`, `agree`) and of the keyed NHS-number
//! token. Levels are ordered from least to most agreement; the fitted weight
//! of a level never falls as agreement rises (pool-adjacent-violators on the
//! log-ratios), and a missing value carries weight 0, so a pair's probability
//! never rises when a field goes from agree to disagree.
//!
//! m- and u-probabilities are fitted by EM over the blocked candidates (a
//! two-class latent mixture under conditional independence); u starts from
//! candidates that are the best of neither their left nor their right row
//! (random pairs when there are too few of those). Keys are compared in
//! groups (blocking keys, `mk_` match keys), each group one field whose
//! level counts its agreeing keys. All weights are clamped to ±[`MAX_WEIGHT`] bits so they stay
//! finite however small a count is.
//!
//! A candidate is accepted when its match probability is at least 0.5, or
//! when its one-to-one posterior is. The probability weighs the pair as if
//! it were any one of the two files' pairs: under the all-pairs prior a
//! row's partner could be any of the other file's `n` rows, so the evidence
//! needed grows as `log2 n` and true pairs with a field or two wrong fall
//! under 0.5 as the files grow. But each row has at most one partner, and
//! the blocked candidates are the only places it can plausibly be. The
//! one-to-one posterior is the probability that `r` is row `l`'s partner
//! given all of `l`'s candidates (the one-partner-per-row model of Bayesian
//! record linkage with a one-to-one constraint): with `ρ` the share of `l`'s
//! side that has a partner and `o_j` the pair odds of `l`'s candidates `j`
//! (prior odds times Bayes factor; pairs that are no candidate contribute
//! next to nothing), it is `o_r / ((1 − ρ) + Σ_j o_j)`. It is taken from
//! both rows' points of view and the smaller kept. When few rows have a
//! partner (`ρ` near 0) and `r` is `l`'s only candidate it equals the match
//! probability `o_r / (1 + o_r)`; when most do, a pair that outweighs all
//! its rows' other candidates together no longer has to beat the whole
//! other file. At least 0.5 implies the pair is both rows' clearly best
//! candidate, so it never contests a pair the match probability accepts.
//! `ρ` comes from the fitted prior (expected matches over the side's rows,
//! less those tokens paired) and is capped at [`RHO_MAX`]. It needs the
//! all-pairs prior; a prior fitted over the candidates has no `ρ`.

/// Lower edge of each Dice level; the last level is `[0.95, 1]`.
pub const DICE_EDGES: [f64; 9] = [0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95];

/// Candidates below this Dice score are never matched by the model (they are
/// not gathered).
pub const MODEL_FLOOR: f64 = 0.5;

/// Where only CLKs are compared, candidates below this score are not
/// gathered and the threshold is looked for above it.
pub const VALLEY_FLOOR: f64 = 0.7;

/// Largest absolute weight of one level, in bits.
pub const MAX_WEIGHT: f64 = 20.0;

/// Largest share of a side's rows taken to have a partner among their
/// candidates in the one-to-one posterior: at least one row in a hundred is
/// assumed to have none (absent from the other file, or lost to blocking),
/// however many matches the fitted prior implies.
pub const RHO_MAX: f64 = 0.99;

/// The one-to-one posterior that a candidate is its row's partner: `own`
/// the pair's odds, `row_sum` the sum of the odds of all the row's
/// candidates (the pair's own included), `scale` the factor that turns the
/// model's pair odds into this side's (1 when the prior's rows are the
/// side's rows), `rho` the share of the side's rows that have a partner
/// (capped at [`RHO_MAX`]). Non-decreasing in `own`, non-increasing in the
/// other candidates' odds (`row_sum − own`).
pub fn one_to_one_posterior(own: f64, row_sum: f64, scale: f64, rho: f64) -> f64 {
    let rho = rho.clamp(0.0, RHO_MAX);
    let own = own * scale;
    let sum = (row_sum * scale).max(own);
    if own <= 0.0 {
        return 0.0;
    }
    (own / ((1.0 - rho) + sum)).clamp(0.0, 1.0)
}

/// Dice level of a score (index into [`DICE_EDGES`]).
pub fn dice_level(s: f64) -> u8 {
    DICE_EDGES.iter().rposition(|&e| s >= e).unwrap_or(0) as u8
}

/// One compared field: a name and its number of ordered levels. For a key
/// field, level 0 is missing, 1 disagree, 2 agree; for Dice, levels follow
/// [`DICE_EDGES`].
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Name (`dice`, `nhs`, or a key name).
    pub name: String,
    /// Levels, least to most agreement.
    pub levels: usize,
    /// Whether level 0 means "missing" (weight fixed at 0).
    pub has_missing: bool,
    /// A name per level, least to most agreement.
    pub labels: Vec<String>,
}

/// Fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The compared fields.
    pub fields: Vec<Field>,
    /// m-probabilities per field and level.
    pub m: Vec<Vec<f64>>,
    /// u-probabilities per field and level.
    pub u: Vec<Vec<f64>>,
    /// Weights (log2 m/u), monotone in level, per field and level.
    pub weights: Vec<Vec<f64>>,
    /// Prior probability that a candidate pair is a match.
    pub lambda: f64,
    /// EM iterations run.
    pub iterations: usize,
    /// Whether `lambda` is over all pairs of the two files
    /// ([`Fit::AllPairs`]) rather than over the candidates.
    pub all_pairs: bool,
}

fn clamp_w(w: f64) -> f64 {
    if w.is_finite() {
        w.clamp(-MAX_WEIGHT, MAX_WEIGHT)
    } else if w > 0.0 {
        MAX_WEIGHT
    } else {
        -MAX_WEIGHT
    }
}

/// Pool adjacent violators: the non-decreasing sequence closest to `w` in
/// weighted least squares.
pub fn isotonic(w: &[f64], wt: &[f64]) -> Vec<f64> {
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new(); // (mean, weight, count)
    for (i, &x) in w.iter().enumerate() {
        let mut b = (x, wt[i].max(1e-9), 1usize);
        while let Some(&(pm, pw, pc)) = blocks.last() {
            if pm <= b.0 {
                break;
            }
            blocks.pop();
            let tw = pw + b.1;
            b = ((pm * pw + b.0 * b.1) / tw, tw, pc + b.2);
        }
        blocks.push(b);
    }
    blocks
        .into_iter()
        .flat_map(|(m, _, c)| std::iter::repeat_n(m, c))
        .collect()
}

impl Model {
    /// Log2 Bayes factor of a comparison vector (sum of level weights).
    pub fn weight(&self, levels: &[u8]) -> f64 {
        levels
            .iter()
            .zip(&self.weights)
            .map(|(&l, w)| w[l as usize])
            .sum()
    }

    /// Posterior odds of a match for a comparison vector: prior odds times
    /// the Bayes factor.
    pub fn odds(&self, levels: &[u8]) -> f64 {
        let prior = (self.lambda / (1.0 - self.lambda)).log2();
        (prior + self.weight(levels)).exp2()
    }

    /// Match probability of a comparison vector.
    pub fn probability(&self, levels: &[u8]) -> f64 {
        let prior = (self.lambda / (1.0 - self.lambda)).log2();
        let w = prior + self.weight(levels);
        1.0 / (1.0 + (-w).exp2())
    }

    fn recompute_weights(&mut self, mass: &[Vec<f64>]) {
        self.weights = self
            .fields
            .iter()
            .enumerate()
            .map(|(f, fd)| {
                let raw: Vec<f64> = (0..fd.levels)
                    .map(|l| clamp_w((self.m[f][l] / self.u[f][l]).log2()))
                    .collect();
                let start = usize::from(fd.has_missing);
                let mut w = raw.clone();
                let iso = isotonic(&raw[start..], &mass[f][start..]);
                w[start..].copy_from_slice(&iso);
                if fd.has_missing {
                    w[0] = 0.0;
                }
                w.into_iter().map(clamp_w).collect()
            })
            .collect();
    }

    /// Fit by EM. `vectors` are the candidates' comparison levels (one slice
    /// of `fields.len()` levels per candidate); `u0` the u-probabilities
    /// to start from (or keep, under [`Fit::AllPairs`]).
    pub fn fit(fields: Vec<Field>, vectors: &[u8], u0: Vec<Vec<f64>>, how: Fit) -> Model {
        let pats = patterns(vectors, fields.len());
        Model::fit_patterns(fields, &pats, u0, how)
    }

    /// Fit by EM over distinct comparison vectors and their counts
    /// (`pats`, sorted by vector, each vector `fields.len()` levels), as
    /// [`Model::fit`] does over the candidates they count.
    pub fn fit_patterns(fields: Vec<Field>, pats: &[(&[u8], f64)], u0: Vec<Vec<f64>>, how: Fit) -> Model {
        let n = pats.iter().map(|p| p.1).sum::<f64>() as usize;
        let mass: Vec<Vec<f64>> = fields
            .iter()
            .enumerate()
            .map(|(f, fd)| {
                let mut c = vec![0.0; fd.levels];
                for (p, k) in pats {
                    c[p[f] as usize] += k;
                }
                c
            })
            .collect();
        let (lambda, space) = match how {
            Fit::Candidates => (0.1, n as f64),
            Fit::AllPairs { pairs, expected } => ((expected / pairs).clamp(1e-12, 0.5), pairs),
        };
        let mut model = Model {
            m: initial_m(&fields),
            fields,
            u: u0,
            weights: Vec::new(),
            lambda,
            iterations: 0,
            all_pairs: how != Fit::Candidates,
        };
        if n == 0 {
            model.recompute_weights(&mass);
            return model;
        }
        for it in 0..200 {
            model.iterations = it + 1;
            let (new_lambda, new_m, new_u) = model.em_step(pats, space);
            let delta = (new_lambda / model.lambda).ln().abs()
                + new_m
                    .iter()
                    .flatten()
                    .zip(model.m.iter().flatten())
                    .map(|(a, b)| (a - b).abs())
                    .sum::<f64>();
            model.lambda = new_lambda;
            model.m = new_m;
            if how == Fit::Candidates {
                model.u = new_u;
            }
            if delta < 1e-7 {
                break;
            }
        }
        model.recompute_weights(&mass);
        model
    }

    /// One EM step over the patterns: the new prior (over `space` pairs),
    /// m and u.
    fn em_step(&self, pats: &[(&[u8], f64)], space: f64) -> (f64, Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let mut mc: Vec<Vec<f64>> = self.fields.iter().map(|f| vec![0.5; f.levels]).collect();
        let mut uc = mc.clone();
        let mut tot = 0.0;
        for (p, k) in pats {
            // Posterior from raw (unconstrained) ratios.
            let mut lm = self.lambda.ln();
            let mut lu = (1.0 - self.lambda).ln();
            for (f, &l) in p.iter().enumerate() {
                lm += self.m[f][l as usize].ln();
                lu += self.u[f][l as usize].ln();
            }
            let post = 1.0 / (1.0 + (lu - lm).exp());
            tot += post * k;
            for (f, &l) in p.iter().enumerate() {
                mc[f][l as usize] += post * k;
                uc[f][l as usize] += (1.0 - post) * k;
            }
        }
        let norm = |v: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
            v.into_iter()
                .map(|x| {
                    let s: f64 = x.iter().sum();
                    x.iter().map(|y| y / s).collect()
                })
                .collect()
        };
        let lambda = (tot / space).clamp(1e-12, 1.0 - 1e-6);
        (lambda, norm(mc), norm(uc))
    }
}

/// How [`Model::fit`] treats the candidates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fit {
    /// A two-class mixture over the candidates alone: prior, m and u all
    /// fitted (u starts from `u0`).
    Candidates,
    /// The candidates stand for all `pairs` pairs of the two files (pairs
    /// not gathered are non-matches): u is kept as given (from random
    /// pairs), m and the prior over all pairs are fitted, starting from
    /// `expected` matches. Blocking selects pairs that agree on something,
    /// so the candidates' non-matches are not a sample of u; the prior over
    /// all pairs puts that agreement in proportion.
    AllPairs {
        /// Pairs of the two files (left rows × right rows).
        pairs: f64,
        /// Matches expected at the start (e.g. half the smaller file).
        expected: f64,
    },
}

/// Identical comparison vectors counted once.
fn patterns(vectors: &[u8], nf: usize) -> Vec<(&[u8], f64)> {
    let n = vectors.len().checked_div(nf).unwrap_or(0);
    let mut pats: std::collections::HashMap<&[u8], f64> = Default::default();
    for v in vectors.chunks_exact(nf.max(1)).take(n) {
        *pats.entry(v).or_insert(0.0) += 1.0;
    }
    let mut pats: Vec<(&[u8], f64)> = pats.into_iter().collect();
    pats.sort_by(|a, b| a.0.cmp(b.0));
    pats
}

/// Starting m: most mass on the top level.
fn initial_m(fields: &[Field]) -> Vec<Vec<f64>> {
    fields
        .iter()
        .map(|fd| {
            let mut v: Vec<f64> = (0..fd.levels).map(|l| (l + 1) as f64).collect();
            let top = fd.levels - 1;
            v[top] *= 8.0;
            let s: f64 = v.iter().sum();
            v.iter().map(|x| x / s).collect()
        })
        .collect()
}

/// An automatic Dice threshold from the distribution of candidate scores:
/// the deepest valley of the smoothed histogram (bins of 0.01) between the
/// non-match mode and a match mode above it. `None` when the scores show no
/// such valley (too few scores, or one mode only).
pub fn valley_threshold(scores: &[f64], floor: f64) -> Option<f64> {
    if scores.len() < 200 {
        return None;
    }
    let lo = (floor * 100.0).floor() as usize;
    let nb = 101 - lo;
    let mut h = vec![0.0f64; nb];
    for &s in scores {
        if s >= floor {
            let b = ((s * 100.0).floor() as usize).min(100) - lo;
            h[b] += 1.0;
        }
    }
    // Log counts, smoothed over ±2 bins.
    let lg: Vec<f64> = h.iter().map(|c| (c + 1.0).ln()).collect();
    let sm: Vec<f64> = (0..nb)
        .map(|i| {
            let a = i.saturating_sub(2);
            let b = (i + 2).min(nb - 1);
            lg[a..=b].iter().sum::<f64>() / (b - a + 1) as f64
        })
        .collect();
    // From the non-match mode (the highest bin in the lower 40 % of the
    // range), walk up keeping the lowest bin seen; the valley is that bin
    // once counts rise again by a factor of e (the match mode). Taking the
    // first such rise keeps a second match mode (identical records at 1.0)
    // from being mistaken for it.
    let low = (nb * 2 / 5).max(1);
    let p1 = (0..low).fold(0, |b, i| if sm[i] > sm[b] { i } else { b });
    let mut min = p1;
    let mut found = None;
    for j in p1 + 1..nb {
        if sm[j] < sm[min] {
            min = j;
        } else if sm[j] - sm[min] > 0.5 {
            found = Some(min);
            break;
        }
    }
    found.map(|v| (v + lo) as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields() -> Vec<Field> {
        vec![
            Field {
                name: "dice".into(),
                levels: DICE_EDGES.len(),
                has_missing: false,
                labels: Vec::new(),
            },
            Field {
                name: "a".into(),
                levels: 3,
                has_missing: true,
                labels: Vec::new(),
            },
            Field {
                name: "b".into(),
                levels: 3,
                has_missing: true,
                labels: Vec::new(),
            },
        ]
    }

    fn uniform(f: &[Field]) -> Vec<Vec<f64>> {
        f.iter().map(|f| vec![1.0 / f.levels as f64; f.levels]).collect()
    }

    #[test]
    fn em_separates_a_clear_mixture() {
        let mut v = Vec::new();
        for i in 0..2000u32 {
            if i % 10 == 0 {
                v.extend_from_slice(&[8, 2, 2]);
            } else {
                v.extend_from_slice(&[1 + (i % 3) as u8, 1, (i % 2) as u8 + 1]);
            }
        }
        let m = Model::fit(fields(), &v, uniform(&fields()), Fit::Candidates);
        assert!((m.lambda - 0.1).abs() < 0.02, "{}", m.lambda);
        assert!(m.probability(&[8, 2, 2]) > 0.99);
        assert!(m.probability(&[1, 1, 1]) < 0.01);
    }

    #[test]
    fn valley_between_two_modes() {
        let mut s = Vec::new();
        for i in 0..5000 {
            s.push(0.5 + 0.15 * ((i % 100) as f64 / 100.0));
        }
        for i in 0..1000 {
            s.push(0.85 + 0.14 * ((i % 100) as f64 / 100.0));
        }
        let t = valley_threshold(&s, 0.5).unwrap();
        assert!((0.65..=0.85).contains(&t), "{t}");
        assert!(valley_threshold(&s[..100], 0.5).is_none());
    }

    #[test]
    fn isotonic_is_monotone() {
        assert_eq!(isotonic(&[1.0, 0.0, 2.0], &[1.0, 1.0, 1.0]), vec![0.5, 0.5, 2.0]);
    }

    fn check_model(m: &Model, pick: &[(u8, u8, u8)]) -> Result<(), TestCaseError> {
        prop_assert!(m.lambda.is_finite() && m.lambda > 0.0 && m.lambda < 1.0);
        for (f, w) in m.weights.iter().enumerate() {
            prop_assert!(w.iter().all(|x| x.is_finite()));
            let start = usize::from(m.fields[f].has_missing);
            for i in start + 1..w.len() {
                prop_assert!(w[i] >= w[i - 1]);
            }
        }
        for &(a, b, c) in pick {
            let p = m.probability(&[a, b, c]);
            prop_assert!(p.is_finite() && (0.0..=1.0).contains(&p));
            if b == 2 {
                prop_assert!(m.probability(&[a, 1, c]) <= p);
            }
            if c == 2 {
                prop_assert!(m.probability(&[a, b, 1]) <= p);
            }
            if a > 0 {
                prop_assert!(m.probability(&[a - 1, b, c]) <= p);
            }
        }
        Ok(())
    }

    #[test]
    fn one_to_one_posterior_rule() {
        // Alone, with no row assumed partnered: the match probability.
        let o = 0.25;
        assert!((one_to_one_posterior(o, o, 1.0, 0.0) - o / (1.0 + o)).abs() < 1e-12);
        // Most rows partnered and no rival: a pair at probability 0.2 is
        // accepted; with a rival of equal odds it is not.
        assert!(one_to_one_posterior(o, o, 1.0, 0.999) >= 0.5);
        assert!(one_to_one_posterior(o, 2.0 * o, 1.0, 0.999) < 0.5);
        // rho is capped: a negligible pair is never accepted for being alone.
        assert!(one_to_one_posterior(1e-4, 1e-4, 1.0, 1.0) < 0.5);
        assert_eq!(one_to_one_posterior(0.0, 1.0, 1.0, 0.5), 0.0);
    }

    proptest! {
        /// The one-to-one posterior never rises when the pair's odds fall
        /// (a field goes from agree to disagree) or a rival's odds rise, and
        /// stays in [0, 1].
        #[test]
        fn one_to_one_posterior_monotone(o in 0.0f64..1e6, d in 0.0f64..1.0, rest in 0.0f64..1e6, more in 0.0f64..1e3,
                                         scale in 0.01f64..100.0, rho in 0.0f64..1.0) {
            let p = one_to_one_posterior(o, o + rest, scale, rho);
            prop_assert!((0.0..=1.0).contains(&p));
            let lower = o * d;
            prop_assert!(one_to_one_posterior(lower, lower + rest, scale, rho) <= p + 1e-12);
            prop_assert!(one_to_one_posterior(o, o + rest + more, scale, rho) <= p + 1e-12);
        }

        /// Through a fitted model: a field going from agree to disagree
        /// never raises the one-to-one posterior of a pair, rivals fixed.
        #[test]
        fn one_to_one_through_model(raw in proptest::collection::vec((0u8..9, 0u8..3, 0u8..3), 1..300),
                                    pick in proptest::collection::vec((0u8..9, 0u8..3, 0u8..3), 1..20),
                                    rest in 0.0f64..10.0, rho in 0.0f64..1.0, pairs in 1e3f64..1e12) {
            let mut v = Vec::new();
            for (a, b, c) in &raw { v.extend_from_slice(&[*a, *b, *c]); }
            let f = fields();
            let m = Model::fit(f.clone(), &v, uniform(&f), Fit::AllPairs { pairs, expected: (pairs / 2.0).min(1e4) });
            let post = |x: [u8; 3]| { let o = m.odds(&x); one_to_one_posterior(o, o + rest, 1.0, rho) };
            for &(a, b, c) in &pick {
                let p = post([a, b, c]);
                if b == 2 { prop_assert!(post([a, 1, c]) <= p); }
                if c == 2 { prop_assert!(post([a, b, 1]) <= p); }
                if a > 0 { prop_assert!(post([a - 1, b, c]) <= p); }
            }
        }

        /// Fitted weights are finite and non-decreasing in agreement, and a
        /// pair's probability never rises when a field goes from agree to
        /// disagree (or from a higher Dice level to a lower one).
        #[test]
        fn weights_finite_monotone(raw in proptest::collection::vec((0u8..9, 0u8..3, 0u8..3), 1..400), pick in proptest::collection::vec((0u8..9, 0u8..3, 0u8..3), 1..20)) {
            let mut v = Vec::new();
            for (a, b, c) in &raw { v.extend_from_slice(&[*a, *b, *c]); }
            let m = Model::fit(fields(), &v, uniform(&fields()), Fit::Candidates);
            check_model(&m, &pick)?;
        }

        /// The same under the all-pairs fit, whatever u random pairs gave
        /// (including levels never seen) and however many pairs there are.
        #[test]
        fn all_pairs_weights_finite_monotone(
            raw in proptest::collection::vec((0u8..9, 0u8..3, 0u8..3), 0..400),
            pick in proptest::collection::vec((0u8..9, 0u8..3, 0u8..3), 1..20),
            u in proptest::collection::vec(0.0f64..1.0, 15),
            pairs in 1.0f64..1e12,
        ) {
            let mut v = Vec::new();
            for (a, b, c) in &raw { v.extend_from_slice(&[*a, *b, *c]); }
            let f = fields();
            let mut it = u.into_iter();
            let u0: Vec<Vec<f64>> = f.iter().map(|fd| {
                let x: Vec<f64> = (0..fd.levels).map(|_| it.next().unwrap_or(0.0)).collect();
                let s: f64 = x.iter().sum::<f64>().max(1e-12);
                x.into_iter().map(|y| y / s).collect()
            }).collect();
            let m = Model::fit(f, &v, u0, Fit::AllPairs { pairs, expected: (pairs / 2.0).min(1e4) });
            check_model(&m, &pick)?;
        }
    }
}
