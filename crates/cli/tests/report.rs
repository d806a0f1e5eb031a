//! `trialink report` integration tests: from a JSON input and from a store
//! filled by `trialink invite`, with the release log and the weekly
//! cumulative (differencing) case.

use crate::common;
use common::*;
use std::path::Path;

fn p(x: &Path) -> String {
    x.to_str().unwrap().to_string()
}

const REQ: &str = r#"
study = "swat-1"
channel = "postal"
invitations = 200
seed = 5
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

#[test]
fn report_from_json_input_all_formats() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let o = run(&[
        "report",
        "--input",
        &p(&fixtures().join("disclosure/report_input.json")),
        "--out",
        &p(&out),
        "--format",
        "csv,md,html",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "tables.json",
        "statistics.csv",
        "uptake_by_arm.csv",
        "selection.md",
        "selection.html",
        "uptake.html",
        "swat.html",
        "returns.html",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    // no CSV count in 1..=7 under nhs-hes (requested quotas excepted)
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".csv") || name == "statistics.csv" || name == "selection_strata.csv" {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines().skip(1) {
            for cell in line.split(',').skip(1) {
                if let Ok(v) = cell.parse::<u64>() {
                    assert!(!(1..=7).contains(&v), "{name}: {line}");
                }
            }
        }
    }
    // refuses to overwrite, --force replaces
    let o = run(&[
        "report",
        "--input",
        &p(&fixtures().join("disclosure/report_input.json")),
        "--out",
        &p(&out),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already holds a report"));
    let o = run(&[
        "report",
        "--input",
        &p(&fixtures().join("disclosure/report_input.json")),
        "--out",
        &p(&out),
        "--force",
        "--format",
        "html",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&[
        "report",
        "--input",
        &p(&fixtures().join("disclosure/report_input.json")),
        "--out",
        &p(&dir.path().join("x")),
        "--format",
        "pdf",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

fn invite(d: &Path, store: &Path) {
    let key = master_key(d);
    if !store.exists() {
        create_store(store, &key);
    }
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

fn uptake(d: &Path, store: &Path, refs: &[&str], name: &str) {
    let mut text = String::from("reference,status,date\n");
    for r in refs {
        text.push_str(&format!("{r},randomised,2026-11-25\n"));
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
        "swat-1",
        "--input",
        &p(&f),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn report_from_store_records_releases_and_protects_the_next_week() {
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
    // week 1: 40 enrolled
    uptake(d, &store, &refs[..40], "w1.csv");
    let o = run(&[
        "report",
        "--store",
        &p(&store),
        "--study",
        "swat-1",
        "--out",
        &p(&d.join("w1")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("release 1"), "{}", stderr(&o));
    // week 2: 3 more
    uptake(d, &store, &refs[40..43], "w2.csv");
    let o = run(&[
        "report",
        "--store",
        &p(&store),
        "--study",
        "swat-1",
        "--out",
        &p(&d.join("w2")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("release 2"), "{}", stderr(&o));
    // the store logged both releases
    let st = store::Store::open(&store).unwrap();
    assert_eq!(st.releases("swat-1", "report-release").unwrap().len(), 2);
    // audited together, the two weeks pass
    let o = run(&[
        "audit",
        "--report",
        &p(&d.join("w1")),
        "--report",
        &p(&d.join("w2")),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("2 release(s)"));
    // unknown study is an error
    let o = run(&[
        "report",
        "--store",
        &p(&store),
        "--study",
        "nope",
        "--out",
        &p(&d.join("x")),
    ]);
    assert_eq!(o.status.code(), Some(2));
}
