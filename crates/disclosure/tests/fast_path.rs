//! The fast paths (propagated bounds, feasible points, windows over a few
//! releases, carried points) against the full linear program: on random
//! series of releases long enough for windows to leave releases out, the
//! fast audit never calls safe what the exact audit calls disclosive, and
//! releases protected one by one (each with the fast paths) pass the exact
//! audit of the whole series.

use disclosure::{audit, audit_fast, protect_release, FindingKind, Policy, Release, Table};
use proptest::prelude::*;

fn policy(k: usize) -> Policy {
    Policy::builtin(["nhs-hes", "threshold-10", "opensafely"][k]).unwrap()
}

/// A cumulative uptake table (invited ≥ enrolled, nested) with `rows`.
fn uptake(counts: &[[u64; 2]]) -> Table {
    let rows: Vec<String> = (0..counts.len()).map(|k| format!("r{k}")).collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let mut t = Table::two_way(
        "u",
        "Uptake",
        "g",
        &rows,
        &["invited", "enrolled"],
        counts.iter().map(|c| vec![c[0], c[1]]).collect(),
    );
    t.spec.cumulative = true;
    t.spec.column_order.push(["enrolled".into(), "invited".into()]);
    t
}

/// Weekly counts: each row's invited and enrolled grow by small steps.
fn series(start: &[[u64; 2]], steps: &[Vec<[u64; 2]>]) -> Vec<Vec<[u64; 2]>> {
    let mut out = vec![start.to_vec()];
    for step in steps {
        let last = out.last().unwrap().clone();
        let next = last
            .iter()
            .zip(step.iter().cycle())
            .map(|(c, s)| {
                let invited = c[0] + s[0];
                [invited, (c[1] + s[1]).min(invited)]
            })
            .collect();
        out.push(next);
    }
    out
}

/// Each week protected independently (so that the series is often unsafe
/// together), renumbered as one study.
fn independent(weeks: &[Vec<[u64; 2]>], p: &Policy) -> Vec<Release> {
    weeks
        .iter()
        .enumerate()
        .map(|(k, w)| {
            let mut r = protect_release("S", &[uptake(w)], p, &[]).unwrap().release();
            r.sequence = k as u32 + 1;
            r
        })
        .collect()
}

/// Every difference and suppressed cell the exact audit finds unsafe, the
/// fast audit finds unsafe too (with the same exact interval), the
/// verdicts agree, and the fast audit's suppressed intervals lie inside
/// the exact ones; over random series of 6 to 9 releases, some of which
/// must fail.
#[test]
fn fast_audit_never_calls_a_disclosive_finding_safe() {
    let mut seed = 7u64;
    let mut rnd = |m: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    let mut failing = 0;
    for round in 0..18 {
        let p = policy(round % 3);
        let rows = 2 + rnd(2) as usize;
        let start: Vec<[u64; 2]> = (0..rows)
            .map(|_| {
                let a = 5 + rnd(55);
                [a, rnd(12).min(a)]
            })
            .collect();
        let steps: Vec<Vec<[u64; 2]>> = (0..5 + rnd(4))
            .map(|_| (0..rows).map(|_| [rnd(8), rnd(4)]).collect())
            .collect();
        let releases = independent(&series(&start, &steps), &p);
        let exact = audit(&releases, &p).unwrap();
        let fast = audit_fast(&releases, &p).unwrap();
        assert_eq!(exact.passed(), fast.passed(), "round {round}");
        failing += usize::from(!exact.passed());
        let key = |f: &disclosure::Finding| {
            (
                f.sequence,
                f.table.clone(),
                f.row.clone(),
                f.column.clone(),
                f.kind,
            )
        };
        let fast_failures: Vec<_> = fast.failures().map(|f| (key(f), f.interval)).collect();
        for f in exact.failures() {
            assert!(
                fast_failures.contains(&(key(f), f.interval)),
                "round {round}: exact finds {f} unsafe; the fast audit does not"
            );
        }
        for f in fast.failures() {
            assert!(
                exact.failures().any(|e| key(e) == key(f)),
                "round {round}: fast-only failure {f}"
            );
        }
        for f in fast.findings.iter().filter(|f| f.kind == FindingKind::Suppressed) {
            let e = exact.findings.iter().find(|e| key(e) == key(f)).unwrap();
            assert!(
                f.interval.lo >= e.interval.lo,
                "round {round}: {f} outside {}",
                e.interval
            );
            if let Some(h) = e.interval.hi {
                assert!(
                    f.interval.hi.is_some_and(|x| x <= h),
                    "round {round}: {f} outside {}",
                    e.interval
                );
            }
        }
    }
    assert!(failing > 0, "some independently protected series must fail");
}

/// First week's counts, weekly steps, policy.
type Series = (Vec<[u64; 2]>, Vec<Vec<[u64; 2]>>, usize);

fn arb_series() -> impl Strategy<Value = Series> {
    (2usize..4).prop_flat_map(|rows| {
        (
            prop::collection::vec((5u64..60, 0u64..12).prop_map(|(a, b)| [a, b.min(a)]), rows),
            prop::collection::vec(
                prop::collection::vec((0u64..8, 0u64..4).prop_map(|(a, b)| [a, b]), 1..3),
                5..8,
            ),
            0usize..3,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    /// A series protected release by release (windows over the newest
    /// releases, points carried between releases) passes the exact audit
    /// of all of it.
    #[test]
    fn releases_protected_one_by_one_pass_the_exact_audit((start, steps, pol) in arb_series()) {
        let p = policy(pol);
        let mut earlier: Vec<Release> = Vec::new();
        for w in series(&start, &steps) {
            let r = protect_release("S", &[uptake(&w)], &p, &earlier).unwrap();
            earlier.push(r.release());
        }
        let exact = audit(&earlier, &p).unwrap();
        prop_assert!(exact.passed(), "{:?}", exact.failures().map(|f| f.to_string()).collect::<Vec<_>>());
    }
}

/// Enrolled by group and by sex, sharing their total, for weeks of small
/// growing counts (so that a new release's margins pin earlier
/// releases' hidden cells through the other breakdown).
fn breakdowns(groups: &[u64], female: u64, male: u64) -> Vec<Table> {
    let rows: Vec<(String, u64)> = groups
        .iter()
        .enumerate()
        .map(|(k, &n)| (format!("g{k}"), n))
        .collect();
    let rows: Vec<(&str, u64)> = rows.iter().map(|(r, n)| (r.as_str(), *n)).collect();
    let mut by_group = Table::one_way("group", "Enrolled by group", "group", "enrolled", &rows);
    let mut by_sex = Table::one_way(
        "sex",
        "Enrolled by sex",
        "sex",
        "enrolled",
        &[("female", female), ("male", male)],
    );
    for t in [&mut by_group, &mut by_sex] {
        t.spec.cumulative = true;
        t.spec.shared.push(disclosure::SharedCell {
            row: "Total".into(),
            column: "enrolled".into(),
            key: "enrolled".into(),
        });
    }
    vec![by_group, by_sex]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    /// Releases protected one by one (their own findings repaired first,
    /// then every finding of the series; repairs reaching the other
    /// breakdown of the same quantity) pass the exact audit of the whole
    /// series, whenever they are not refused.
    #[test]
    fn breakdowns_sharing_a_total_protected_week_by_week_pass_the_exact_audit(
        start in prop::collection::vec(0u64..12, 3..5),
        steps in prop::collection::vec(prop::collection::vec(0u64..3, 4), 4..8),
        pol in 0usize..3,
    ) {
        let p = policy(pol);
        let mut groups = start.clone();
        let mut earlier: Vec<Release> = Vec::new();
        for step in std::iter::once(vec![0; 4]).chain(steps) {
            for (g, s) in groups.iter_mut().zip(step.iter().cycle()) {
                *g += s;
            }
            let total: u64 = groups.iter().sum();
            let female = total / 2 + total % 3 / 2;
            let tables = breakdowns(&groups, female, total - female);
            match protect_release("S", &tables, &p, &earlier) {
                Ok(r) => {
                    prop_assert_eq!(r.audit.releases, earlier.len() + 1, "the verdict covers every release");
                    prop_assert!(r.audit.passed());
                    earlier.push(r.release());
                }
                Err(disclosure::ProtectError::Refused { .. }) => break,
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            }
        }
        prop_assert!(!earlier.is_empty());
        let exact = audit(&earlier, &p).unwrap();
        prop_assert!(exact.passed(), "{:?}", exact.failures().map(|f| f.to_string()).collect::<Vec<_>>());
    }
}
