//! Statistics for reports: intervals for proportions, comparisons between
//! arms, tests of independence and multiplicity adjustment.
//!
//! All functions take counts and a confidence level (e.g. 0.95) and return
//! `None` where the statistic is undefined (e.g. an empty denominator).

use statrs::distribution::{ChiSquared, ContinuousCDF, Discrete, Hypergeometric, Normal};
use statrs::function::beta::beta_reg;

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

/// Wilson score interval for `x` successes out of `n` (the default).
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
    Some(Estimate {
        estimate: p,
        lower: (centre - half).max(0.0),
        upper: (centre + half).min(1.0),
    })
}

/// Clopper–Pearson ("exact") interval from the beta distribution.
pub fn clopper_pearson(x: u64, n: u64, confidence: f64) -> Option<Estimate> {
    if n == 0 || x > n {
        return None;
    }
    let alpha = 1.0 - confidence;
    let (xf, nf) = (x as f64, n as f64);
    let lower = if x == 0 {
        0.0
    } else {
        beta_quantile(alpha / 2.0, xf, nf - xf + 1.0)
    };
    let upper = if x == n {
        1.0
    } else {
        beta_quantile(1.0 - alpha / 2.0, xf + 1.0, nf - xf)
    };
    Some(Estimate {
        estimate: xf / nf,
        lower,
        upper,
    })
}

/// Quantile of Beta(a, b) by bisection on the regularised incomplete beta
/// function (statrs's generic inverse stops after 16 halvings).
fn beta_quantile(p: f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if beta_reg(a, b, mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-15 {
            break;
        }
    }
    0.5 * (lo + hi)
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
/// continuity correction). Rows or columns that are entirely zero are
/// dropped; `None` if fewer than two rows or columns remain.
pub fn chi_square(table: &[Vec<u64>]) -> Option<ChiSquare> {
    let ncols = table.first()?.len();
    if table.iter().any(|r| r.len() != ncols) {
        return None;
    }
    let rows: Vec<&Vec<u64>> = table.iter().filter(|r| r.iter().sum::<u64>() > 0).collect();
    let keep: Vec<usize> = (0..ncols)
        .filter(|&j| rows.iter().map(|r| r[j]).sum::<u64>() > 0)
        .collect();
    if rows.len() < 2 || keep.len() < 2 {
        return None;
    }
    let row_tot: Vec<f64> = rows
        .iter()
        .map(|r| keep.iter().map(|&j| r[j] as f64).sum())
        .collect();
    let col_tot: Vec<f64> = keep
        .iter()
        .map(|&j| rows.iter().map(|r| r[j] as f64).sum())
        .collect();
    let n: f64 = row_tot.iter().sum();
    let mut stat = 0.0;
    for (i, r) in rows.iter().enumerate() {
        for (k, &j) in keep.iter().enumerate() {
            let e = row_tot[i] * col_tot[k] / n;
            stat += (r[j] as f64 - e).powi(2) / e;
        }
    }
    let df = ((rows.len() - 1) * (keep.len() - 1)) as u64;
    let p_value = ChiSquared::new(df as f64).ok()?.sf(stat);
    Some(ChiSquare {
        statistic: stat,
        df,
        p_value,
    })
}

/// Fisher's exact test for the 2×2 table `[[a, b], [c, d]]`, two-sided:
/// the sum of the probabilities of every table with the same margins that
/// is no more likely than the one observed (relative tolerance 1e-7, as R
/// and SciPy use).
pub fn fisher_exact(a: u64, b: u64, c: u64, d: u64) -> Option<f64> {
    let n = a + b + c + d;
    if n == 0 {
        return None;
    }
    let (row1, col1) = (a + b, a + c);
    let h = Hypergeometric::new(n, col1, row1).ok()?;
    let lo = row1.saturating_sub(n - col1);
    let hi = row1.min(col1);
    let p_obs = h.pmf(a);
    let mut p = 0.0;
    for k in lo..=hi {
        let pk = h.pmf(k);
        if pk <= p_obs * (1.0 + 1e-7) {
            p += pk;
        }
    }
    Some(p.min(1.0))
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

    #[test]
    fn odds_ratio_haldane_on_zero() {
        let e = odds_ratio(0, 10, 5, 5, 0.95).unwrap();
        assert!(e.estimate.is_finite() && e.lower > 0.0 && e.upper.is_finite());
        assert!(odds_ratio(0, 0, 5, 5, 0.95).is_none());
    }
}
