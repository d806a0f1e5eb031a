//! Statistics against reference values computed independently (SciPy 1.x
//! and statsmodels; see each test for the call).

use reports::stats::*;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

// The issue's reference: 24/131 vs 32/121.
#[test]
fn issue_reference_values() {
    let w = wilson(24, 131, 0.95).unwrap();
    assert!(
        close(w.lower, 0.1263, 5e-5) && close(w.upper, 0.2581, 5e-5),
        "{w:?}"
    );
    let p = fisher_exact(24, 107, 32, 89).unwrap();
    assert!(close(p, 0.1316, 5e-5), "{p}");
    let c = chi_square(&[vec![24, 107], vec![32, 89]]).unwrap();
    assert!(
        close(c.statistic, 2.403, 5e-4) && close(c.p_value, 0.1211, 5e-5) && c.df == 1,
        "{c:?}"
    );
}

/// (x1, n1, x2, n2) and, from SciPy/statsmodels:
/// wilson(x1/n1) — statsmodels proportion_confint(method="wilson");
/// clopper-pearson — proportion_confint(method="beta");
/// chi-square, p — scipy.stats.chi2_contingency(correction=False);
/// fisher — scipy.stats.fisher_exact (two-sided);
/// newcombe — statsmodels confint_proportions_2indep(method="newcomb");
/// odds ratio — statsmodels Table2x2(...).oddsratio / oddsratio_confint.
type Case = ((u64, u64, u64, u64), [f64; 12]);
const CASES: &[Case] = &[
    (
        (24, 131, 32, 121),
        [
            0.1263179697,
            0.2581443409,
            0.1210527742,
            0.2602199290,
            2.4028767901,
            0.1211123469,
            0.1315939487,
            -0.1834978997,
            0.0216025203,
            0.6238317757,
            0.3426030692,
            1.1359095096,
        ],
    ),
    (
        (3, 40, 9, 38),
        [
            0.0258360258,
            0.1986423352,
            0.0157421799,
            0.2038647487,
            3.9209928230,
            0.0476867103,
            0.0626158845,
            -0.3246678193,
            0.0016085405,
            0.2612612613,
            0.0648054377,
            1.0532672729,
        ],
    ),
    (
        (50, 200, 70, 210),
        [
            0.1950816801,
            0.3143409831,
            0.1916071696,
            0.3159628333,
            3.4363026820,
            0.0637782697,
            0.0660413048,
            -0.1693840331,
            0.0048196017,
            0.6666666667,
            0.4337454273,
            1.0246665821,
        ],
    ),
    (
        (0, 25, 6, 30),
        // odds ratio here: Haldane–Anscombe (0.5 added to every cell), by hand:
        // OR = 0.5*24.5/(25.5*6.5); statsmodels adds 0.5 to zero cells only.
        [
            0.0,
            0.1331922509,
            0.0,
            0.1371851715,
            5.6122448980,
            0.0178353995,
            0.0265913640,
            -0.3730569641,
            -0.0304286190,
            0.0739064857,
            0.0039487785,
            1.3832552688,
        ],
    ),
];

#[test]
fn against_scipy_and_statsmodels() {
    for &((x1, n1, x2, n2), r) in CASES {
        let tol = 1e-8;
        let w = wilson(x1, n1, 0.95).unwrap();
        assert!(
            close(w.lower, r[0], tol) && close(w.upper, r[1], tol),
            "wilson {x1}/{n1}: {w:?}"
        );
        let cp = clopper_pearson(x1, n1, 0.95).unwrap();
        assert!(
            close(cp.lower, r[2], tol) && close(cp.upper, r[3], tol),
            "cp {x1}/{n1}: {cp:?}"
        );
        let t = [vec![x1, n1 - x1], vec![x2, n2 - x2]];
        let c = chi_square(&t).unwrap();
        assert!(
            close(c.statistic, r[4], tol) && close(c.p_value, r[5], tol),
            "chi {c:?}"
        );
        let f = fisher_exact(x1, n1 - x1, x2, n2 - x2).unwrap();
        assert!(close(f, r[6], tol), "fisher {f}");
        let d = risk_difference(x1, n1, x2, n2, 0.95).unwrap();
        assert!(
            close(d.lower, r[7], tol) && close(d.upper, r[8], tol),
            "newcombe {d:?}"
        );
        let o = odds_ratio(x1, n1 - x1, x2, n2 - x2, 0.95).unwrap();
        assert!(
            close(o.estimate, r[9], tol) && close(o.lower, r[10], tol) && close(o.upper, r[11], tol),
            "or {o:?}"
        );
    }
}

#[test]
fn chi_square_r_by_c() {
    // scipy.stats.chi2_contingency([[10,20,30],[15,15,40],[5,25,20]], correction=False)
    let c = chi_square(&[vec![10, 20, 30], vec![15, 15, 40], vec![5, 25, 20]]).unwrap();
    assert_eq!(c.df, 4);
    assert!(
        close(c.statistic, 11.142857142857142, 1e-9) && close(c.p_value, 0.025004553667646097, 1e-9),
        "{c:?}"
    );
    assert!(chi_square(&[vec![0, 0], vec![1, 2]]).is_none());
}

#[test]
fn holm_matches_statsmodels() {
    // statsmodels multipletests([0.1316, 0.0626, 0.0266], method="holm")
    let adj = holm(&[0.1316, 0.0626, 0.0266]);
    for (a, b) in adj.iter().zip([0.1316, 0.1252, 0.0798]) {
        assert!(close(*a, b, 1e-12), "{adj:?}");
    }
}

proptest::proptest! {
    #[test]
    fn intervals_contain_the_estimate(x in 0u64..500, extra in 0u64..500) {
        let n = x + extra;
        if n > 0 {
            for e in [wilson(x, n, 0.95).unwrap(), clopper_pearson(x, n, 0.95).unwrap()] {
                proptest::prop_assert!(e.lower <= e.estimate + 1e-12 && e.estimate <= e.upper + 1e-12);
                proptest::prop_assert!(e.lower >= 0.0 && e.upper <= 1.0);
            }
        }
    }
}
