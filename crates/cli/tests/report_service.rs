//! `trialink report --service`: the service evaluation over every study in
//! the store, protected, audited, and recorded as the service's own series
//! of releases.

use crate::common;
use common::*;
use disclosure::{Published, Release};
use std::path::Path;

fn p(x: &Path) -> String {
    x.to_str().unwrap().to_string()
}

fn request(study: &str, seed: u64, n: u64) -> String {
    format!(
        r#"
study = "{study}"
channel = "postal"
invitations = {n}
seed = {seed}
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
"#
    )
}

fn invite(d: &Path, store: &Path, study: &str, seed: u64, n: u64) -> Vec<String> {
    let key = master_key(d);
    let req = d.join(format!("{study}.toml"));
    std::fs::write(&req, request(study, seed, n)).unwrap();
    let out = d.join(format!("batch-{study}"));
    let o = run(&[
        "invite",
        "--store",
        &p(store),
        "--key",
        &p(&key),
        "--cohort",
        &p(&fixtures().join("synth/cohort.csv")),
        "--request",
        &p(&req),
        "--out",
        &p(&out),
        "--qa-seeds",
        &p(&fixtures().join("synth/qa_seeds.csv")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let st = store::Store::open(store).unwrap();
    std::fs::read_to_string(out.join("invitations.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .filter(|r| !st.is_qa_reference(r).unwrap())
        .collect()
}

fn uptake(d: &Path, store: &Path, study: &str, refs: &[String], name: &str) {
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
        study,
        "--input",
        &p(&f),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn service(store: &Path, out: &Path) -> std::process::Output {
    run(&["report", "--service", "--store", &p(store), "--out", &p(out)])
}

/// Every count a CSV publishes, except the columns that are not counts of
/// people (requested targets, days).
fn published_counts(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".csv") || name == "statistics.csv" || name == "service_time_to_target.csv" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next().unwrap().split(',').collect();
        for line in lines {
            for (h, cell) in head.iter().zip(line.split(',')).skip(1) {
                if *h == "requested" {
                    continue;
                }
                if let Ok(v) = cell.parse::<u64>() {
                    out.push((format!("{name}: {line}"), v));
                }
            }
        }
    }
    out
}

#[test]
fn service_evaluation_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s.sqlite");
    let a = invite(d, &store, "svc-a", 3, 150);
    let b = invite(d, &store, "svc-b", 4, 60);
    uptake(d, &store, "svc-a", &a[..20], "a1.csv");
    uptake(d, &store, "svc-b", &b[..3], "b1.csv");
    // the service evaluation quotes each study's latest
    // published release (publish each quantity once), so the studies
    // publish first
    for s in ["svc-a", "svc-b"] {
        let o = run(&[
            "report",
            "--store",
            &p(&store),
            "--study",
            s,
            "--out",
            &p(&d.join(format!("{s}-1"))),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }

    let o = service(&store, &d.join("m1"));
    assert!(o.status.success(), "{}", stderr(&o));
    let m1 = d.join("m1");
    for f in [
        "tables.json",
        "service_studies.csv",
        "service_frequency.csv",
        "service_exclusions.csv",
        "service.md",
        "service.html",
    ] {
        assert!(m1.join(f).exists(), "{f}");
    }
    let rel: Release =
        serde_json::from_str(&std::fs::read_to_string(m1.join("tables.json")).unwrap()).unwrap();
    assert_eq!(rel.study, "service:evaluation");
    assert_eq!(rel.sequence, 1);
    let studies = rel.table("service_studies").unwrap();
    assert_eq!(studies.spec.rows, ["svc-a", "svc-b"]);
    // targets are published exactly; svc-b's 3 enrolments are not
    assert_eq!(studies.cells[0][0], Published::Count(150));
    assert_eq!(studies.cells[1][0], Published::Count(60));
    assert!(studies.cells[1][4].is_suppressed());
    // invitations per person: some people were invited by both studies,
    // or none were; either way the buckets cover every person invited
    let freq = rel.table("service_frequency").unwrap();
    assert_eq!(freq.spec.rows.len(), 4);
    // its relation to the studies' invitations is not declared (see
    // reports::build::quote_studies)
    assert!(freq.spec.weighted_sums.is_empty());
    // every per-study count quotes the study's release
    assert_eq!(studies.spec.quotes.len(), 2 * 4);
    // exclusions by reason from the batches' summaries
    let excl = rel.table("service_exclusions").unwrap();
    assert!(
        excl.spec.rows.iter().any(|r| r == "deceased"),
        "{:?}",
        excl.spec.rows
    );
    // no count 1..=7 anywhere under nhs-hes
    for (what, v) in published_counts(&m1) {
        assert!(!(1..=7).contains(&v), "{what}");
    }
    let md = std::fs::read_to_string(m1.join("service.md")).unwrap();
    assert!(md.contains("People by number of invitations received"));
    assert!(md.contains("enrolment rate"));
    // the audit passes on everything the store has published, together
    let o = run(&["audit", "--store", &p(&store)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("`svc-a` release(s) 1; `svc-b` release(s) 1"),
        "{}",
        stdout(&o)
    );
    // the service release alone quotes releases the audit was not given
    let o = run(&["audit", "--report", &p(&m1)]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("audit them together"), "{}", stderr(&o));

    // a month later: four more enrolments in svc-b; the second release is
    // protected against the first, and recorded as the series' second
    uptake(d, &store, "svc-b", &b[3..7], "b2.csv");
    let o = run(&[
        "report",
        "--store",
        &p(&store),
        "--study",
        "svc-b",
        "--out",
        &p(&d.join("svc-b-2")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = service(&store, &d.join("m2"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("release 2"), "{}", stderr(&o));
    for (what, v) in published_counts(&d.join("m2")) {
        assert!(!(1..=7).contains(&v), "{what}");
    }
    for fast in [false, true] {
        let mut args = vec!["audit".to_string(), "--store".into(), p(&store)];
        if fast {
            args.push("--fast".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
        assert!(
            stdout(&o).contains("`service:evaluation` release(s) 1, 2"),
            "{}",
            stdout(&o)
        );
    }
    let st = store::Store::open(&store).unwrap();
    assert_eq!(
        st.releases("service:evaluation", "service-release")
            .unwrap()
            .len(),
        2
    );
    // the study releases are a separate series
    assert_eq!(st.releases("svc-a", "report-release").unwrap().len(), 1);
    drop(st);

    // errors: no store (nothing created in the working directory), a study as well
    let o = bin()
        .current_dir(d)
        .args(["report", "--service", "--out", "x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--service needs --store"), "{}", stderr(&o));
    assert!(!d.join("trialink-store.sqlite").exists() && !d.join("x").exists());
    let o = run(&[
        "report",
        "--service",
        "--store",
        &p(&store),
        "--study",
        "svc-a",
        "--out",
        &p(&d.join("y")),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn service_evaluation_of_an_empty_store_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("empty.sqlite");
    let o = service(&store, &dir.path().join("out"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no invitation batch"), "{}", stderr(&o));
}
