//! `trialink report --store`: uptake by age band, sex, ethnic group and
//! region, linked with the arm, registry and stratum tables (same grand
//! totals; demographics that are quota variables declared sums of strata),
//! protected together and across weekly releases.

use crate::common;
use common::*;
use disclosure::{Published, Release};
use std::collections::BTreeMap;
use std::path::Path;

fn p(x: &Path) -> String {
    x.to_str().unwrap().to_string()
}

const REQ: &str = r#"
study = "demo-2"
channel = "postal"
invitations = 200
seed = 11
as_of = "2026-11-21"
[quotas]
by = ["sex"]
proportional = true
[[arms]]
name = "A"
template = "letter-a"
[[arms]]
name = "B"
template = "letter-b"
"#;

fn invite(d: &Path, store: &Path) {
    let key = master_key(d);
    std::fs::write(d.join("req.toml"), REQ).unwrap();
    let o = run(&[
        "invite",
        "--store",
        &p(store),
        "--key",
        &p(&key),
        "--cohort",
        &p(&fixtures().join("synth/cohort.csv")),
        "--request",
        &p(&d.join("req.toml")),
        "--out",
        &p(&d.join("batch")),
        "--qa-seeds",
        &p(&fixtures().join("synth/qa_seeds.csv")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn uptake(d: &Path, store: &Path, refs: &[&str], status: &str, name: &str) {
    let mut text = String::from("reference,status,date\n");
    for r in refs {
        text.push_str(&format!("{r},{status},2026-11-25\n"));
    }
    let f = d.join(name);
    std::fs::write(&f, text).unwrap();
    let o = run(&[
        "uptake",
        "--store",
        &p(store),
        "--key",
        &p(&d.join("master.key")),
        "--study",
        "demo-2",
        "--input",
        &p(&f),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn report(store: &Path, out: &Path) {
    let o = run(&[
        "report",
        "--store",
        &p(store),
        "--study",
        "demo-2",
        "--out",
        &p(out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn release(dir: &Path) -> Release {
    serde_json::from_str(&std::fs::read_to_string(dir.join("tables.json")).unwrap()).unwrap()
}

/// True counts per demographic group, straight from the store's rows.
fn truth(store: &Path, column: &str) -> BTreeMap<String, u64> {
    let st = store::Store::open(store).unwrap();
    let mut q = st
        .connection()
        .prepare(&format!(
            "SELECT {column}, count(*) FROM invitations WHERE study = 'demo-2' GROUP BY 1"
        ))
        .unwrap();
    let rows = q
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn demographic_uptake_tables_are_linked_and_protected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s.sqlite");
    invite(d, &store);
    let batch = std::fs::read_to_string(d.join("batch/invitations.csv")).unwrap();
    let refs: Vec<String> = {
        let st = store::Store::open(&store).unwrap();
        batch
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_string())
            .filter(|r| !st.is_qa_reference(r).unwrap())
            .collect()
    };
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    uptake(d, &store, &refs[..30], "randomised", "w1.csv");
    uptake(d, &store, &refs[30..45], "expressed_interest", "w1b.csv");
    report(&store, &d.join("w1"));
    let r1 = release(&d.join("w1"));

    let ids: Vec<&str> = r1.tables.iter().map(|t| t.spec.id.as_str()).collect();
    for id in [
        "uptake_by_arm",
        "uptake_by_registry",
        "uptake_by_stratum",
        "uptake_by_age_band",
        "uptake_by_sex",
        "uptake_by_ethnic_group",
        "uptake_by_region",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
        assert!(d.join("w1").join(format!("{id}.csv")).exists(), "{id}.csv");
        let t = r1.table(id).unwrap();
        assert_eq!(
            t.spec.columns,
            ["invited", "delivered", "responded", "enrolled"],
            "{id}"
        );
        // linked through the grand totals
        for c in &t.spec.columns {
            assert!(
                t.spec
                    .shared
                    .iter()
                    .any(|s| s.row == "Total" && &s.column == c && s.key == format!("uptake:{c}")),
                "{id}: total of {c} not linked"
            );
        }
    }
    // totals are sums of the published rows
    // (controlled rounding), so a margin carries nothing its rows do not;
    // the same grand total may therefore read a few apart in two breakdowns
    // (it was one value rounded afresh, which let readers undo the rounding)
    let mut checked = 0;
    for t in r1.tables.iter().filter(|t| t.spec.id.starts_with("uptake_by_")) {
        let n = t.spec.rows.len();
        for j in 0..t.spec.columns.len() {
            let parts: Option<Vec<u64>> = (0..n).map(|i| t.cells[i][j].count()).collect();
            if let (Some(parts), Some(total)) = (parts, t.cells[n][j].count()) {
                assert_eq!(parts.iter().sum::<u64>(), total, "{} column {j}", t.spec.id);
                checked += 1;
            }
        }
    }
    assert!(checked > 0);
    // groups are the store's, with invited counts within rounding of the truth
    for (column, id) in [
        ("age_band", "uptake_by_age_band"),
        ("sex", "uptake_by_sex"),
        ("ethnic_group", "uptake_by_ethnic_group"),
        ("region", "uptake_by_region"),
    ] {
        let t = r1.table(id).unwrap();
        let truth = truth(&store, column);
        assert_eq!(t.spec.rows, truth.keys().cloned().collect::<Vec<_>>(), "{id}");
        for (i, (_, &n)) in truth.iter().enumerate() {
            match t.cells[i][0] {
                Published::Count(v) => assert!(v.abs_diff(n) <= 2 && v % 5 == 0, "{id}: {v} vs {n}"),
                Published::Suppressed => {}
            }
        }
    }
    // sex is the quota variable: its rows are declared sums of the strata
    let sex = r1.table("uptake_by_sex").unwrap();
    assert_eq!(sex.spec.row_sums.len(), sex.spec.rows.len());
    assert!(sex.spec.row_sums.iter().all(|s| s.table == "uptake_by_stratum"));
    assert!(r1.table("uptake_by_region").unwrap().spec.row_sums.is_empty());
    // small groups exist in these 200 invitations, and are suppressed
    assert!(r1.suppressed() > 0);
    // nothing published in 1..=7 (nhs-hes), in any CSV but the quotas
    for entry in std::fs::read_dir(d.join("w1")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".csv") || name == "statistics.csv" || name == "selection_strata.csv" {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines().skip(1) {
            for cell in line.rsplit(',').take(5) {
                if let Ok(v) = cell.parse::<u64>() {
                    assert!(!(1..=7).contains(&v), "{name}: {line}");
                }
            }
        }
    }
    // the uptake report shows rates with Wilson intervals for the new tables
    let md = std::fs::read_to_string(d.join("w1/uptake.md")).unwrap();
    for title in [
        "Uptake by age band",
        "Uptake by sex",
        "Uptake by ethnic group",
        "Uptake by region",
    ] {
        assert!(md.contains(title), "{title}");
    }
    let html = std::fs::read_to_string(d.join("w1/uptake.html")).unwrap();
    assert!(html.contains("Uptake by ethnic group"));

    // week 2: four more enrolments; protected against week 1
    uptake(d, &store, &refs[45..49], "randomised", "w2.csv");
    report(&store, &d.join("w2"));
    let o = run(&[
        "audit",
        "--report",
        &p(&d.join("w1")),
        "--report",
        &p(&d.join("w2")),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));

    // the linked tables matter: week 2's demographic tables published without
    // the relation to the strata (row sums dropped) may hide less than the
    // audit with the relation sees; the audit reads the relation from
    // tables.json, so removing it never makes a release look less safe.
    let r2 = release(&d.join("w2"));
    let policy = disclosure::Policy::builtin("nhs-hes").unwrap();
    let with = disclosure::audit(&[r1.clone(), r2.clone()], &policy).unwrap();
    let mut stripped = r2.clone();
    for t in &mut stripped.tables {
        t.spec.row_sums.clear();
    }
    let mut r1s = r1.clone();
    for t in &mut r1s.tables {
        t.spec.row_sums.clear();
    }
    let without = disclosure::audit(&[r1s, stripped], &policy).unwrap();
    assert!(with.passed() && without.passed());
    let width = |rep: &disclosure::AuditReport| -> Vec<Option<u64>> {
        rep.findings
            .iter()
            .filter(|f| f.kind == disclosure::FindingKind::Suppressed)
            .map(|f| f.interval.width())
            .collect()
    };
    for (a, b) in width(&with).iter().zip(width(&without)) {
        match (a, b) {
            (Some(a), Some(b)) => assert!(*a <= b, "the relation can only narrow intervals"),
            (Some(_), None) | (None, None) => {}
            (None, Some(_)) => panic!("the relation widened an interval"),
        }
    }
}
