//! Every statistic in `reports::stats` against SciPy 1.17.1 / statsmodels
//! 0.15.0 on a grid with counts up to 10⁷ (arms up to 10⁶ for the 2×2
//! comparisons), including 0 events, all events and empty arms.
//!
//! The fixtures under `tests/fixtures/stats_*.csv` were made by
//! `tests/scipy_grid.py` (see its docstring for the exact calls and how to
//! re-run it); this test needs no Python.
//!
//! Tolerances (stated once, used everywhere below):
//! * p-values: relative 1e-9 when the reference is above 1e-300; below that
//!   ours must also be below 1e-290 (both are "zero" for any report).
//!   Fisher's p is also held to relative 1e-12 against a 30-digit mpmath
//!   computation (633 tables with both arms ≥ 1000), because SciPy's own
//!   value is off by up to 5.9e-10 there.
//! * interval limits, estimates and chi-square statistics: relative 1e-9,
//!   with an absolute floor of 1e-15 (limits are probabilities or
//!   differences of probabilities, so 1e-15 is below anything printed).
//!
//! Where the reference itself is numerically weaker than ours (SciPy's
//! chi-square statistic sums `(o − e)²/e` in floating point and loses digits
//! when counts are large and close to expectation) the fixture also carries
//! the exact rational value, and the statistic is held to that.

use reports::stats::*;
use std::collections::BTreeMap;

const REL: f64 = 1e-9;
const ABS: f64 = 1e-15;

fn fixture(name: &str) -> Vec<Vec<String>> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let rows: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert!(rows.len() > 40, "{path}: only {} rows", rows.len());
    rows
}

fn opt(s: &str) -> Option<f64> {
    (!s.is_empty()).then(|| s.parse().expect("float in fixture"))
}

fn int(s: &str) -> u64 {
    s.parse().expect("integer in fixture")
}

/// Largest relative error seen per statistic, and how many comparisons.
#[derive(Default)]
struct Worst(BTreeMap<&'static str, (f64, usize, String)>, Vec<String>);

impl Worst {
    fn value(&mut self, what: &'static str, case: &str, ours: f64, reference: f64) {
        let err = (ours - reference).abs();
        // Relative error where the reference is above the absolute floor.
        let rel = if reference.abs() > 1e3 * ABS {
            err / reference.abs()
        } else {
            0.0
        };
        self.check(
            ours.is_finite() && err <= REL * reference.abs() + ABS,
            format!("{what} {case}: ours {ours:e}, reference {reference:e}, relative error {rel:e}"),
        );
        self.note(what, case, rel);
    }

    fn p(&mut self, what: &'static str, case: &str, ours: f64, reference: f64) {
        self.p_within(what, case, ours, reference, REL);
    }

    fn p_within(&mut self, what: &'static str, case: &str, ours: f64, reference: f64, tol: f64) {
        let msg = format!("{what} {case}: ours {ours:e}, reference {reference:e}");
        self.check((0.0..=1.0).contains(&ours), msg.clone());
        if reference > 1e-300 {
            let rel = (ours - reference).abs() / reference;
            self.check(rel <= tol, format!("{msg}, relative error {rel:e}"));
            self.note(what, case, rel);
        } else {
            self.check(ours < 1e-290, msg);
            self.note(what, case, 0.0);
        }
    }

    fn none(&mut self, what: &'static str, case: &str, ours: Option<impl std::fmt::Debug>) {
        let ok = ours.is_none();
        self.check(
            ok,
            format!("{what} {case}: {ours:?} where the reference is undefined"),
        );
        self.note(what, case, 0.0);
    }

    fn check(&mut self, ok: bool, message: String) {
        if !ok {
            self.1.push(message);
        }
    }

    fn note(&mut self, what: &'static str, case: &str, rel: f64) {
        let e = self.0.entry(what).or_insert((0.0, 0, String::new()));
        e.1 += 1;
        if rel > e.0 {
            e.0 = rel;
            e.2 = case.to_string();
        }
    }

    fn report(&self, expect: &[&str]) {
        for (k, (rel, count, case)) in &self.0 {
            eprintln!("{k:>22}: {count:>5} compared, max relative error {rel:.2e} ({case})");
        }
        for m in self.1.iter().take(30) {
            eprintln!("FAIL {m}");
        }
        assert!(
            self.1.is_empty(),
            "{} disagreements (first 30 above)",
            self.1.len()
        );
        for k in expect {
            let (_, count, _) = self.0.get(k).unwrap_or_else(|| panic!("{k} never compared"));
            assert!(*count >= 40, "{k}: only {count} comparisons");
        }
    }
}

#[test]
fn proportions_match_statsmodels() {
    let mut w = Worst::default();
    for r in fixture("stats_proportions.csv") {
        let (x, n, conf) = (int(&r[0]), int(&r[1]), r[2].parse::<f64>().unwrap());
        let case = format!("{x}/{n} at {conf}");
        let wi = wilson(x, n, conf).expect("n > 0");
        w.value("wilson lower", &case, wi.lower, opt(&r[3]).unwrap());
        w.value("wilson upper", &case, wi.upper, opt(&r[4]).unwrap());
        let cp = clopper_pearson(x, n, conf).expect("n > 0");
        w.value("clopper-pearson lower", &case, cp.lower, opt(&r[5]).unwrap());
        w.value("clopper-pearson upper", &case, cp.upper, opt(&r[6]).unwrap());
    }
    w.report(&[
        "wilson lower",
        "wilson upper",
        "clopper-pearson lower",
        "clopper-pearson upper",
    ]);
}

#[test]
fn two_by_two_matches_scipy_and_statsmodels() {
    let mut w = Worst::default();
    let mut large = 0;
    for r in fixture("stats_two_by_two.csv") {
        let (x1, n1, x2, n2) = (int(&r[0]), int(&r[1]), int(&r[2]), int(&r[3]));
        let (a, b, c, d) = (x1, n1 - x1, x2, n2 - x2);
        let case = format!("{x1}/{n1} vs {x2}/{n2}");
        if n1.min(n2) >= 10_000 {
            large += 1;
        }
        match opt(&r[4]) {
            Some(rd) => {
                let e = risk_difference(x1, n1, x2, n2, 0.95).expect("both arms non-empty");
                w.value("newcombe estimate", &case, e.estimate, rd);
                w.value("newcombe lower", &case, e.lower, opt(&r[5]).unwrap());
                w.value("newcombe upper", &case, e.upper, opt(&r[6]).unwrap());
            }
            None => w.none(
                "newcombe (undefined)",
                &case,
                risk_difference(x1, n1, x2, n2, 0.95),
            ),
        }
        match opt(&r[7]) {
            Some(or) => {
                let e = odds_ratio(a, b, c, d, 0.95).expect("no empty row or column");
                w.value("odds ratio", &case, e.estimate, or);
                w.value("odds ratio lower", &case, e.lower, opt(&r[8]).unwrap());
                w.value("odds ratio upper", &case, e.upper, opt(&r[9]).unwrap());
            }
            None => w.none("odds ratio (undefined)", &case, odds_ratio(a, b, c, d, 0.95)),
        }
        let chi = chi_square(&[vec![a, b], vec![c, d]]);
        match (opt(&r[10]), opt(&r[11]), opt(&r[12])) {
            (Some(s_scipy), Some(p_scipy), Some(exact)) => {
                let chi = chi.expect("defined");
                assert_eq!(chi.df, 1, "{case}");
                w.value("chi2 statistic (exact)", &case, chi.statistic, exact);
                // SciPy's own statistic, with its floating-point sum's error
                // allowance: the difference must be explained by it.
                let scipy_err = 1e-15 * (n1 + n2) as f64;
                assert!(
                    (chi.statistic - s_scipy).abs() <= REL * s_scipy + scipy_err,
                    "{case}: {} vs scipy {s_scipy}",
                    chi.statistic
                );
                w.p(
                    "chi2 p (scipy)",
                    &case,
                    chi.p_value,
                    p_scipy_or_exact(p_scipy, &r[13]),
                );
            }
            _ => w.none("chi2 (undefined)", &case, chi),
        }
        match opt(&r[14]) {
            Some(p) => {
                let ours = fisher_exact(a, b, c, d).expect("non-empty table");
                w.p("fisher p", &case, ours, p);
                if let Some(exact) = opt(&r[15]) {
                    // 30-digit mpmath value: ours is held to 1e-12, where
                    // SciPy's own error reaches ~6e-10 at arms of 10⁶.
                    w.p_within("fisher p (mpmath)", &case, ours, exact, 1e-12);
                    if n1.min(n2) >= 100_000 {
                        w.note(
                            "fisher p (mpmath, arms>=1e5)",
                            &case,
                            (ours - exact).abs() / exact,
                        );
                    }
                }
            }
            None => w.none("fisher (undefined)", &case, fisher_exact(a, b, c, d)),
        }
    }
    assert!(large >= 100, "only {large} cases with both arms >= 10^4");
    w.report(&[
        "newcombe lower",
        "newcombe upper",
        "odds ratio",
        "odds ratio lower",
        "odds ratio upper",
        "chi2 statistic (exact)",
        "chi2 p (scipy)",
        "fisher p",
        "fisher p (mpmath)",
    ]);
}

/// The chi-square p-value reference: SciPy's `chi2.sf` of SciPy's own
/// statistic, unless that statistic carries enough rounding error to move
/// the p-value by more than the tolerance, in which case `chi2.sf` of the
/// exact statistic (also SciPy's, column `chi2_p_of_exact`).
fn p_scipy_or_exact(p_scipy: f64, of_exact: &str) -> f64 {
    opt(of_exact).unwrap_or(p_scipy)
}

#[test]
fn r_by_c_chi_square_matches_scipy() {
    let mut w = Worst::default();
    for r in fixture("stats_rxc.csv") {
        let table: Vec<Vec<u64>> = r[0]
            .split(';')
            .map(|cell| cell.split('/').map(int).collect())
            .collect();
        let Some(stat) = opt(&r[3]) else {
            w.none("rxc chi2 (undefined)", &r[0], chi_square(&table));
            continue;
        };
        let c = chi_square(&table).expect("defined");
        assert_eq!(
            c.df as usize,
            table.iter().filter(|r| r.iter().sum::<u64>() > 0).count() - 1
        );
        w.value("rxc chi2 statistic (exact)", &r[0], c.statistic, stat);
        w.p("rxc chi2 p", &r[0], c.p_value, opt(&r[4]).unwrap());
    }
    w.report(&["rxc chi2 statistic (exact)", "rxc chi2 p"]);
}

#[test]
fn holm_matches_statsmodels() {
    let mut w = Worst::default();
    for r in fixture("stats_holm.csv") {
        let p: Vec<f64> = r[0].split(';').map(|s| s.parse().unwrap()).collect();
        let want: Vec<f64> = r[1].split(';').map(|s| s.parse().unwrap()).collect();
        let got = holm(&p);
        assert_eq!(got.len(), want.len());
        for (g, e) in got.iter().zip(&want) {
            w.p("holm", &r[0], *g, *e);
        }
    }
    w.report(&["holm"]);
}
