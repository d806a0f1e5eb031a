//! Statistics for reports: intervals for proportions, comparisons between
//! arms, tests of independence and multiplicity adjustment.
//!
//! All functions take counts and a confidence level (e.g. 0.95) and return
//! `None` where the statistic is undefined (e.g. an empty denominator).

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

/// A point estimate with a confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Estimate {
    /// Point estimate.
    pub estimate: f64,
    /// Lower limit.
    pub lower: f64,
    /// Upper limit.
    pub upper: f64,
}

/// The two-sided standard normal quantile for `confidence` (1.959964 for 0.95).
pub fn z_value(confidence: f64) -> f64 {
    let n = Normal::new(0.0, 1.0).expect("standard normal");
    n.inverse_cdf(1.0 - (1.0 - confidence) / 2.0)
}

/// Wilson score interval for `x` successes out of `n` (the default), as
/// statsmodels' `proportion_confint(method="wilson")`. The lower limit is
/// computed as `x² / (n(n+z²)(centre + half))`, algebraically equal to
/// `centre − half` but free of cancellation when it is small, and the upper
/// limit for `x > n/2` as the mirror image of the lower limit of `n − x`
/// (so it is exactly 1 when `x = n`).
pub fn wilson(x: u64, n: u64, confidence: f64) -> Option<Estimate> {
    if n == 0 || x > n {
        return None;
    }
    let (x, n) = (x as f64, n as f64);
    let z = z_value(confidence);
    let z2 = z * z;
    let p = x / n;
    let centre = (x + z2 / 2.0) / (n + z2);
    let half = z / (n + z2) * (x * (n - x) / n + z2 / 4.0).sqrt();
    let lower = x * x / (n * (n + z2) * (centre + half));
    let upper = if 2.0 * x <= n {
        centre + half
    } else {
        // The mirror image of the lower limit of n − x (exactly 1 at x = n).
        let y = n - x;
        1.0 - y * y / (n * (n + z2) * ((y + z2 / 2.0) / (n + z2) + half))
    };
    Some(Estimate {
        estimate: p,
        lower: lower.clamp(0.0, 1.0),
        upper: upper.clamp(0.0, 1.0),
    })
}

/// Clopper–Pearson ("exact") interval: the limits solve
/// `P(X ≥ x | n, p_lower) = α/2` and `P(X ≤ x | n, p_upper) = α/2`, i.e. the
/// beta quantiles `Beta(α/2; x, n−x+1)` and `Beta(1−α/2; x+1, n−x)`, as
/// statsmodels' `proportion_confint(method="beta")`. Accurate to ~1e-12
/// (relative) for `n` up to 10⁷ and beyond.
pub fn clopper_pearson(x: u64, n: u64, confidence: f64) -> Option<Estimate> {
    if n == 0 || x > n || n > 1u64 << 53 || !(0.0 < confidence && confidence < 1.0) {
        return None;
    }
    let half_alpha = (1.0 - confidence) / 2.0;
    let (xf, nf) = (x as f64, n as f64);
    let lower = if x == 0 {
        0.0
    } else {
        // I_p(x, n-x+1) rises with p.
        bisect_increasing(|p| beta_inc_int(xf, nf - xf + 1.0, p, 1.0 - p).0, half_alpha)
    };
    let upper = if x == n {
        1.0
    } else {
        // 1 - I_p(x+1, n-x) falls with p; solve I_p(x+1, n-x) = 1 - α/2
        // on the complement so that small limits keep their precision.
        bisect_increasing(|p| -beta_inc_int(xf + 1.0, nf - xf, p, 1.0 - p).1, -half_alpha)
    };
    Some(Estimate {
        estimate: xf / nf,
        lower,
        upper,
    })
}

/// The `p` in (0, 1) where the increasing `f` crosses `target`, by
/// bisection down to adjacent doubles (or 2000 halvings).
fn bisect_increasing(f: impl Fn(f64) -> f64, target: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..2000 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if f(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The regularised incomplete beta function `I_x(a, b)` and its complement
/// `1 − I_x(a, b)`, for whole `a, b ≥ 1`. With `X ~ Bin(a+b−1, x)`,
/// `I_x(a, b) = P(X ≥ a)`: when `a` or `b` is at most [`DIRECT_TERMS`] the
/// shorter tail is summed term by term; otherwise the continued fraction on
/// whichever side converges (Numerical Recipes §6.4, modified Lentz,
/// without statrs's 140-term cap, which is too few for `a, b` ~ 10⁵), its
/// prefactor a binomial probability from [`ln_dbinom`]. `y = 1 − x` is
/// passed separately so that neither loses digits near 0 or 1.
fn beta_inc_int(a: f64, b: f64, x: f64, y: f64) -> (f64, f64) {
    if x <= 0.0 {
        return (0.0, 1.0);
    }
    if y <= 0.0 {
        return (1.0, 0.0);
    }
    let trials = a + b - 1.0;
    if a <= DIRECT_TERMS {
        // P(X ≤ a−1), from a−1 down to 0.
        let lower = binomial_tail(a - 1.0, 0.0, trials, x, y);
        return (1.0 - lower, lower);
    }
    if b <= DIRECT_TERMS {
        // P(X ≥ a), from a up to a+b−1.
        let upper = binomial_tail(a, trials, trials, x, y);
        return (upper, 1.0 - upper);
    }
    if x < (a + 1.0) / (a + b + 2.0) {
        let i = beta_front(a, b, x, y) * beta_cf(a, b, x, y);
        (i, 1.0 - i)
    } else {
        let j = beta_front(b, a, y, x) * beta_cf(b, a, y, x);
        (1.0 - j, j)
    }
}

/// Tails at most this long are summed directly in [`beta_inc_int`].
const DIRECT_TERMS: f64 = 2000.0;

/// `Σ P(X = k)` for `X ~ Bin(n, p)` (`q = 1 − p`) and `k` from `start` to
/// `end` (either direction), each term from the previous by the ratio
/// recurrence, in units of the first term (rescaled if they grow) so that
/// nothing underflows before the final `exp`. Stops early, once the terms
/// shrink, when the rest (bounded by a geometric series, the binomial being
/// log-concave) is below 1e-17 of the sum.
fn binomial_tail(start: f64, end: f64, n: f64, p: f64, q: f64) -> f64 {
    let up = end >= start;
    let (mut k, mut term, mut sum, mut ln_scale) = (start, 1.0f64, 1.0f64, 0.0f64);
    while k != end {
        let ratio = if up {
            (n - k) / (k + 1.0) * (p / q)
        } else {
            k / (n - k + 1.0) * (q / p)
        };
        if ratio < 1.0 && term * ratio / (1.0 - ratio) < 1e-17 * sum {
            break;
        }
        term *= ratio;
        sum += term;
        if sum > 1e250 {
            term *= 1e-250;
            sum *= 1e-250;
            ln_scale += 250.0 * std::f64::consts::LN_10;
        }
        k += if up { 1.0 } else { -1.0 };
    }
    (ln_dbinom(start, n, p, q) + ln_scale + sum.ln()).exp()
}

/// `x^a (1−x)^b / (a·B(a, b))` for whole `a, b`: `(1−x)·P(Bin(a+b−1, x) = a)`.
fn beta_front(a: f64, b: f64, x: f64, y: f64) -> f64 {
    y * ln_dbinom(a, a + b - 1.0, x, y).exp()
}

/// The continued fraction for `I_x(a, b)` (to be multiplied by
/// [`beta_front`]); `y = 1 − x` given separately so that its first term,
/// `1 − (a+b)x/(a+1)`, keeps its digits when `x` is close to 1.
fn beta_cf(a: f64, b: f64, x: f64, y: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0f64;
    let mut d = if x <= 0.5 {
        1.0 - qab * x / qap
    } else {
        (1.0 - b + qab * y) / qap
    };
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=1_000_000u32 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
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
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() <= f64::EPSILON {
            break;
        }
    }
    h
}

/// Risk difference `x1/n1 - x2/n2` with Newcombe's hybrid score interval
/// (his method 10, built from the two Wilson intervals).
pub fn risk_difference(x1: u64, n1: u64, x2: u64, n2: u64, confidence: f64) -> Option<Estimate> {
    let a = wilson(x1, n1, confidence)?;
    let b = wilson(x2, n2, confidence)?;
    let d = a.estimate - b.estimate;
    let lower = d - ((a.estimate - a.lower).powi(2) + (b.upper - b.estimate).powi(2)).sqrt();
    let upper = d + ((a.upper - a.estimate).powi(2) + (b.estimate - b.lower).powi(2)).sqrt();
    Some(Estimate {
        estimate: d,
        lower,
        upper,
    })
}

/// Odds ratio of the 2×2 table `[[a, b], [c, d]]` (rows: arms; columns:
/// event, no event) with the logit (Woolf) interval
/// `exp(ln OR ± z·sqrt(1/a + 1/b + 1/c + 1/d))`. When any cell is zero,
/// 0.5 is added to every cell first (the Haldane–Anscombe correction), so
/// the estimate and interval stay finite. `None` when a whole row or
/// column is empty.
pub fn odds_ratio(a: u64, b: u64, c: u64, d: u64, confidence: f64) -> Option<Estimate> {
    if a + b == 0 || c + d == 0 || a + c == 0 || b + d == 0 {
        return None;
    }
    let k = if a == 0 || b == 0 || c == 0 || d == 0 {
        0.5
    } else {
        0.0
    };
    let (a, b, c, d) = (a as f64 + k, b as f64 + k, c as f64 + k, d as f64 + k);
    let ln_or = (a * d / (b * c)).ln();
    let se = (1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d).sqrt();
    let z = z_value(confidence);
    Some(Estimate {
        estimate: ln_or.exp(),
        lower: (ln_or - z * se).exp(),
        upper: (ln_or + z * se).exp(),
    })
}

/// Result of a chi-square test.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChiSquare {
    /// Pearson's statistic (no continuity correction).
    pub statistic: f64,
    /// Degrees of freedom.
    pub df: u64,
    /// Upper-tail p-value.
    pub p_value: f64,
}

/// Pearson's chi-square test of independence for an r×c table (no
/// continuity correction: `scipy.stats.chi2_contingency(correction=False)`;
/// SciPy's default applies Yates's correction to 2×2 tables). Rows or
/// columns that are entirely zero are dropped; `None` if fewer than two rows
/// or columns remain (or the total exceeds 2⁶²).
///
/// Each term is `(o·N − R·C)² / (N·R·C)` with `o·N − R·C` computed exactly
/// in integers, so the statistic does not lose digits to cancellation when
/// counts are large and close to their expectations; the p-value is the
/// closed-form chi-square survival function for whole degrees of freedom.
pub fn chi_square(table: &[Vec<u64>]) -> Option<ChiSquare> {
    let ncols = table.first()?.len();
    if table.iter().any(|r| r.len() != ncols) {
        return None;
    }
    let sum = |it: &mut dyn Iterator<Item = u64>| it.map(u128::from).sum::<u128>();
    let rows: Vec<&Vec<u64>> = table.iter().filter(|r| sum(&mut r.iter().copied()) > 0).collect();
    let keep: Vec<usize> = (0..ncols)
        .filter(|&j| sum(&mut rows.iter().map(|r| r[j])) > 0)
        .collect();
    if rows.len() < 2 || keep.len() < 2 {
        return None;
    }
    let row_tot: Vec<u128> = rows
        .iter()
        .map(|r| sum(&mut keep.iter().map(|&j| r[j])))
        .collect();
    let col_tot: Vec<u128> = keep
        .iter()
        .map(|&j| sum(&mut rows.iter().map(|r| r[j])))
        .collect();
    let n: u128 = row_tot.iter().sum();
    if n > 1u128 << 62 {
        return None;
    }
    let mut stat = 0.0;
    for (i, r) in rows.iter().enumerate() {
        for (k, &j) in keep.iter().enumerate() {
            let rc = row_tot[i] * col_tot[k];
            let diff = (u128::from(r[j]) * n).abs_diff(rc) as f64;
            stat += diff * diff / (n as f64 * rc as f64);
        }
    }
    let df = ((rows.len() - 1) * (keep.len() - 1)) as u64;
    let p_value = chi_square_sf(stat, df)?;
    Some(ChiSquare {
        statistic: stat,
        df,
        p_value,
    })
}

/// Upper tail of the chi-square distribution with `df` degrees of freedom.
/// For whole `df` up to 1000 the closed form: `e^{−x/2} Σ (x/2)^i / i!`
/// (even `df`) or `erfc(√(x/2)) + e^{−x/2} Σ (x/2)^{i+½} / Γ(i+3/2)` (odd),
/// each term in log space so nothing overflows; statrs beyond. `erfc` is
/// libm's (FreeBSD's, within 1 ulp): statrs 0.17's is off by up to ~1e-10
/// relative (erfc(0.5) = 0.479500122236 vs 0.479500122187).
fn chi_square_sf(x: f64, df: u64) -> Option<f64> {
    if df == 0 || x.is_nan() {
        return None;
    }
    if x <= 0.0 {
        return Some(1.0);
    }
    if df > 1000 {
        return Some(ChiSquared::new(df as f64).ok()?.sf(x));
    }
    let h = x / 2.0;
    let ln_h = h.ln();
    let (mut p, mut power, mut ln_gamma_term) = if df.is_multiple_of(2) {
        (0.0, 0.0, 0.0) // terms (x/2)^i / Γ(i+1), i from 0
    } else {
        (libm::erfc(h.sqrt()), 0.5, LN_GAMMA_3_2) // (x/2)^(i+1/2) / Γ(i+3/2)
    };
    let terms = if df.is_multiple_of(2) {
        df / 2
    } else {
        (df - 1) / 2
    };
    for _ in 0..terms {
        p += (power * ln_h - h - ln_gamma_term).exp();
        ln_gamma_term += (power + 1.0).ln();
        power += 1.0;
    }
    Some(p.min(1.0))
}

/// Relative tolerance for ties in [`fisher_exact`]: a table counts as "no
/// more likely" than the observed one when its probability is at most
/// `pmf(observed) · (1 + 1e-7)`. This is R's `fisher.test` rule; SciPy
/// (1.17) uses `1 + 1e-14`, which is tighter than the rounding error of
/// log-probabilities near 1e-287 (a mirror-image table of equal arms, whose
/// probability is mathematically equal, can then fall either side). The two
/// rules differ otherwise only when another table's probability lies within
/// 1e-7 (relative) of the observed one's without equalling it; none of the
/// 1,700 tables of the SciPy grid (`tests/stats_grid.rs`) does.
pub const FISHER_RELATIVE_TOLERANCE: f64 = 1e-7;

/// Fisher's exact test for the 2×2 table `[[a, b], [c, d]]`, two-sided:
/// the sum of the probabilities of every table with the same margins that
/// is no more likely than the one observed (relative tolerance
/// [`FISHER_RELATIVE_TOLERANCE`], R's rule).
///
/// Computed from accurate log-probabilities (Loader's saddle-point
/// hypergeometric density) and ratio recurrences over the support only, so
/// it is exact to about 1e-12 (relative) for arms of any size up to 2⁵³ in
/// total and takes well under a millisecond for arms of 10⁶. A table with
/// only one possible arrangement (a zero row or column total) has p = 1,
/// as in SciPy; `None` only for an empty table or counts whose total
/// exceeds 2⁵³.
pub fn fisher_exact(a: u64, b: u64, c: u64, d: u64) -> Option<f64> {
    fisher_exact_with_tolerance(a, b, c, d, FISHER_RELATIVE_TOLERANCE)
}

/// [`fisher_exact`] with a chosen relative tolerance for ties.
fn fisher_exact_with_tolerance(a: u64, b: u64, c: u64, d: u64, relative_tolerance: f64) -> Option<f64> {
    let n = u128::from(a) + u128::from(b) + u128::from(c) + u128::from(d);
    if n == 0 || n > 1u128 << 53 || relative_tolerance.is_nan() || relative_tolerance < 0.0 {
        return None;
    }
    // Every count now fits exactly in an f64 and an i64.
    let (a, n) = (a as i64, n as i64);
    let r1 = a + b as i64;
    let c1 = a + c as i64;
    let lo = (r1 + c1 - n).max(0);
    let hi = r1.min(c1);
    if lo == hi {
        return Some(1.0);
    }
    let lp = |k: i64| ln_dhyper(k as f64, c1 as f64, (n - c1) as f64, r1 as f64);
    let mode = ((i128::from(r1) + 1) * (i128::from(c1) + 1) / (i128::from(n) + 2)) as i64;
    let mode = mode.clamp(lo, hi);
    let threshold = lp(a) + relative_tolerance.ln_1p();
    if lp(mode) <= threshold {
        return Some(1.0);
    }
    // The distribution is log-concave: every table left of `k1` and right of
    // `k2` is included, nothing in between.
    let mut p = 0.0;
    if lp(lo) <= threshold {
        // Largest k in [lo, mode) with lp(k) <= threshold (lp rises to the mode).
        let (mut l, mut h) = (lo, mode);
        while h - l > 1 {
            let m = l + (h - l) / 2;
            if lp(m) <= threshold {
                l = m;
            } else {
                h = m;
            }
        }
        p += fisher_tail(l, lo, -1, r1, c1, n, lp(l));
    }
    if lp(hi) <= threshold {
        // Smallest k in (mode, hi] with lp(k) <= threshold.
        let (mut l, mut h) = (mode, hi);
        while h - l > 1 {
            let m = l + (h - l) / 2;
            if lp(m) <= threshold {
                h = m;
            } else {
                l = m;
            }
        }
        p += fisher_tail(h, hi, 1, r1, c1, n, lp(h));
    }
    Some(p.min(1.0))
}

/// Sum of the hypergeometric probabilities from `start` outward (step
/// `dir` = ±1) to `end`, given `ln pmf(start)`. Terms are built by the ratio
/// recurrence relative to the first one, and the walk stops once the rest of
/// the tail (bounded by a geometric series, the ratios shrinking outward
/// because the distribution is log-concave) is below 1e-17 of the sum.
fn fisher_tail(start: i64, end: i64, dir: i64, r1: i64, c1: i64, n: i64, ln_first: f64) -> f64 {
    let e = n - r1 - c1; // d = e + k
    let (mut k, mut term, mut sum) = (start, 1.0f64, 1.0f64);
    while k != end {
        let ratio = if dir > 0 {
            // pmf(k+1) / pmf(k)
            ((r1 - k) as f64 * (c1 - k) as f64) / ((k + 1) as f64 * (e + k + 1) as f64)
        } else {
            // pmf(k-1) / pmf(k)
            (k as f64 * (e + k) as f64) / ((r1 - k + 1) as f64 * (c1 - k + 1) as f64)
        };
        if ratio < 1.0 && term * ratio / (1.0 - ratio) < 1e-17 * sum {
            break;
        }
        term *= ratio;
        sum += term;
        k += dir;
    }
    (ln_first + sum.ln()).exp()
}

/// ln Γ(3/2) = ln(√π / 2).
const LN_GAMMA_3_2: f64 = -0.120_782_237_635_245_22;
/// ln √(2π).
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
/// ln 2π.
const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Stirling's error `ln n! − [(n + ½) ln n − n + ln √(2π)]` for whole `n ≥ 1`
/// (Loader 2000, "Fast and accurate computation of binomial probabilities").
fn stirlerr(n: f64) -> f64 {
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    if n <= 15.0 {
        // n! is exact in an f64 up to 22!.
        let mut f = 1.0f64;
        let mut i = 2.0;
        while i <= n {
            f *= i;
            i += 1.0;
        }
        return f.ln() - (n + 0.5) * n.ln() + n - LN_SQRT_2PI;
    }
    let nn = n * n;
    if n > 500.0 {
        (S0 - S1 / nn) / n
    } else if n > 80.0 {
        (S0 - (S1 - S2 / nn) / nn) / n
    } else if n > 35.0 {
        (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n
    } else {
        (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / n
    }
}

/// Deviance term `x ln(x/np) + np − x`, computed without cancellation when
/// `x` is close to `np` (Loader 2000).
fn bd0(x: f64, np: f64) -> f64 {
    if (x - np).abs() < 0.1 * (x + np) {
        let v = (x - np) / (x + np);
        let mut s = (x - np) * v;
        let mut ej = 2.0 * x * v;
        let v2 = v * v;
        for j in 1..1000 {
            ej *= v2;
            let s1 = s + ej / f64::from(2 * j + 1);
            if s1 == s {
                return s1;
            }
            s = s1;
        }
        s
    } else {
        x * (x / np).ln() + np - x
    }
}

/// ln of the binomial probability of `x` in `n` trials with success
/// probability `p` (`q = 1 − p` given separately), accurate to ~1e-15
/// relative in the probability for any `n` (R's `dbinom_raw`).
fn ln_dbinom(x: f64, n: f64, p: f64, q: f64) -> f64 {
    if p == 0.0 {
        return if x == 0.0 { 0.0 } else { f64::NEG_INFINITY };
    }
    if q == 0.0 {
        return if x == n { 0.0 } else { f64::NEG_INFINITY };
    }
    if x == 0.0 {
        if n == 0.0 {
            return 0.0;
        }
        return if p < 0.1 {
            -bd0(n, n * q) - n * p
        } else {
            n * q.ln()
        };
    }
    if x == n {
        return if q < 0.1 {
            -bd0(n, n * p) - n * q
        } else {
            n * p.ln()
        };
    }
    if x < 0.0 || x > n {
        return f64::NEG_INFINITY;
    }
    let lc = stirlerr(n) - stirlerr(x) - stirlerr(n - x) - bd0(x, n * p) - bd0(n - x, n * q);
    // ln(x (n−x) / n), without losing n−x to rounding when x is close to n.
    let lf = if 2.0 * x <= n {
        LN_2PI + x.ln() + (-x / n).ln_1p()
    } else {
        LN_2PI + x.ln() + ((n - x) / n).ln()
    };
    lc - 0.5 * lf
}

/// ln of the hypergeometric probability of `x` successes in `k` draws from
/// `m` successes and `f` failures (R's `dhyper`).
fn ln_dhyper(x: f64, m: f64, f: f64, k: f64) -> f64 {
    let t = m + f;
    let (p, q) = (k / t, (t - k) / t);
    ln_dbinom(x, m, p, q) + ln_dbinom(k - x, f, p, q) - ln_dbinom(k, t, p, q)
}

/// Holm's step-down adjustment of p-values, returned in the input order.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]).then(i.cmp(&j)));
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        let adj = ((m - rank) as f64 * p_values[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wilson_reference() {
        // independent reference: 24/131 -> 0.1263..0.2581
        let w = wilson(24, 131, 0.95).unwrap();
        assert!(
            close(w.lower, 0.1263, 5e-5) && close(w.upper, 0.2581, 5e-5),
            "{w:?}"
        );
        assert!(wilson(0, 0, 0.95).is_none());
        let w = wilson(0, 10, 0.95).unwrap();
        assert_eq!(w.lower, 0.0);
    }

    #[test]
    fn holm_monotone_and_capped() {
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        // sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max(0.06,0.04)=0.06
        assert_eq!(adj, vec![0.03, 0.06, 0.06, 0.02]);
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }

    /// Issue 16 item 3: p was printed 0.000000 once arms reached ~1,700.
    #[test]
    fn fisher_issue_cases() {
        // 145/1700 vs 130/1695 enrolled: scipy.stats.fisher_exact -> 0.37868912619727874
        let p = fisher_exact(145, 1555, 130, 1565).unwrap();
        assert!((p - 0.378_689_126_197_278_74).abs() < 1e-12, "{p}");
        // Two arms with nobody enrolled: one possible table, p = 1.
        assert_eq!(fisher_exact(0, 1700, 0, 1695), Some(1.0));
        assert_eq!(fisher_exact(0, 1_000_000, 0, 1_000_000), Some(1.0));
        assert_eq!(fisher_exact(0, 0, 0, 5), Some(1.0));
        assert_eq!(fisher_exact(0, 0, 0, 0), None);
        // Identical arms: the observed table is the mode.
        assert_eq!(fisher_exact(500_000, 500_000, 500_000, 500_000), Some(1.0));
    }

    /// Values computed with mpmath at 30-40 significant digits (the
    /// references SciPy/statsmodels only approximate at this size).
    #[test]
    fn pinned_high_precision_values() {
        let rel = |a: f64, b: f64| (a - b).abs() / b;
        // Fisher, arms 1.35e6 and 2.64e6; SciPy gives 0.12321097625709004.
        let p = fisher_exact(26_047, 1_328_221, 50_127, 2_586_759).unwrap();
        assert!(rel(p, 0.123_210_976_329_649_74) < 1e-13, "{p}");
        // Clopper–Pearson upper for 1/10^7: root of (1-p)^n + np(1-p)^(n-1) = 0.025;
        // statsmodels gives 5.571642116990815e-07.
        let cp = clopper_pearson(1, 10_000_000, 0.95).unwrap();
        assert!(rel(cp.upper, 5.571_642_117_360_731e-7) < 1e-13, "{cp:?}");
        // Chi-square p for 2716/669496 vs 5295/1327159 = erfc(sqrt(X²/2)), X² exact;
        // statrs's erfc gave 0.47916815974146126.
        let c = chi_square(&[vec![2716, 666_780], vec![5295, 1_321_864]]).unwrap();
        assert!(rel(c.p_value, 0.479_168_159_692_124_4) < 1e-14, "{c:?}");
    }

    /// Every statistic on arms of 10^4..10^7: finite, in range, and a p-value
    /// is never 0 unless it is genuinely below 1e-300.
    #[test]
    fn large_counts_are_finite_and_in_range() {
        let ns = [10_000u64, 123_457, 1_000_000, 10_000_000];
        let mut checked = 0;
        for &n1 in &ns {
            for &n2 in &ns {
                for f1 in [0.0, 1e-6, 0.01, 0.3, 0.5, 1.0] {
                    for f2 in [0.0, 1e-6, 0.0101, 0.3, 0.5001, 1.0] {
                        let (x1, x2) = ((f1 * n1 as f64) as u64, (f2 * n2 as f64) as u64);
                        let (a, b, c, d) = (x1, n1 - x1, x2, n2 - x2);
                        for e in [
                            wilson(x1, n1, 0.95).unwrap(),
                            clopper_pearson(x1, n1, 0.95).unwrap(),
                        ] {
                            assert!(
                                0.0 <= e.lower
                                    && e.lower <= e.estimate
                                    && e.estimate <= e.upper
                                    && e.upper <= 1.0,
                                "{x1}/{n1} {e:?}"
                            );
                        }
                        let rd = risk_difference(x1, n1, x2, n2, 0.95).unwrap();
                        assert!(
                            rd.lower.is_finite() && rd.lower <= rd.estimate && rd.estimate <= rd.upper,
                            "{rd:?}"
                        );
                        if let Some(o) = odds_ratio(a, b, c, d, 0.95) {
                            assert!(
                                o.lower > 0.0
                                    && o.lower <= o.estimate
                                    && o.estimate <= o.upper
                                    && o.upper.is_finite(),
                                "{o:?}"
                            );
                        }
                        let p = fisher_exact(a, b, c, d).unwrap();
                        assert!((0.0..=1.0).contains(&p), "{a} {b} {c} {d}: {p}");
                        if let Some(chi) = chi_square(&[vec![a, b], vec![c, d]]) {
                            assert!(
                                chi.statistic.is_finite() && (0.0..=1.0).contains(&chi.p_value),
                                "{chi:?}"
                            );
                            // Fisher and chi-square agree on whether p is tiny.
                            if chi.p_value > 1e-3 {
                                assert!(p > 1e-6, "{a} {b} {c} {d}: fisher {p}, chi-square {chi:?}");
                            }
                            if p == 0.0 {
                                assert!(chi.p_value < 1e-250, "{a} {b} {c} {d}: {chi:?}");
                            }
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 16 * 36);
        // Near-identical arms of 10^6: p is moderate, not 0.000000.
        let p = fisher_exact(100_000, 900_000, 100_300, 899_700).unwrap();
        assert!(p > 0.4 && p < 0.7, "{p}");
    }

    /// Fisher at arms of 10^6 sums only over the support near the mode.
    #[test]
    fn fisher_is_fast_at_a_million_per_arm() {
        let start = std::time::Instant::now();
        let mut k = 0;
        for x2 in (499_000..=501_000).step_by(100) {
            let p = fisher_exact(500_000, 500_000, x2, 1_000_000 - x2).unwrap();
            assert!(p > 0.0 && p <= 1.0);
            k += 1;
        }
        let each = start.elapsed() / k;
        // Generous for an unoptimised build on a shared machine; see the
        // report for measured figures.
        assert!(each.as_millis() < 250, "{each:?} per test");
    }

    #[test]
    fn odds_ratio_haldane_on_zero() {
        let e = odds_ratio(0, 10, 5, 5, 0.95).unwrap();
        assert!(e.estimate.is_finite() && e.lower > 0.0 && e.upper.is_finite());
        assert!(odds_ratio(0, 0, 5, 5, 0.95).is_none());
    }
}
