//! An independent attacker (tests/attack) that reads only the published
//! CSV files of every release — every study's and the service
//! evaluation's — recovers nothing the policy promises to hide: the
//! 2000-person demo funnel against the service report, a weekly study with
//! the service report the next day, two studies and the service report,
//! and rounded cells against their totals.
//!
//! Each test also checks the attacker against the truth (the true tables at
//! each publication date, written from a copy of the store by a report under
//! a test-only policy that publishes every count as it is): a true value
//! outside an interval the attacker derived fails the test as an attacker
//! bug, not a publisher's.

use crate::attack;
use crate::common;
use attack::{Attack, Kind, Publication, Series, NHS_HES};
use common::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn p(x: &Path) -> String {
    x.to_str().unwrap().to_string()
}

/// A test-only policy that suppresses and rounds nothing a test can reach:
/// reports written under it are the true tables.
fn truth_policy(d: &Path) -> PathBuf {
    let f = d.join("truth-policy.toml");
    std::fs::write(
        &f,
        "name = \"truth\"\ndescription = \"test only: every count as it is\"\n\
         [suppress]\nmin = 1000000\nmax = 1000000\nzero = \"publish\"\n\
         [round]\nbase = 1\ntotals = \"round-true\"\n",
    )
    .unwrap();
    f
}

/// The true tables now: a report of a throwaway copy of the store.
fn truth(d: &Path, store: &Path, study: Option<&str>, out: &Path) {
    let copy = d.join("truth-copy.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", store.display()));
        let to = PathBuf::from(format!("{}{suffix}", copy.display()));
        let _ = std::fs::remove_file(&to);
        if from.exists() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    let policy = truth_policy(d);
    let mut args = vec![
        "report".to_string(),
        "--store".into(),
        p(&copy),
        "--policy".into(),
        p(&policy),
        "--format".into(),
        "csv".into(),
        "--out".into(),
        p(out),
    ];
    match study {
        Some(s) => args.extend(["--study".to_string(), s.to_string()]),
        None => args.push("--service".into()),
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args);
    assert!(o.status.success(), "truth report: {}", stderr(&o));
}

fn request(study: &str, seed: u64, n: u64) -> String {
    format!(
        "study = \"{study}\"\nchannel = \"postal\"\ninvitations = {n}\nseed = {seed}\nas_of = \"2026-11-21\"\n\
         [quotas]\nby = [\"sex\"]\nproportional = true\n\
         [[arms]]\nname = \"A\"\ntemplate = \"letter-a\"\n[[arms]]\nname = \"B\"\ntemplate = \"letter-b\"\n"
    )
}

/// Invite `n` people of the fixture cohort for `study`; the references of
/// the invitations that are not QA seeds.
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

/// Record uptake feedback: `(reference, status)` on `date`.
fn uptake(d: &Path, store: &Path, study: &str, rows: &[(&str, &str)], date: &str) {
    let mut text = String::from("reference,status,date\n");
    for (r, s) in rows {
        text.push_str(&format!("{r},{s},{date}\n"));
    }
    let f = d.join(format!("uptake-{study}-{date}.csv"));
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

/// Publish a study release (or the service report with `study = None`) and
/// snapshot the truth at the same moment; None when the publisher refused
/// (too little new data to publish safely), which a reader never sees.
fn publish(d: &Path, store: &Path, study: Option<&str>, label: &str) -> Option<Publication> {
    let out = d.join(label);
    let mut args = vec![
        "report".to_string(),
        "--store".into(),
        p(store),
        "--out".into(),
        p(&out),
    ];
    match study {
        Some(s) => args.extend(["--study".to_string(), s.to_string()]),
        None => args.push("--service".into()),
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args);
    if !o.status.success() {
        assert!(stderr(&o).contains("too few"), "{label}: {}", stderr(&o));
        return None;
    }
    let t = d.join(format!("{label}.truth"));
    truth(d, store, study, &t);
    let series = match study {
        Some(s) => Series::Study(s.to_string()),
        None => Series::Service,
    };
    Some(Publication::new(label, series, &out, Some(&t)))
}

/// Run the attacker over `pubs`, print what it found, and fail on any
/// disclosure.
fn attack(name: &str, pubs: &[Publication], select: impl Fn(&attack::Target) -> bool) {
    let start = Instant::now();
    let a = Attack::build(NHS_HES, pubs);
    let broken = a.broken_by_truth();
    assert!(
        broken.is_empty(),
        "{name}: the truth breaks relations the attacker assumes:\n{}",
        broken.join("\n")
    );
    let targets = a.targets.iter().filter(|t| select(t)).count();
    assert!(targets > 0, "{name}: nothing to attack");
    let out = attack::run(&a, select);
    assert_eq!(out.found.len() + out.skipped, targets);
    assert!(
        out.found.iter().any(|f| f.target.truth.is_some()),
        "{name}: no interval checked against the truth"
    );
    eprintln!(
        "{name}: {} publication(s), {} variable(s), {} relation(s), {} target(s) ({} without a known truth) in {:.1} s\n{}",
        a.publications,
        a.variables(),
        a.constraints(),
        targets,
        out.unknown_truth,
        start.elapsed().as_secs_f64(),
        out.summary()
    );
    assert!(out.disclosures.is_empty(), "{name}: {}", out.summary());
}

/// A fresh directory; kept (and named on stderr) when ATTACK_KEEP is set,
/// to read what was published.
fn workdir() -> tempfile::TempDir {
    let mut dir = tempfile::tempdir().unwrap();
    if std::env::var_os("ATTACK_KEEP").is_some() {
        eprintln!("publications under {}", dir.path().display());
        dir.disable_cleanup(true);
    }
    dir
}

fn not_rounded(t: &attack::Target) -> bool {
    !matches!(t.kind, Kind::Rounded(_))
}

/// Run `trialink demo` at a size and seed; its publications (two
/// releases of the demo study, two weekly releases of the small study and
/// the service report) in date order, with the truth where it is known
/// (the store ends at the final releases, so week 1's uptake truth is
/// gone; the demo study's selection and returns tables did not change
/// after it).
fn demo(d: &Path, people: &str) -> Vec<Publication> {
    let out = d.join("demo");
    let o = run(&["demo", "--people", people, "--seed", "2026", "--out", &p(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let store = out.join("work/service/service.sqlite");
    let (tr, ts, tw) = (
        d.join("truth-report"),
        d.join("truth-service"),
        d.join("truth-week1"),
    );
    truth(d, &store, Some("demo-study"), &tr);
    truth(d, &store, None, &ts);
    std::fs::create_dir_all(&tw).unwrap();
    for f in [
        "selection_funnel.csv",
        "selection_strata.csv",
        "returns_by_reason.csv",
    ] {
        std::fs::copy(tr.join(f), tw.join(f)).unwrap();
    }
    // the small study's week 2 is its final state (week 1's truth is gone)
    let tsmall = d.join("truth-small");
    truth(d, &store, Some("demo-small"), &tsmall);
    let study = || Series::Study("demo-study".into());
    let small = || Series::Study("demo-small".into());
    vec![
        Publication::new("week1", study(), &out.join("week1"), Some(&tw)),
        Publication::new("report", study(), &out.join("report"), Some(&tr)),
        Publication::new("small-week1", small(), &out.join("small-week1"), None),
        Publication::new("small-week2", small(), &out.join("small-week2"), Some(&tsmall)),
        Publication::new("service", Series::Service, &out.join("service-report"), Some(&ts)),
    ]
}

/// (a) `trialink demo --people 2000 --seed 2026`: the funnel's hidden
/// exclusions against the service report's exclusions by reason.
#[test]
fn demo_funnel_against_the_service_report() {
    let dir = workdir();
    let pubs = demo(dir.path(), "2000");
    attack("demo 2000", &pubs, not_rounded);
}

/// (b) One study released every Monday and the service report every
/// Tuesday, for several weeks of uptake.
#[test]
fn weekly_study_and_next_day_service_report() {
    let dir = workdir();
    let d = dir.path();
    let store = d.join("s.sqlite");
    let refs = invite(d, &store, "weekly", 7, 400);
    let mut pubs = Vec::new();
    let mut next = 0usize;
    // per week: (expressed interest, randomised), a few a week
    let weeks = [(9, 4), (6, 3), (5, 2), (7, 3)];
    for (w, (interest, enrolled)) in weeks.iter().enumerate() {
        let mut rows = Vec::new();
        for _ in 0..*interest {
            rows.push((refs[next].as_str(), "expressed_interest"));
            next += 1;
        }
        for _ in 0..*enrolled {
            rows.push((refs[next].as_str(), "randomised"));
            next += 1;
        }
        let monday = format!("2026-12-{:02}", 7 + 7 * w);
        uptake(d, &store, "weekly", &rows, &monday);
        pubs.extend(publish(d, &store, Some("weekly"), &format!("week{}", w + 1)));
        // one more enrolment before the service report the next day
        let tuesday = format!("2026-12-{:02}", 8 + 7 * w);
        uptake(
            d,
            &store,
            "weekly",
            &[(refs[next].as_str(), "randomised")],
            &tuesday,
        );
        next += 1;
        pubs.extend(publish(d, &store, None, &format!("service{}", w + 1)));
    }
    assert!(pubs.len() >= 4, "too few publications: {}", pubs.len());
    attack("weekly + next-day service", &pubs, not_rounded);
}

/// (c) Two studies, a large and a small one, and the service report.
#[test]
fn two_studies_and_the_service_report() {
    let dir = workdir();
    let d = dir.path();
    let store = d.join("s.sqlite");
    let big = invite(d, &store, "big", 3, 500);
    let small = invite(d, &store, "small", 4, 80);
    let mut rows: Vec<(&str, &str)> = big[..40].iter().map(|r| (r.as_str(), "randomised")).collect();
    rows.extend(big[40..70].iter().map(|r| (r.as_str(), "expressed_interest")));
    uptake(d, &store, "big", &rows, "2026-12-01");
    // two enrolled in the small study: the service total rounds to the big
    // study's own published total
    let rows: Vec<(&str, &str)> = small[..2].iter().map(|r| (r.as_str(), "randomised")).collect();
    uptake(d, &store, "small", &rows, "2026-12-01");
    let mut pubs = Vec::new();
    pubs.extend(publish(d, &store, Some("big"), "big1"));
    pubs.extend(publish(d, &store, Some("small"), "small1"));
    pubs.extend(publish(d, &store, None, "service1"));
    assert_eq!(pubs.len(), 3);
    attack("two studies + service", &pubs, not_rounded);
}

/// (d) Rounded cells recovered from totals: every rounded cell of the demo
/// at a size where the SWAT 2×2 is rounded, not suppressed.
#[test]
fn rounded_cells_are_not_recovered_from_totals() {
    let dir = workdir();
    let pubs = demo(dir.path(), "20000");
    attack("demo 20000, rounded cells", &pubs, |t| {
        matches!(t.kind, Kind::Rounded(_))
    });
}
