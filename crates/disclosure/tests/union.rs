//! The reader holding every release of every series: rounded
//! counts, quotes across series, and the brute-force check that the
//! audit's linear program contains every integer table consistent with
//! what is published — and flags what brute force finds too narrow.

#![allow(clippy::needless_range_loop)]

use disclosure::{
    audit, protect_release, FindingKind, Policy, Published, PublishedTable, Quote, Release, Table,
    RELEASE_FORMAT,
};
use std::collections::BTreeMap;

/// nhs-hes with every total rounded afresh: the rule the brute force below
/// models (each published count, totals included, lies in its rounding
/// interval). nhs-hes itself now publishes totals as sums of published
/// parts; `controlled_rounding_leaves_rounded_counts_their_values` covers it.
fn hes() -> Policy {
    let mut p = Policy::builtin("nhs-hes").unwrap();
    p.round.totals = disclosure::TotalsRule::RoundTrue;
    p
}

/// Each cell's integer interval: `(release, table, (row, column)) → (min, max)`.
type Intervals = BTreeMap<(usize, usize, (usize, usize)), (u64, u64)>;

/// A leaf variable of the brute force: `(release, table, row, column)`.
type Leaf = (usize, usize, usize, usize);

/// Enumerate every assignment of the leaf counts of `releases` (a `*`
/// from 1 to `cap`, a published count over its rounding interval) such
/// that every published total lies in its rounding interval, every faithful
/// or unfaithful quote equals the sum it quotes, and cumulative cells never
/// fall between releases of a series. Returns each cell's integer interval
/// `(release, table, (row, column)) → (min, max)`.
fn brute_force(releases: &[Release], cap: u64) -> Intervals {
    let mut leaves: Vec<(Leaf, (u64, u64))> = Vec::new();
    for (k, r) in releases.iter().enumerate() {
        for (t, tab) in r.tables.iter().enumerate() {
            let s = &tab.spec;
            for i in 0..s.rows.len() {
                for j in 0..s.columns.len() {
                    let quoted = s
                        .quotes
                        .iter()
                        .any(|q| s.row_index(&q.row) == Some(i) && s.column_index(&q.column) == Some(j));
                    let range = match tab.cells[i][j] {
                        // a quote is the sum it quotes (filled in below)
                        _ if quoted => (0, 0),
                        Published::Suppressed => (r.policy.suppressed_lower_bound(), cap),
                        Published::Count(v) => r.policy.published_interval(v),
                    };
                    leaves.push(((k, t, i, j), range));
                }
            }
        }
    }
    let mut out: Intervals = BTreeMap::new();
    let mut x = vec![0u64; leaves.len()];
    fn grids(releases: &[Release], leaves: &[(Leaf, (u64, u64))], x: &[u64]) -> Vec<Vec<Vec<Vec<u64>>>> {
        let mut g: Vec<Vec<Vec<Vec<u64>>>> = releases
            .iter()
            .map(|r| {
                r.tables
                    .iter()
                    .map(|t| vec![vec![0; t.spec.grid_columns()]; t.spec.grid_rows()])
                    .collect()
            })
            .collect();
        for (n, &((k, t, i, j), _)) in leaves.iter().enumerate() {
            g[k][t][i][j] = x[n];
        }
        for (k, r) in releases.iter().enumerate() {
            for (t, tab) in r.tables.iter().enumerate() {
                let s = &tab.spec;
                for q in &s.quotes {
                    let (i, j) = (s.row_index(&q.row).unwrap(), s.column_index(&q.column).unwrap());
                    let k2 = releases
                        .iter()
                        .position(|x| x.study == q.study && x.sequence == q.sequence)
                        .unwrap();
                    let t2 = releases[k2]
                        .tables
                        .iter()
                        .position(|x| x.spec.id == q.table)
                        .unwrap();
                    let s2 = &releases[k2].tables[t2].spec;
                    g[k][t][i][j] = q
                        .cells
                        .iter()
                        .map(|[a, b]| g[k2][t2][s2.row_index(a).unwrap()][s2.column_index(b).unwrap()])
                        .sum();
                }
                let (nr, nc) = (s.rows.len(), s.columns.len());
                if s.total_column {
                    for i in 0..nr {
                        g[k][t][i][nc] = (0..nc).map(|j| g[k][t][i][j]).sum();
                    }
                }
                if s.total_row {
                    for j in 0..s.grid_columns() {
                        g[k][t][nr][j] = (0..nr).map(|i| g[k][t][i][j]).sum();
                    }
                }
            }
        }
        g
    }
    fn ok(releases: &[Release], g: &[Vec<Vec<Vec<u64>>>]) -> bool {
        for (k, r) in releases.iter().enumerate() {
            for (t, tab) in r.tables.iter().enumerate() {
                let s = &tab.spec;
                for i in 0..s.grid_rows() {
                    for j in 0..s.grid_columns() {
                        let v = g[k][t][i][j];
                        let quoted = s
                            .quotes
                            .iter()
                            .any(|q| s.row_index(&q.row) == Some(i) && s.column_index(&q.column) == Some(j));
                        match tab.cells[i][j] {
                            Published::Suppressed => {
                                if v < r.policy.suppressed_lower_bound() {
                                    return false;
                                }
                            }
                            Published::Count(p) if !quoted => {
                                let (lo, hi) = r.policy.published_interval(p);
                                if v < lo || v > hi {
                                    return false;
                                }
                            }
                            Published::Count(p) => {
                                // a quote: faithful ones carry no bound of
                                // their own, others are rounded counts
                                let q = s.quotes.iter().find(|q| s.row_index(&q.row) == Some(i)).unwrap();
                                let k2 = releases
                                    .iter()
                                    .position(|x| x.study == q.study && x.sequence == q.sequence)
                                    .unwrap();
                                let t2 = releases[k2]
                                    .tables
                                    .iter()
                                    .position(|x| x.spec.id == q.table)
                                    .unwrap();
                                let tab2 = &releases[k2].tables[t2];
                                let cells: Vec<Published> = q
                                    .cells
                                    .iter()
                                    .map(|[a, b]| {
                                        tab2.cells[tab2.spec.row_index(a).unwrap()]
                                            [tab2.spec.column_index(b).unwrap()]
                                    })
                                    .collect();
                                if disclosure::table::quoted_value(&cells) != Published::Count(p) {
                                    let (lo, hi) = r.policy.published_interval(p);
                                    if v < lo || v > hi {
                                        return false;
                                    }
                                }
                            }
                        }
                    }
                }
                for q in &tab.spec.quotes {
                    let (i, j) = (s.row_index(&q.row).unwrap(), s.column_index(&q.column).unwrap());
                    let k2 = releases
                        .iter()
                        .position(|x| x.study == q.study && x.sequence == q.sequence)
                        .unwrap();
                    let t2 = releases[k2]
                        .tables
                        .iter()
                        .position(|x| x.spec.id == q.table)
                        .unwrap();
                    let s2 = &releases[k2].tables[t2].spec;
                    let sum: u64 = q
                        .cells
                        .iter()
                        .map(|[a, b]| g[k2][t2][s2.row_index(a).unwrap()][s2.column_index(b).unwrap()])
                        .sum();
                    if sum != g[k][t][i][j] {
                        return false;
                    }
                }
            }
        }
        // cumulative cells never fall between releases of a series
        for (k2, r2) in releases.iter().enumerate() {
            for (k1, r1) in releases.iter().enumerate() {
                if r1.study != r2.study || r1.sequence >= r2.sequence {
                    continue;
                }
                for (t2, tab2) in r2.tables.iter().enumerate() {
                    let Some(t1) = r1
                        .tables
                        .iter()
                        .position(|t| t.spec.id == tab2.spec.id && t.spec.cumulative)
                    else {
                        continue;
                    };
                    if !tab2.spec.cumulative {
                        continue;
                    }
                    for i in 0..tab2.spec.grid_rows() {
                        for j in 0..tab2.spec.grid_columns() {
                            if g[k1][t1][i][j] > g[k2][t2][i][j] {
                                return false;
                            }
                        }
                    }
                }
            }
        }
        true
    }
    fn rec(
        n: usize,
        x: &mut Vec<u64>,
        leaves: &[(Leaf, (u64, u64))],
        releases: &[Release],
        out: &mut Intervals,
    ) {
        if n == leaves.len() {
            let g = grids(releases, leaves, x);
            if ok(releases, &g) {
                for (k, r) in releases.iter().enumerate() {
                    for (t, tab) in r.tables.iter().enumerate() {
                        for i in 0..tab.spec.grid_rows() {
                            for j in 0..tab.spec.grid_columns() {
                                let v = g[k][t][i][j];
                                let e = out.entry((k, t, (i, j))).or_insert((v, v));
                                e.0 = e.0.min(v);
                                e.1 = e.1.max(v);
                            }
                        }
                    }
                }
            }
            return;
        }
        let (lo, hi) = leaves[n].1;
        for v in lo..=hi {
            x[n] = v;
            rec(n + 1, x, leaves, releases, out);
        }
    }
    rec(0, &mut x, &leaves, releases, &mut out);
    out
}

/// Every failure the brute force implies is reported, and every reported
/// interval contains the brute-force one (the program is a relaxation).
fn check(releases: &[Release], cap: u64) -> disclosure::AuditReport {
    let policy = hes();
    let truth = brute_force(releases, cap);
    assert!(!truth.is_empty(), "the true tables are consistent");
    let rep = audit(releases, &policy).unwrap();
    for f in &rep.findings {
        let (lo, hi) = truth[&(f.release_index, f.table_index, f.position)];
        if f.kind == FindingKind::Suppressed || f.kind == FindingKind::Rounded {
            assert!(
                f.interval.lo <= lo && f.interval.hi.is_none_or(|h| h >= hi.min(cap - 1)),
                "{f} vs [{lo}, {hi}]"
            );
        }
    }
    for (&(k, t, (i, j)), &(lo, hi)) in &truth {
        let r = &releases[k];
        let tab = &r.tables[t];
        if tab
            .spec
            .quotes
            .iter()
            .any(|q| tab.spec.row_index(&q.row) == Some(i) && tab.spec.column_index(&q.column) == Some(j))
        {
            // a quote is the cells it quotes: their findings stand for it
            continue;
        }
        let narrow_rounded = match tab.cells[i][j] {
            Published::Count(v)
                if !tab
                    .spec
                    .quotes
                    .iter()
                    .any(|q| tab.spec.row_index(&q.row) == Some(i)) =>
            {
                let (a, b) = policy.published_interval(v);
                hi - lo + 1 < policy.min_rounded_values().min(b - a + 1)
            }
            _ => false,
        };
        let narrow_hidden =
            tab.cells[i][j].is_suppressed() && hi < cap && lo <= 7 && hi - lo < policy.min_width();
        if narrow_rounded || narrow_hidden {
            assert!(
                rep.failures()
                    .any(|f| (f.release_index, f.table_index, f.position) == (k, t, (i, j))),
                "brute force narrows ({k}, {t}, {i}, {j}) to [{lo}, {hi}] and the audit missed it"
            );
        }
    }
    rep
}

fn published(t: &Table, cells: Vec<Vec<Published>>) -> PublishedTable {
    PublishedTable {
        spec: t.spec.clone(),
        cells,
    }
}

fn release(study: &str, sequence: u32, tables: Vec<PublishedTable>) -> Release {
    Release {
        format: RELEASE_FORMAT.into(),
        study: study.into(),
        sequence,
        policy: hes(),
        tables,
    }
}

/// Round every cell of a table's true grid (no suppression): what a
/// publisher who audits only suppressed cells would print.
fn rounded(t: &Table) -> PublishedTable {
    let p = hes();
    let cells = t
        .grid()
        .iter()
        .map(|r| r.iter().map(|&v| Published::Count(p.round(v))).collect())
        .collect();
    published(t, cells)
}

#[test]
fn rounded_two_by_two_recovered_from_margins_is_caught_and_protected() {
    // A SWAT-like 2×2 of rounded counts with margins: brute force narrows
    // cells below three values on some tables; the audit flags exactly
    // those, and protection fixes them.
    let mut narrowed = 0;
    let mut seed = 11u64;
    let mut rnd = |m: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    for _ in 0..12 {
        let counts = vec![vec![8 + rnd(20), 8 + rnd(20)], vec![8 + rnd(20), 8 + rnd(20)]];
        let t = Table::two_way(
            "swat",
            "SWAT",
            "arm",
            &["A", "B"],
            &["enrolled", "not enrolled"],
            counts,
        );
        let naive = release("S", 1, vec![rounded(&t)]);
        let rep = check(std::slice::from_ref(&naive), 40);
        narrowed += usize::from(rep.failures().any(|f| f.kind == FindingKind::Rounded));
        let p = protect_release("S", std::slice::from_ref(&t), &hes(), &[]).unwrap();
        let rep = check(&[p.release()], 40);
        assert!(rep.passed(), "{:?}", rep.failures().collect::<Vec<_>>());
    }
    assert!(
        narrowed > 0,
        "some naive 2×2 tables are narrowed (the attack exists)"
    );
}

/// A study funnel and a service table quoting the sum of its exclusions.
fn funnel(armed: u64, already: u64) -> Table {
    let mut t = Table::one_way(
        "selection_funnel",
        "Funnel",
        "step",
        "people",
        &[
            ("excluded: deceased", 10),
            ("excluded: opt-out", 45),
            ("excluded: armed forces", armed),
            ("excluded: already enrolled", already),
        ],
    );
    t.spec.total_row = false;
    t
}

fn service(value: Published, quote: bool) -> Release {
    let mut t = Table::one_way(
        "service_exclusions",
        "Exclusions",
        "reason",
        "exclusions",
        &[("all", 0)],
    );
    t.spec.total_row = false;
    if quote {
        t.spec.quotes.push(Quote {
            row: "all".into(),
            column: "exclusions".into(),
            study: "S".into(),
            sequence: 1,
            table: "selection_funnel".into(),
            cells: [
                "excluded: deceased",
                "excluded: opt-out",
                "excluded: armed forces",
                "excluded: already enrolled",
            ]
            .iter()
            .map(|r| [r.to_string(), "people".to_string()])
            .collect(),
        });
    }
    release("service:evaluation", 1, vec![published(&t, vec![vec![value]])])
}

#[test]
fn service_total_minus_study_funnel_attack() {
    // The 2000-person demo's attack in miniature: the service total of
    // exclusions (true 10 + 45 + 1 + 1 = 57, rounded afresh to 55) minus
    // the study's published deceased (10) and opt-out (45) pins each of the
    // two hidden cells to [1, 5].
    let p = protect_release("S", &[funnel(1, 1)], &hes(), &[]).unwrap();
    let study = p.release();
    assert!(
        study.tables[0].cells[2][0].is_suppressed(),
        "{:?}",
        study.tables[0].cells
    );
    // unprotected: the service re-rounds its own true total (60)
    let naive = [study.clone(), service(Published::Count(55), true)];
    let rep = check(&naive, 30);
    let f = rep
        .failures()
        .find(|f| f.study == "S")
        .expect("the hidden cells are pinned");
    assert_eq!(f.kind, FindingKind::Suppressed);
    assert!(f.interval.hi.unwrap() <= 6, "{f}");
    // protected: the service quotes the study's published figures
    let quoted = [study.clone(), service(Published::Suppressed, true)];
    let rep = check(&quoted, 30);
    assert!(rep.passed(), "{:?}", rep.failures().collect::<Vec<_>>());
}

#[test]
fn two_studies_and_the_service_total() {
    // Study A publishes its enrolled count (8 → 10); study B's (3) is
    // hidden. A service table quoting both faithfully, with no total,
    // passes and keeps the studies independent; the same table with a
    // total over the two rounded afresh (11 → 10) leaves B's count at
    // [1, 4] (total 8..12 minus A 8..12): caught.
    let mk = |id: &str, n: u64| {
        let mut t = Table::one_way("enrolled", "Enrolled", "arm", "enrolled", &[("x", n)]);
        t.spec.total_row = false;
        protect_release(id, &[t], &hes(), &[]).unwrap().release()
    };
    let (a, b) = (mk("A", 8), mk("B", 3));
    assert!(b.tables[0].cells[0][0].is_suppressed());
    let serv = |total: Option<Published>| {
        let mut t = Table::one_way(
            "service_studies",
            "Enrolled",
            "study",
            "enrolled",
            &[("A", 0), ("B", 0)],
        );
        t.spec.total_row = total.is_some();
        for s in ["A", "B"] {
            t.spec.quotes.push(Quote {
                row: s.into(),
                column: "enrolled".into(),
                study: s.into(),
                sequence: 1,
                table: "enrolled".into(),
                cells: vec![["x".into(), "enrolled".into()]],
            });
        }
        let mut cells = vec![vec![Published::Count(10)], vec![Published::Suppressed]];
        cells.extend(total.map(|v| vec![v]));
        release("service:evaluation", 1, vec![published(&t, cells)])
    };
    let rep = check(&[a.clone(), b.clone(), serv(None)], 30);
    assert!(rep.passed());
    assert_eq!(rep.components, 2, "the two studies are independent parts");
    let rep = check(&[a, b, serv(Some(Published::Count(10)))], 30);
    let f = rep.failures().next().expect("the service total minus A pins B");
    assert_eq!((f.study.as_str(), f.kind), ("B", FindingKind::Suppressed), "{f}");
}

/// Under nhs-hes as built in (totals and row sums are sums of published
/// parts), brute force over the leaves: a table's totals carry nothing
/// beyond its parts, so every published leaf keeps its rounding interval,
/// and the audit agrees.
#[test]
fn controlled_rounding_leaves_rounded_counts_their_values() {
    let policy = Policy::builtin("nhs-hes").unwrap();
    let mut seed = 5u64;
    let mut rnd = |m: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    for _ in 0..8 {
        let counts = vec![vec![8 + rnd(20), 8 + rnd(20)], vec![8 + rnd(20), 8 + rnd(20)]];
        let t = Table::two_way("swat", "SWAT", "arm", &["A", "B"], &["enrolled", "not"], counts);
        let p = protect_release("S", std::slice::from_ref(&t), &policy, &[]).unwrap();
        let rel = p.release();
        let cells = &rel.tables[0].cells;
        // the totals are the sums of the published leaves
        for i in 0..2 {
            assert_eq!(
                cells[i][2].count(),
                Some(cells[i][0].count().unwrap() + cells[i][1].count().unwrap())
            );
        }
        // so every leaf assignment within the leaves' rounding intervals
        // reproduces the whole published table: each leaf keeps all its
        // values, and the audit must not narrow any
        let rep = audit(&[rel], &policy).unwrap();
        assert!(rep.passed(), "{:?}", rep.failures().collect::<Vec<_>>());
        assert_eq!(
            rep.rounded_cells, 4,
            "the four leaves are checked; totals are sums"
        );
    }
}
