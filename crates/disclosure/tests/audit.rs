//! The audit against brute force, protection invariants, the unprotected
//! table, linked tables and the differencing attack.

#![allow(clippy::needless_range_loop)]

use disclosure::{
    audit, protect, protect_release, CellStatus, FindingKind, Interval, Policy, Published, PublishedTable,
    Release, SharedCell, Table, TotalsRule, RELEASE_FORMAT,
};
use proptest::prelude::*;

fn release(study: &str, sequence: u32, policy: &Policy, tables: Vec<PublishedTable>) -> Release {
    Release {
        format: RELEASE_FORMAT.into(),
        study: study.into(),
        sequence,
        policy: policy.clone(),
        tables,
    }
}

fn hes() -> Policy {
    Policy::builtin("nhs-hes").unwrap()
}

/// nhs-hes with totals rounded afresh (its rule before it became
/// controlled rounding): the cases below are about what such totals reveal.
fn hes_round_true() -> Policy {
    let mut p = hes();
    p.round.totals = TotalsRule::RoundTrue;
    p
}

fn t10() -> Policy {
    Policy::builtin("threshold-10").unwrap()
}

fn os() -> Policy {
    Policy::builtin("opensafely").unwrap()
}

/// Integer-feasible interval of every suppressed cell of a single published
/// table, by enumerating every assignment of the leaf counts (each `*` from
/// the policy's lower bound up to `cap`, each published leaf over its
/// rounding interval) that reproduces the published table exactly.
fn brute_force(t: &PublishedTable, policy: &Policy, cap: u64) -> Vec<((usize, usize), (u64, u64))> {
    let s = &t.spec;
    let (nr, nc) = (s.rows.len(), s.columns.len());
    let mut ranges = Vec::new();
    for i in 0..nr {
        for j in 0..nc {
            ranges.push(match t.cells[i][j] {
                Published::Suppressed => (policy.suppressed_lower_bound(), cap),
                Published::Count(v) => policy.published_interval(v),
            });
        }
    }
    let mut best: std::collections::BTreeMap<(usize, usize), (u64, u64)> = Default::default();
    let mut x = vec![0u64; nr * nc];
    let mut bufs = (
        vec![vec![0u64; s.grid_columns()]; s.grid_rows()],
        vec![vec![0u64; s.grid_columns()]; s.grid_rows()],
    );
    /// The total row and column of a grid from its leaves.
    fn fill(s: &disclosure::TableSpec, g: &mut [Vec<u64>]) {
        let (nr, nc) = (s.rows.len(), s.columns.len());
        if s.total_column {
            for row in g.iter_mut().take(nr) {
                row[nc] = row[..nc].iter().sum();
            }
        }
        if s.total_row {
            for j in 0..s.grid_columns() {
                g[nr][j] = (0..nr).map(|i| g[i][j]).sum();
            }
        }
    }
    type Bufs = (Vec<Vec<u64>>, Vec<Vec<u64>>);
    fn rec(
        k: usize,
        x: &mut Vec<u64>,
        ranges: &[(u64, u64)],
        t: &PublishedTable,
        bufs: &mut Bufs,
        policy: &Policy,
        best: &mut std::collections::BTreeMap<(usize, usize), (u64, u64)>,
    ) {
        let s = &t.spec;
        let nc = s.columns.len();
        if k == x.len() {
            // what the reader would have seen for these counts (grids
            // filled in place: this runs millions of times)
            let sum_rounded = policy.round.totals == TotalsRule::SumOfRounded;
            let (g, rg) = (&mut bufs.0, &mut bufs.1);
            for (idx, v) in x.iter().enumerate() {
                g[idx / nc][idx % nc] = *v;
                if sum_rounded {
                    rg[idx / nc][idx % nc] = policy.round(*v);
                }
            }
            fill(s, g);
            if sum_rounded {
                fill(s, rg);
            }
            for i in 0..s.grid_rows() {
                for j in 0..s.grid_columns() {
                    if s.is_leaf(i, j) {
                        continue; // leaves were enumerated within their ranges
                    }
                    let ok = match t.cells[i][j] {
                        Published::Count(v) => {
                            if sum_rounded {
                                rg[i][j] == v
                            } else {
                                let (lo, hi) = policy.published_interval(v);
                                lo <= g[i][j] && g[i][j] <= hi
                            }
                        }
                        Published::Suppressed => g[i][j] >= policy.suppressed_lower_bound(),
                    };
                    if !ok {
                        return;
                    }
                }
            }
            for i in 0..s.grid_rows() {
                for j in 0..s.grid_columns() {
                    if t.cells[i][j].is_suppressed() {
                        let e = best.entry((i, j)).or_insert((u64::MAX, 0));
                        e.0 = e.0.min(g[i][j]);
                        e.1 = e.1.max(g[i][j]);
                    }
                }
            }
            return;
        }
        let nr = s.rows.len();
        let (i, j) = (k / nc, k % nc);
        // the largest total a reader allows for a published (or `*`) total
        let cap = |cell: Published| match cell {
            Published::Count(v) if policy.round.totals == TotalsRule::SumOfRounded => {
                v + nc as u64 * nr as u64 * 2
            }
            Published::Count(v) => policy.published_interval(v).1,
            Published::Suppressed => u64::MAX,
        };
        for v in ranges[k].0..=ranges[k].1 {
            x[k] = v;
            let row_sum: u64 = (0..=j).map(|jj| x[i * nc + jj]).sum();
            let col_sum: u64 = (0..=i).map(|ii| x[ii * nc + j]).sum();
            if (s.total_column && row_sum > cap(t.cells[i][nc]))
                || (s.total_row && col_sum > cap(t.cells[nr][j]))
            {
                break;
            }
            rec(k + 1, x, ranges, t, bufs, policy, best);
        }
    }
    rec(0, &mut x, &ranges, t, &mut bufs, policy, &mut best);
    best.into_iter().collect()
}

fn lp_intervals(r: &Release, policy: &Policy) -> Vec<((usize, usize), Interval)> {
    let rep = audit(std::slice::from_ref(r), policy).unwrap();
    rep.findings
        .iter()
        .filter(|f| f.kind == FindingKind::Suppressed)
        .map(|f| {
            let s = &r.tables[0].spec;
            (
                (s.row_index(&f.row).unwrap(), s.column_index(&f.column).unwrap()),
                f.interval,
            )
        })
        .collect()
}

/// A table published with primary suppression only (no secondary), so that
/// brute force has narrow intervals to find.
fn primary_only(t: &Table, policy: &Policy) -> PublishedTable {
    let g = t.grid();
    let sum_rounded = policy.round.totals == TotalsRule::SumOfRounded;
    let mut rt = t.clone();
    rt.counts = t
        .counts
        .iter()
        .map(|r| r.iter().map(|&v| policy.round(v)).collect())
        .collect();
    let rg = if sum_rounded {
        rt.grid()
    } else {
        g.iter()
            .map(|r| r.iter().map(|&v| policy.round(v)).collect())
            .collect()
    };
    let cells = g
        .iter()
        .zip(&rg)
        .map(|(row, rrow)| {
            row.iter()
                .zip(rrow)
                .map(|(&v, &r)| {
                    if policy.is_small(v) || (sum_rounded && policy.is_small(r)) {
                        Published::Suppressed
                    } else {
                        Published::Count(r)
                    }
                })
                .collect()
        })
        .collect();
    PublishedTable {
        spec: t.spec.clone(),
        cells,
    }
}

fn check_against_brute_force(t: &Table, policy: &Policy, cap: u64) -> (usize, usize) {
    let mut tight = 0;
    let mut total = 0;
    for published in [
        primary_only(t, policy),
        protect(std::slice::from_ref(t), policy).unwrap().release().tables[0].clone(),
    ] {
        let r = release("s", 1, policy, vec![published.clone()]);
        let lp = lp_intervals(&r, policy);
        let bf = brute_force(&published, policy, cap);
        assert_eq!(lp.len(), bf.len(), "every suppressed cell is feasible");
        for ((pos, iv), (pos2, (lo, hi))) in lp.iter().zip(&bf) {
            assert_eq!(pos, pos2);
            assert!(
                iv.lo <= *lo,
                "LP lower bound {} above integer {} at {pos:?} in {published:?}",
                iv.lo,
                lo
            );
            if let Some(h) = iv.hi {
                assert!(
                    h >= *hi,
                    "LP upper bound {h} below integer {hi} at {pos:?} in {published:?}"
                );
                assert!(*hi < cap, "cap too small for an LP-bounded cell");
            }
            total += 1;
            if iv.lo == *lo && iv.hi == Some(*hi) {
                tight += 1;
            }
        }
    }
    (tight, total)
}

#[test]
fn lp_contains_integer_intervals_hand_cases() {
    // one-way, one small cell, published total: rounding alone leaves [1, 4]
    let t = Table::one_way("t", "T", "g", "n", &[("a", 4), ("b", 18)]);
    let (tight, total) = check_against_brute_force(&t, &hes(), 40);
    assert!(total >= 1 && tight >= 1);
    let t = Table::two_way(
        "t",
        "T",
        "g",
        &["a", "b"],
        &["x", "y"],
        vec![vec![3, 14], vec![9, 22]],
    );
    check_against_brute_force(&t, &hes(), 60);
    check_against_brute_force(&t, &t10(), 60);
    check_against_brute_force(&t, &os(), 60);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]

    #[test]
    fn lp_contains_integer_intervals_one_way(counts in prop::collection::vec(0u64..25, 2..4), pol in 0usize..3) {
        let policy = [hes(), t10(), os()][pol].clone();
        let rows: Vec<(String, u64)> = counts.iter().enumerate().map(|(k, &v)| (format!("r{k}"), v)).collect();
        let rows: Vec<(&str, u64)> = rows.iter().map(|(s, v)| (s.as_str(), *v)).collect();
        let t = Table::one_way("t", "T", "g", "n", &rows);
        check_against_brute_force(&t, &policy, 60);
    }

    #[test]
    fn lp_contains_integer_intervals_two_way(counts in prop::collection::vec(0u64..13, 4), pol in 0usize..3) {
        let policy = [hes(), t10(), os()][pol].clone();
        let t = Table::two_way("t", "T", "g", &["a", "b"], &["x", "y"], vec![counts[..2].to_vec(), counts[2..].to_vec()]);
        check_against_brute_force(&t, &policy, 50);
    }
}

fn arb_table() -> impl Strategy<Value = Table> {
    (1usize..5, 1usize..4, any::<bool>(), any::<bool>()).prop_flat_map(|(nr, nc, tr, tc)| {
        prop::collection::vec(prop::collection::vec(prop_oneof![0u64..12, 0u64..200], nc), nr).prop_map(
            move |counts| {
                let rows: Vec<String> = (0..nr).map(|k| format!("r{k}")).collect();
                let cols: Vec<String> = (0..nc).map(|k| format!("c{k}")).collect();
                let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
                let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
                let mut t = Table::two_way("t", "T", "g", &rows, &cols, counts);
                t.spec.total_row = tr;
                t.spec.total_column = tc;
                t
            },
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn protected_tables_pass_and_show_no_small_counts(t in arb_table(), pol in 0usize..3) {
        let policy = [hes(), t10(), os()][pol].clone();
        let p = protect(std::slice::from_ref(&t), &policy).unwrap();
        let r = p.release();
        for c in r.tables[0].cells.iter().flatten() {
            if let Published::Count(v) = c {
                prop_assert!(!policy.is_small(*v), "published small count {v}");
                prop_assert_eq!(v % policy.round.base, 0);
            }
        }
        // the reported audit and a fresh audit of the published release agree
        prop_assert!(p.audit.passed());
        let fresh = audit(std::slice::from_ref(&r), &policy).unwrap();
        prop_assert!(fresh.passed(), "{:?}", fresh.failures().collect::<Vec<_>>());
        // every primary cell is suppressed
        for (i, row) in p.tables[0].true_grid.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                if policy.is_small(v) {
                    prop_assert!(r.tables[0].cells[i][j].is_suppressed());
                }
            }
        }
        // the release survives JSON
        let json = serde_json::to_string(&r).unwrap();
        let back: Release = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn nhs_hes_never_publishes_one_to_seven(t in arb_table()) {
        let p = protect(std::slice::from_ref(&t), &hes()).unwrap();
        for c in p.release().tables[0].cells.iter().flatten() {
            if let Published::Count(v) = c {
                prop_assert!(!(1..=7).contains(v));
            }
        }
    }

    /// One small cell in a row whose exact total is published: always found.
    #[test]
    fn unprotected_table_fails(big in prop::collection::vec(10u64..500, 1..5), small in 1u64..10) {
        let policy = t10();
        let mut rows: Vec<(String, u64)> = big.iter().enumerate().map(|(k, &v)| (format!("r{k}"), v)).collect();
        rows.push(("small".into(), small));
        let rows: Vec<(&str, u64)> = rows.iter().map(|(s, v)| (s.as_str(), *v)).collect();
        let t = Table::one_way("t", "T", "g", "n", &rows);
        let published = primary_only(&t, &policy);
        let rep = audit(&[release("s", 1, &policy, vec![published])], &policy).unwrap();
        prop_assert!(!rep.passed());
        let f = rep.failures().next().unwrap();
        prop_assert_eq!(f.interval, Interval { lo: small, hi: Some(small) });
    }
}

#[test]
fn unprotected_rounded_table_fails_and_protection_fixes_it() {
    // `*`, 20, total 20: x2 in [18, 22], total in [18, 22] so `*` is in [1, 4]
    let policy = hes_round_true();
    let t = Table::one_way("t", "T", "g", "n", &[("a", 4), ("b", 18)]);
    let published = primary_only(&t, &policy);
    assert_eq!(
        published.cells,
        vec![
            vec![Published::Suppressed],
            vec![Published::Count(20)],
            vec![Published::Count(20)]
        ]
    );
    let rep = audit(&[release("s", 1, &policy, vec![published])], &policy).unwrap();
    assert!(!rep.passed());
    assert_eq!(
        rep.failures().next().unwrap().interval,
        Interval { lo: 1, hi: Some(4) }
    );
    let p = protect(&[t], &policy).unwrap();
    assert!(p.audit.passed());
    assert!(p.count(CellStatus::Secondary) >= 1);
}

#[test]
fn linked_tables_share_their_total() {
    let policy = hes();
    let mut by_sex = Table::one_way(
        "sex",
        "By sex",
        "sex",
        "n",
        &[("female", 60), ("male", 52), ("unknown", 3)],
    );
    let mut by_age = Table::one_way(
        "age",
        "By age",
        "age",
        "n",
        &[("18-39", 30), ("40-64", 45), ("65+", 40)],
    );
    for t in [&mut by_sex, &mut by_age] {
        t.spec.shared.push(SharedCell {
            row: "Total".into(),
            column: "n".into(),
            key: "all".into(),
        });
    }
    let p = protect(&[by_sex, by_age], &policy).unwrap();
    let r = p.release();
    assert!(p.audit.passed());
    // the shared total is published in both or suppressed in both
    assert_eq!(r.tables[0].cells[3][0], r.tables[1].cells[3][0]);
    // age table untouched: no small cell, and the total is not needed
    assert_eq!(r.tables[1].suppressed(), 0);
    assert!(r.tables[0].suppressed() >= 2);
}

#[test]
fn nested_columns_are_known_to_readers() {
    // enrolled <= invited: a suppressed `enrolled` next to a published
    // `invited` of 10 is at most 12.
    let policy = hes();
    let mut t = Table::two_way(
        "u",
        "Uptake",
        "arm",
        &["A", "B"],
        &["invited", "enrolled"],
        vec![vec![10, 3], vec![200, 30]],
    );
    t.spec.total_column = false;
    t.spec.column_order.push(["enrolled".into(), "invited".into()]);
    let p = protect(&[t], &policy).unwrap();
    assert!(p.audit.passed());
    let f = p
        .audit
        .findings
        .iter()
        .find(|f| f.row == "A" && f.column == "enrolled")
        .unwrap();
    assert!(f.interval.hi.unwrap() <= 12);
}

fn cumulative(t: &mut Table) {
    t.spec.cumulative = true;
}

#[test]
fn differencing_exact_counts_threshold_10() {
    // Each release safe alone; their difference reveals 3 people in B.
    let policy = t10();
    let mut r1 = Table::one_way("uptake", "Enrolled", "group", "enrolled", &[("A", 50), ("B", 40)]);
    let mut r2 = Table::one_way("uptake", "Enrolled", "group", "enrolled", &[("A", 50), ("B", 43)]);
    cumulative(&mut r1);
    cumulative(&mut r2);
    let first = protect_release("S1", &[r1], &policy, &[]).unwrap();
    assert_eq!(first.suppressed(), 0);
    let first = first.release();
    // naive: the second release protected on its own
    let naive = protect_release("S1", &[r2.clone()], &policy, &[]).unwrap();
    assert!(naive.audit.passed(), "safe on its own");
    let mut naive = naive.release();
    naive.sequence = 2;
    let rep = audit(&[first.clone(), naive], &policy).unwrap();
    assert!(!rep.passed(), "the difference must be caught");
    let f = rep.failures().next().unwrap();
    assert_eq!(f.kind, FindingKind::Difference { earlier: 1 });
    assert_eq!(f.interval, Interval { lo: 3, hi: Some(3) });
    // protected against the first release
    let second = protect_release("S1", &[r2], &policy, std::slice::from_ref(&first)).unwrap();
    assert_eq!(second.sequence, 2);
    assert!(second.count(CellStatus::Repair) >= 1);
    let rep = audit(&[first, second.release()], &policy).unwrap();
    assert!(rep.passed(), "{:?}", rep.failures().collect::<Vec<_>>());
}

#[test]
fn differencing_rounded_counts_nhs_hes() {
    // Week 1: 29 and 29 (published 30, 30, total 60). Week 2: 29 and 33
    // (published 30, 35, total 60). Neither week suppresses anything and
    // each is safe alone, but the total moved by at most 4 while group B's
    // published count rose: B gained between 1 and 4 people.
    let policy = hes_round_true();
    let mk = |a: u64, b: u64| {
        let mut t = Table::one_way("uptake", "Enrolled", "group", "enrolled", &[("A", a), ("B", b)]);
        t.spec.cumulative = true;
        t
    };
    let w1 = protect_release("S2", &[mk(29, 29)], &policy, &[]).unwrap();
    assert_eq!(w1.suppressed(), 0);
    let w1 = w1.release();
    // Week 2 published naively (30, 35, total 60). Since rounded cells are
    // audited too, week 2 alone already fails: A + B is 58..62
    // and B is 33..37, so A is 28..29 — two values, fewer than the
    // policy's three; protection now hides a cell of week 2 on its own.
    let alone = protect_release("S2", &[mk(29, 33)], &policy, &[]).unwrap();
    assert!(alone.audit.passed());
    assert!(alone.suppressed() >= 1, "the narrowed rounded count is protected");
    let mut naive = alone.release();
    naive.sequence = 2;
    naive.tables[0].cells = vec![
        vec![Published::Count(30)],
        vec![Published::Count(35)],
        vec![Published::Count(60)],
    ];
    let week2 = audit(std::slice::from_ref(&naive), &policy).unwrap();
    assert!(week2.failures().any(|f| f.kind == FindingKind::Rounded
        && f.row == "A"
        && f.interval == Interval { lo: 28, hi: Some(29) }));
    let joint = audit(&[w1.clone(), naive], &policy).unwrap();
    let f = joint
        .failures()
        .find(|f| matches!(f.kind, FindingKind::Difference { .. }))
        .expect("the difference is caught");
    assert_eq!(
        (f.row.as_str(), f.kind, f.interval),
        (
            "B",
            FindingKind::Difference { earlier: 1 },
            Interval { lo: 1, hi: Some(4) }
        )
    );
    // protected against week 1: extra suppression, and the pair passes
    let second = protect_release("S2", &[mk(29, 33)], &policy, std::slice::from_ref(&w1)).unwrap();
    assert!(second.suppressed() >= 2);
    let rep = audit(&[w1, second.release()], &policy).unwrap();
    assert!(rep.passed(), "{:?}", rep.failures().collect::<Vec<_>>());
}

/// Random cumulative pairs: the second release, protected against the
/// first, always passes the joint audit.
#[test]
fn differencing_random_pairs_always_protected() {
    let mut seed = 7u64;
    let mut rnd = |m: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    let mk = |v: &[u64]| {
        let rows: Vec<(String, u64)> = v.iter().enumerate().map(|(k, &x)| (format!("r{k}"), x)).collect();
        let rows: Vec<(&str, u64)> = rows.iter().map(|(s, x)| (s.as_str(), *x)).collect();
        let mut t = Table::one_way("u", "U", "g", "n", &rows);
        t.spec.cumulative = true;
        t
    };
    let mut naive_failures = 0;
    for round in 0..150 {
        let policy = [hes(), t10(), os()][round % 3].clone();
        let n = 2 + rnd(3) as usize;
        let w1: Vec<u64> = (0..n).map(|_| if rnd(3) == 0 { 0 } else { rnd(40) }).collect();
        let w2: Vec<u64> = w1
            .iter()
            .map(|&x| x + if rnd(2) == 0 { 0 } else { rnd(9) })
            .collect();
        let w3: Vec<u64> = w2.iter().map(|&x| x + rnd(12)).collect();
        let r1 = protect_release("S", &[mk(&w1)], &policy, &[]).unwrap().release();
        let mut naive = protect_release("S", &[mk(&w2)], &policy, &[]).unwrap().release();
        naive.sequence = 2;
        if !audit(&[r1.clone(), naive], &policy).unwrap().passed() {
            naive_failures += 1;
        }
        let r2 = protect_release("S", &[mk(&w2)], &policy, std::slice::from_ref(&r1))
            .unwrap()
            .release();
        let r3 = protect_release("S", &[mk(&w3)], &policy, &[r1.clone(), r2.clone()])
            .unwrap()
            .release();
        let rep = audit(&[r1, r2, r3], &policy).unwrap();
        assert!(
            rep.passed(),
            "{w1:?} {w2:?} {w3:?}: {:?}",
            rep.failures().collect::<Vec<_>>()
        );
    }
    // the attack is real: independently protected releases often fail
    assert!(naive_failures > 10, "{naive_failures}");
}

#[test]
fn inconsistent_release_is_an_error() {
    let policy = t10();
    let t = Table::one_way("t", "T", "g", "n", &[("a", 20), ("b", 30)]);
    let mut r = protect(&[t], &policy).unwrap().release();
    r.tables[0].cells[2][0] = Published::Count(49);
    r.tables[0].cells[0][0] = Published::Suppressed;
    r.tables[0].cells[1][0] = Published::Count(60);
    let e = audit(&[r], &policy).unwrap_err();
    assert!(e.to_string().contains("inconsistent"), "{e}");
}

/// Uptake by stratum (sex × age) and by age band: a reader adds the two
/// strata of an age band. Published with primary suppression only, the
/// small stratum cell is recovered exactly through the age table; protected,
/// the pair passes and the relation is kept in the release.
#[test]
fn row_sums_across_linked_tables() {
    use disclosure::RowSum;
    let policy = t10();
    let mut strata = Table::one_way(
        "uptake_by_stratum",
        "By stratum",
        "stratum",
        "enrolled",
        &[
            ("female / 50-54", 40),
            ("male / 50-54", 4),
            ("female / 55-59", 30),
            ("male / 55-59", 35),
        ],
    );
    let mut age = Table::one_way(
        "uptake_by_age",
        "By age",
        "age",
        "enrolled",
        &[("50-54", 44), ("55-59", 65)],
    );
    for (row, parts) in [
        ("50-54", ["female / 50-54", "male / 50-54"]),
        ("55-59", ["female / 55-59", "male / 55-59"]),
    ] {
        age.spec.row_sums.push(RowSum {
            row: row.into(),
            table: "uptake_by_stratum".into(),
            rows: parts.iter().map(|s| s.to_string()).collect(),
        });
    }
    // no total in the strata table: alone it hides `male / 50-54`, but
    // with the age table published in full it is 44 - 40.
    strata.spec.total_row = false;
    let st = primary_only(&strata, &policy);
    assert!(audit(&[release("s", 1, &policy, vec![st.clone()])], &policy)
        .unwrap()
        .passed());
    let naive = release("s", 1, &policy, vec![st, primary_only(&age, &policy)]);
    let rep = audit(&[naive], &policy).unwrap();
    let f = rep
        .failures()
        .find(|f| f.row == "male / 50-54")
        .expect("recovered across the tables");
    assert_eq!(f.interval, Interval { lo: 4, hi: Some(4) });
    // protected together: passes, and the relation is published
    let p = protect(&[strata, age], &policy).unwrap();
    assert!(p.audit.passed(), "{:?}", p.audit.failures().collect::<Vec<_>>());
    let r = p.release();
    assert!(
        r.tables[0].cells[0][0].is_suppressed() || r.tables[1].cells[0][0].is_suppressed(),
        "a partner across the row sum is suppressed"
    );
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("row_sums"));
    let back: Release = serde_json::from_str(&json).unwrap();
    assert!(audit(&[back], &policy).unwrap().passed());
    // a row sum naming a missing table is refused
    let mut bad = r.clone();
    bad.tables[1].spec.row_sums[0].table = "nope".into();
    assert!(audit(&[bad], &policy).is_err());
}

/// The fast audit (feasible-point certificates, used by protection) gives
/// the exact audit's verdict, every suppressed cell's reported interval
/// lies inside its exact feasible interval, and unsafe ones are exact.
#[test]
fn fast_audit_agrees_with_exact_audit() {
    use disclosure::audit_fast;
    let mut seed = 11u64;
    let mut rnd = |m: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    let mk = |v: &[Vec<u64>]| {
        let rows: Vec<String> = (0..v.len()).map(|k| format!("r{k}")).collect();
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let mut t = Table::two_way("u", "U", "g", &rows, &["x", "y"], v.to_vec());
        t.spec.cumulative = true;
        t
    };
    let mut failing = 0;
    for round in 0..24 {
        let policy = [hes(), t10(), os()][round % 3].clone();
        let n = 2 + rnd(3) as usize;
        let mut counts: Vec<Vec<u64>> = (0..n).map(|_| vec![rnd(30), rnd(30)]).collect();
        let mut releases: Vec<Release> = Vec::new();
        for week in 0..3 {
            if week > 0 {
                for row in &mut counts {
                    for c in row.iter_mut() {
                        *c += rnd(6);
                    }
                }
            }
            // independently protected: often unsafe together
            let mut r = protect_release("S", &[mk(&counts)], &policy, &[])
                .unwrap()
                .release();
            r.sequence = week + 1;
            releases.push(r);
        }
        let exact = audit(&releases, &policy).unwrap();
        let fast = audit_fast(&releases, &policy).unwrap();
        assert_eq!(exact.passed(), fast.passed(), "round {round}");
        failing += usize::from(!exact.passed());
        let pick = |r: &disclosure::AuditReport, kind_suppressed: bool| -> Vec<_> {
            r.findings
                .iter()
                .filter(|f| (f.kind == FindingKind::Suppressed) == kind_suppressed)
                .map(|f| {
                    (
                        (f.sequence, f.row.clone(), f.column.clone(), f.kind),
                        f.interval,
                        f.safe,
                    )
                })
                .collect()
        };
        let (e, f) = (pick(&exact, true), pick(&fast, true));
        assert_eq!(e.len(), f.len());
        for ((ke, ie, se), (kf, iff, sf)) in e.iter().zip(&f) {
            assert_eq!(ke, kf);
            assert_eq!(se, sf, "{ke:?}: {ie} vs {iff}");
            assert!(iff.lo >= ie.lo, "{ke:?}: fast {iff} outside exact {ie}");
            match (ie.hi, iff.hi) {
                (Some(a), Some(b)) => assert!(b <= a, "{ke:?}: fast {iff} outside exact {ie}"),
                (Some(_), None) => panic!("{ke:?}: fast {iff} outside exact {ie}"),
                _ => {}
            }
            if !se {
                assert_eq!(ie, iff, "unsafe intervals are exact");
            }
        }
        // the same unsafe differences
        assert_eq!(pick(&exact, false), pick(&fast, false));
    }
    assert!(failing > 0, "some independently protected series must fail");
}

/// A count that may fall (delivered, as returns come in) carries no
/// monotone constraint, and a small fall is a finding like a small rise.
#[test]
fn counts_that_may_fall() {
    let policy = t10();
    let mk = |delivered: u64| {
        let mut t = Table::two_way(
            "u",
            "U",
            "g",
            &["a", "b"],
            &["invited", "delivered"],
            vec![vec![200, delivered], vec![150, 140]],
        );
        t.spec.total_column = false;
        t.spec.cumulative = true;
        t.spec.may_fall.push("delivered".into());
        t
    };
    let r1 = protect_release("S", &[mk(190)], &policy, &[]).unwrap().release();
    let mut naive = protect_release("S", &[mk(187)], &policy, &[]).unwrap().release();
    naive.sequence = 2;
    let rep = audit(&[r1.clone(), naive], &policy).unwrap();
    let f = rep.failures().next().expect("3 returns in between are found");
    assert_eq!((f.row.as_str(), f.column.as_str()), ("a", "delivered"));
    assert_eq!(f.interval, Interval { lo: 3, hi: Some(3) });
    let second = protect_release("S", &[mk(187)], &policy, std::slice::from_ref(&r1)).unwrap();
    assert!(audit(&[r1, second.release()], &policy).unwrap().passed());
}
