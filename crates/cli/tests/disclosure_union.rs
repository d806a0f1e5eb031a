//! Issue 16: the reader holds every file the service has published. The
//! three attacks an independent attacker found, re-run as regression
//! cases, and audits that fail on deliberately unprotected publications.

use crate::common;
use common::*;
use disclosure::{Policy, Published, PublishedTable, Quote, Release, Table, RELEASE_FORMAT};
use std::path::Path;

fn p(x: &Path) -> String {
    x.to_str().unwrap().to_string()
}

fn release_of(dir: &Path) -> Release {
    serde_json::from_str(&std::fs::read_to_string(dir.join("tables.json")).unwrap()).unwrap()
}

/// The 2000-person demo (seed 2026): two studies, one small and weekly,
/// and the service evaluation after them.
#[test]
fn demo_2000_attacks_are_closed_and_the_store_audit_passes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = run(&["demo", "--people", "2000", "--seed", "2026", "--out", &p(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let study = release_of(&out.join("report"));
    let small = release_of(&out.join("small-week2"));
    let service = release_of(&out.join("service-report"));
    assert_eq!(service.study, "service:evaluation");

    // attack 1: service exclusions minus the study funnel. Every service
    // exclusion cell is the study funnel's published cell, verbatim: a
    // hidden funnel cell stays hidden, nothing is rounded again, and there
    // is no total over studies to difference.
    let excl = service
        .table("service_exclusions")
        .expect("exclusions by reason and study");
    assert!(!excl.spec.total_row && !excl.spec.total_column);
    let mut hidden = 0;
    for (i, reason) in excl.spec.rows.iter().enumerate() {
        for (j, s) in excl.spec.columns.iter().enumerate() {
            let rel = if s == "demo-study" { &study } else { &small };
            assert_eq!(&rel.study, s);
            let f = rel.table("selection_funnel").unwrap();
            let want = f
                .spec
                .row_index(&format!("excluded: {reason}"))
                .map_or(Published::Count(0), |r| f.cells[r][0]);
            assert_eq!(excl.cells[i][j], want, "{reason} / {s}");
            hidden += usize::from(want.is_suppressed());
        }
    }
    assert!(hidden > 0, "the demo really suppresses funnel cells");

    // attack 2: a weekly study and the service report after it. The
    // service's per-study figures are the study's latest release's, so
    // the small study's hidden enrolled total stays hidden and bounds
    // nothing.
    let st = service.table("service_studies").unwrap();
    assert!(!st.spec.total_row, "no total over studies (attack 3)");
    for (i, s) in st.spec.rows.iter().enumerate() {
        let rel = if s == "demo-study" { &study } else { &small };
        let u = rel.table("uptake_by_arm").unwrap();
        let total = u.spec.row_index("Total").unwrap();
        for c in ["invited", "delivered", "responded", "enrolled"] {
            let j = st.spec.column_index(c).unwrap();
            assert_eq!(
                st.cells[i][j],
                u.cells[total][u.spec.column_index(c).unwrap()],
                "{s} {c}"
            );
        }
    }
    assert!(
        small.suppressed() > 0,
        "the small study's weekly reports show `*` cells"
    );

    // the audit over everything the store has published passes, and says
    // what it covers
    let store = out.join("work/service/service.sqlite");
    let o = run(&["audit", "--store", &p(&store)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(
            "`demo-small` release(s) 1, 2; `demo-study` release(s) 1, 2; `service:evaluation` release(s) 1"
        ),
        "{text}"
    );
    assert!(text.contains("rounded count(s)"), "{text}");
}

fn hes() -> Policy {
    Policy::builtin("nhs-hes").unwrap()
}

fn write(dir: &Path, name: &str, r: &Release) -> String {
    let f = dir.join(name);
    std::fs::write(&f, serde_json::to_string(r).unwrap()).unwrap();
    p(&f)
}

#[test]
fn audit_fails_on_an_unprotected_cross_series_publication() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // a study funnel, protected: deceased 10, opt-out 45, two hidden cells
    let mut t = Table::one_way(
        "selection_funnel",
        "Funnel",
        "step",
        "people",
        &[
            ("excluded: deceased", 10),
            ("excluded: opt-out", 45),
            ("excluded: armed forces", 1),
            ("excluded: already enrolled", 1),
        ],
    );
    t.spec.total_row = false;
    let study = disclosure::protect_release("S", &[t], &hes(), &[])
        .unwrap()
        .release();
    // the service publishes its own rounded total of the four (57 → 55)
    let mut s = Table::one_way(
        "service_exclusions",
        "Exclusions",
        "reason",
        "exclusions",
        &[("all", 0)],
    );
    s.spec.total_row = false;
    s.spec.quotes.push(Quote {
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
    let serv = |v: Published| Release {
        format: RELEASE_FORMAT.into(),
        study: "service:evaluation".into(),
        sequence: 1,
        policy: hes(),
        tables: vec![PublishedTable {
            spec: s.spec.clone(),
            cells: vec![vec![v]],
        }],
    };
    let a = write(d, "study.json", &study);
    let b = write(d, "naive.json", &serv(Published::Count(55)));
    let o = run(&["audit", "--table", &a, "--table", &b]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("UNSAFE"), "{}", stdout(&o));
    assert!(stdout(&o).contains("armed forces"), "{}", stdout(&o));
    // the faithful quote passes
    let c = write(d, "quoted.json", &serv(Published::Suppressed));
    let o = run(&["audit", "--table", &a, "--table", &c]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn audit_fails_on_a_rounded_cell_recovered_exactly() {
    // A SWAT 2×2 with margins, every cell rounded independently: A
    // enrolled 29 → 30, A not 33 → 35, B enrolled 29 → 30, B not 29 → 30;
    // totals 62 → 60, 58 → 60, 58 → 60, 62 → 60, 120. The margins narrow
    // A's counts below three values.
    let dir = tempfile::tempdir().unwrap();
    let t = Table::two_way(
        "swat",
        "SWAT",
        "arm",
        &["A", "B"],
        &["enrolled", "not"],
        vec![vec![29, 33], vec![29, 29]],
    );
    // published under a rule that rounds every total afresh
    let mut pol = hes();
    pol.round.totals = disclosure::TotalsRule::RoundTrue;
    let cells = t
        .grid()
        .iter()
        .map(|r| r.iter().map(|&v| Published::Count(pol.round(v))).collect())
        .collect();
    let naive = Release {
        format: RELEASE_FORMAT.into(),
        study: "S".into(),
        sequence: 1,
        policy: pol.clone(),
        tables: vec![PublishedTable {
            spec: t.spec.clone(),
            cells,
        }],
    };
    let f = write(dir.path(), "naive.json", &naive);
    let o = run(&["audit", "--table", &f]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("rounded cell"), "{}", stdout(&o));
    // protected (under the same rule, or under nhs-hes's controlled
    // rounding), it passes
    let prot = disclosure::protect_release("S", std::slice::from_ref(&t), &pol, &[])
        .unwrap()
        .release();
    let f = write(dir.path(), "protected-round-true.json", &prot);
    let o = run(&["audit", "--table", &f]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let prot = disclosure::protect_release("S", &[t], &hes(), &[])
        .unwrap()
        .release();
    let f = write(dir.path(), "protected.json", &prot);
    let o = run(&["audit", "--table", &f]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn audit_errors_never_echo_a_value_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.json");
    std::fs::write(
        &f,
        r#"{"format":"trialink-release-v1","study":"S","sequence":"9991335056","policy":{},"tables":[]}"#,
    )
    .unwrap();
    let o = run(&["audit", "--table", &p(&f)]);
    assert_eq!(o.status.code(), Some(2));
    assert_error(&o, "bad.json:1:", &["9991335056"]);
}
