//! Response-adjusted quotas end to end: a first study's uptake (women
//! enrol far more often than men) becomes the history a second study's
//! `[quotas.target]` allocates from; the selection summary shows the rates,
//! intervals and expected vs requested enrolments; the second study's
//! reports show recruitment over time, and the audit passes.

use crate::common;
use common::*;
use std::path::Path;

fn p(x: &Path) -> String {
    x.to_str().unwrap().to_string()
}

fn request(study: &str, as_of: &str, invitations: u32, target: &str) -> String {
    format!(
        "study = \"{study}\"\nchannel = \"postal\"\ninvitations = {invitations}\nseed = 5\nqa_seeds = 0\nas_of = \"{as_of}\"\n\
         [criteria]\nsex = [\"female\", \"male\"]\n\
         [quotas]\nby = [\"sex\"]\nproportional = true\n{target}\
         [[arms]]\nname = \"A\"\ntemplate = \"letter-a\"\n"
    )
}

fn invite(d: &Path, store: &Path, name: &str, req: &str, today: &str) {
    let key = master_key(d);
    if !store.exists() {
        create_store(store, &key);
    }
    std::fs::write(d.join(format!("{name}.toml")), req).unwrap();
    let o = run(&[
        "invite",
        "--store",
        &p(store),
        "--key",
        &p(&key),
        "--cohort",
        &p(&fixtures().join("synth/cohort.csv")),
        "--request",
        &p(&d.join(format!("{name}.toml"))),
        "--out",
        &p(&d.join(name)),
        "--today",
        today,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// References of a study's invitations to people of one sex.
fn refs(store: &Path, study: &str, sex: &str) -> Vec<String> {
    let st = store::Store::open(store).unwrap();
    let mut q = st
        .connection()
        .prepare("SELECT reference FROM invitations WHERE study = ?1 AND sex = ?2 ORDER BY reference")
        .unwrap();
    let rows = q.query_map([study, sex], |r| r.get::<_, String>(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

fn uptake(d: &Path, store: &Path, study: &str, rows: &[(&str, &str)], name: &str) {
    let mut text = String::from("reference,status,date\n");
    for (r, date) in rows {
        text.push_str(&format!("{r},randomised,{date}\n"));
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

#[test]
fn history_drives_the_allocation_and_recruitment_is_reported_by_week() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s.sqlite");
    invite(
        d,
        &store,
        "first",
        &request("first", "2026-06-01", 1000, ""),
        "2026-06-01",
    );
    let (women, men) = (refs(&store, "first", "female"), refs(&store, "first", "male"));
    assert!(women.len() > 300 && men.len() > 300);
    // 30% of women and 5% of men enrol
    let mut rows: Vec<(&str, &str)> = Vec::new();
    rows.extend(
        women
            .iter()
            .take(women.len() * 3 / 10)
            .map(|r| (r.as_str(), "2026-06-10")),
    );
    rows.extend(
        men.iter()
            .take(men.len() / 20)
            .map(|r| (r.as_str(), "2026-06-20")),
    );
    uptake(d, &store, "first", &rows, "first-uptake.csv");

    let target = "[quotas.target]\noutcome = \"enrolled\"\ntotal = 60\n";
    invite(
        d,
        &store,
        "second",
        &request("second", "2026-11-21", 1500, target),
        "2026-11-21",
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("second/selection-summary.json")).unwrap())
            .unwrap();
    let plan = &summary["allocation"];
    assert_eq!(plan["outcome"], "enrolled");
    assert_eq!(plan["requested"], 60);
    assert_eq!(plan["history_invited_by"], "2026-09-26");
    let strata = plan["strata"].as_array().unwrap();
    let get = |sex: &str, field: &str| -> f64 {
        let s = strata
            .iter()
            .find(|s| s["stratum"] == format!("sex={sex}"))
            .unwrap();
        let v = &s[field];
        v.as_f64().or_else(|| v["rate"].as_f64()).unwrap()
    };
    // the history's rates, with intervals around them
    assert!(get("female", "rate") > 0.2 && get("male", "rate") < 0.1, "{plan}");
    for sex in ["female", "male"] {
        let s = strata
            .iter()
            .find(|s| s["stratum"] == format!("sex={sex}"))
            .unwrap();
        let (lo, r, hi) = (
            s["rate"]["low"].as_f64().unwrap(),
            s["rate"]["rate"].as_f64().unwrap(),
            s["rate"]["high"].as_f64().unwrap(),
        );
        assert!(lo < r && r < hi, "{s}");
        // each stratum's invitations are what its target needs at its rate
        let want = s["target"].as_f64().unwrap() / r;
        assert!((s["invitations"].as_f64().unwrap() - want).abs() <= 1.0, "{s}");
        assert!((s["expected"]["rate"].as_f64().unwrap() - s["target"].as_f64().unwrap()).abs() < 0.6);
    }
    // men need several times the invitations per enrolment
    let per = |sex: &str| get(sex, "invitations") / get(sex, "target");
    assert!(per("male") > 3.0 * per("female"));
    let invited: u64 = summary["invited"].as_u64().unwrap();
    assert_eq!(
        invited as f64,
        get("female", "invitations") + get("male", "invitations")
    );
    let md = std::fs::read_to_string(d.join("second/selection-summary.md")).unwrap();
    assert!(
        md.contains("## Response-adjusted allocation") && md.contains("expected"),
        "{md}"
    );

    // the second study's recruitment over time, and the audit over everything
    let second_women = refs(&store, "second", "female");
    let rows: Vec<(&str, &str)> = second_women
        .iter()
        .take(40)
        .map(|r| (r.as_str(), "2026-12-01"))
        .collect();
    uptake(d, &store, "second", &rows, "second-uptake.csv");
    let out = d.join("report");
    let o = run(&[
        "report",
        "--store",
        &p(&store),
        "--study",
        "second",
        "--out",
        &p(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(out.join("recruitment_by_week.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "week starting,invited,reminded,responded,enrolled");
    assert!(lines[1].starts_with("2026-11-21,"), "{csv}");
    assert!(lines[2].starts_with("2026-11-28,"), "{csv}");
    assert!(lines.last().unwrap().starts_with("Total,"), "{csv}");
    let html = std::fs::read_to_string(out.join("recruitment.html")).unwrap();
    assert!(
        html.contains("<svg class=\"chart line\"") && html.contains("enrolled target: 60"),
        "chart with the target"
    );
    let md = std::fs::read_to_string(out.join("recruitment.md")).unwrap();
    assert!(md.contains("Cumulative recruitment"));
    // the selection report shows the rates used (whole percent) and the targets
    let sel = std::fs::read_to_string(out.join("selection.md")).unwrap();
    assert!(
        sel.contains("## Response-adjusted allocation") && sel.contains("Requested enrolled: 60"),
        "{sel}"
    );
    let male_target = get("male", "target") as u64;
    assert!(sel.contains(&format!("| male | {male_target} | ")), "{sel}");
    assert!(std::fs::read_to_string(out.join("selection.html"))
        .unwrap()
        .contains("Response-adjusted allocation"));
    let o = run(&["audit", "--store", &p(&store)]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn an_unreadable_target_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s.sqlite");
    let key = master_key(d);
    let req = request(
        "bad",
        "2026-11-21",
        100,
        "[quotas.target]\noutcome = \"enrolled\"\n",
    );
    std::fs::write(d.join("bad.toml"), req).unwrap();
    let o = run(&[
        "invite",
        "--store",
        &p(&store),
        "--key",
        &p(&key),
        "--cohort",
        &p(&fixtures().join("synth/cohort.csv")),
        "--request",
        &p(&d.join("bad.toml")),
        "--out",
        &p(&d.join("bad")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("quotas.target.total"), "{}", stderr(&o));
}
