//! End-to-end: `trialink demo` on a small population, checking the promises
//! no single command can check: no leak, nothing lost, suppression holds,
//! the reminder round reminds only those it may, determinism, disclosure.

use crate::common;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const PEOPLE: &str = "20000";

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    walk(dir, &mut v);
    v.sort();
    v
}

fn read_csv(p: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new().flexible(true).from_path(p).unwrap();
    let h = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    (h, rows)
}

fn col(h: &[String], name: &str) -> usize {
    h.iter()
        .position(|x| x == name)
        .unwrap_or_else(|| panic!("no column {name} in {h:?}"))
}

/// Statisticians whose names are also surnames: the reports name their
/// methods (Wilson interval, Fisher's exact test, …), which is not a leak.
const METHOD_NAMES: &[&str] = &["Wilson", "Fisher", "Pearson", "Clopper", "Newcombe", "Haldane"];

/// The population's identifiers, by kind.
struct Identifiers {
    exact: BTreeSet<String>, // NHS numbers, DOBs, postcodes, mobiles, emails
    names: BTreeSet<String>, // family names of 6+ letters, matched as whole words
}

fn identifiers(synth: &Path) -> Identifiers {
    let mut exact = BTreeSet::new();
    let mut names = BTreeSet::new();
    for f in ["cohort.csv", "registry.csv", "enrolled.csv", "objections.csv"] {
        let (h, rows) = read_csv(&synth.join(f));
        for r in &rows {
            for (i, name) in h.iter().enumerate() {
                let v = r.get(i).map(|s| s.trim()).unwrap_or("");
                if v.is_empty() {
                    continue;
                }
                match name.as_str() {
                    "nhs_number" | "date_of_birth" | "postcode" | "mobile" | "email" if v.len() >= 6 => {
                        exact.insert(v.to_string());
                    }
                    "family_name"
                        if v.len() >= 6
                            && v.chars().all(char::is_alphabetic)
                            && !METHOD_NAMES.contains(&v) =>
                    {
                        names.insert(v.to_string());
                    }
                    _ => {}
                }
            }
        }
    }
    Identifiers { exact, names }
}

fn run_demo(out: &Path) -> std::process::Output {
    let o = run(&[
        "demo",
        "--out",
        out.to_str().unwrap(),
        "--people",
        PEOPLE,
        "--seed",
        "11",
    ]);
    assert!(o.status.success(), "demo failed:\n{}\n{}", stdout(&o), stderr(&o));
    o
}

/// Remove wall-clock fields (start/end times, durations) from a manifest.
fn strip_times(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|k, _| !matches!(k.as_str(), "started" | "finished" | "seconds" | "elapsed_seconds"));
            m.values_mut().for_each(strip_times);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_times),
        _ => {}
    }
}

/// Remove what depends on the study key (its fingerprint, the digests of
/// files made under it) from a manifest.
fn strip_study_key(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            let study_file = m
                .get("role")
                .and_then(|r| r.as_str())
                .is_some_and(|r| r == "enrolled" || r == "study");
            m.retain(|k, _| k != "key_fingerprint" && !(study_file && (k == "blake3" || k == "fingerprint")));
            m.values_mut().for_each(strip_study_key);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_study_key),
        _ => {}
    }
}

/// Manifests with their timestamps removed, for byte comparison.
fn normalised(p: &Path) -> Vec<u8> {
    let bytes = std::fs::read(p).unwrap();
    if p.extension().is_some_and(|e| e == "key") {
        // `# created:` records when the file was written
        let text = String::from_utf8(bytes).unwrap();
        return text
            .lines()
            .filter(|l| !l.starts_with("# created:"))
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes();
    }
    if p.to_string_lossy().ends_with(".manifest.json") {
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        strip_times(&mut v);
        return serde_json::to_vec(&v).unwrap();
    }
    bytes
}

/// Contact key of a batch or cohort row: name and address.
fn contact(r: &[String], h: &[String]) -> String {
    ["given_name", "family_name", "address_line_1", "postcode"]
        .map(|c| r[col(h, c)].as_str())
        .join("|")
}

/// The demo's reminder round: the reminder batch follows up batch 1 under
/// its references, and nobody who responded (as the service could know it:
/// by reference, or by an NHS number + DOB that are the invitee's), was
/// returned, objected (before or after the invitation), died, enrolled or
/// is otherwise excluded is reminded; the summary's counts add up.
fn reminder_round(work: &Path, forbidden: &BTreeSet<usize>) {
    let synth = work.join("synth");
    let (bh, brows) = read_csv(&work.join("mailer/batch-001/invitations.csv"));
    let (rh, rrows) = read_csv(&work.join("mailer/batch-001-reminder/invitations.csv"));
    assert_eq!(rh, bh, "the reminder letter has the invitation's columns");
    let by_ref: BTreeMap<&str, &Vec<String>> = brows.iter().map(|r| (r[0].as_str(), r)).collect();
    let ref_of_contact: BTreeMap<String, &str> =
        brows.iter().map(|r| (contact(r, &bh), r[0].as_str())).collect();
    // cohort rows by NHS number + DOB, and their batch-1 references
    let (ch, crows) = read_csv(&synth.join("cohort.csv"));
    let (nhs, dob) = (col(&ch, "nhs_number"), col(&ch, "date_of_birth"));
    let row_of_id: BTreeMap<(String, String), usize> = crows
        .iter()
        .enumerate()
        .map(|(i, r)| ((r[nhs].clone(), r[dob].clone()), i))
        .collect();
    let ref_of_row = |i: usize| ref_of_contact.get(&contact(&crows[i], &ch)).copied();
    let mut not_to_remind: BTreeMap<String, &'static str> = BTreeMap::new();
    // batch-1 references of the people a file names by NHS number + DOB
    let refs_by_id = |file: &str| -> Vec<String> {
        let (h, rows) = read_csv(&work.join(file));
        let (n, d) = (col(&h, "nhs_number"), col(&h, "date_of_birth"));
        rows.iter()
            .filter_map(|r| row_of_id.get(&(r[n].clone(), r[d].clone())))
            .filter_map(|&i| ref_of_row(i))
            .map(str::to_string)
            .collect()
    };
    let mut note = |refs: Vec<String>, why: &'static str| {
        let n = refs.len();
        for r in refs {
            not_to_remind.insert(r, why);
        }
        n
    };
    let mut responders = 0;
    for week in ["trial/feedback-week1.csv", "trial/feedback-week2.csv"] {
        responders += note(refs_by_id(week), "responded by NHS number + DOB");
        let (h, rows) = read_csv(&work.join(week));
        let by_reference = rows
            .iter()
            .map(|r| r[col(&h, "reference")].clone())
            .filter(|r| by_ref.contains_key(r.as_str()))
            .collect();
        responders += note(by_reference, "responded by reference");
    }
    let objected = note(
        refs_by_id("synth/objections-later.csv"),
        "objected after the invitation",
    );
    note(refs_by_id("synth/objections.csv"), "objected");
    note(refs_by_id("synth/enrolled.csv"), "enrolled");
    let (rth, returns) = read_csv(&work.join("mailer/returns.csv"));
    let returned: Vec<String> = returns
        .iter()
        .map(|r| r[col(&rth, "reference")].clone())
        .collect();
    assert!(
        returned.iter().all(|r| by_ref.contains_key(r.as_str())),
        "returns are batch 1's"
    );
    note(returned, "was returned");
    let (lh, later) = read_csv(&synth.join("cohort-later.csv"));
    assert_eq!(later.len(), crows.len(), "the later extract has every cohort row");
    let died: Vec<String> = (0..later.len())
        .filter(|&i| later[i][col(&lh, "deceased")] == "1" && crows[i][col(&ch, "deceased")] != "1")
        .filter_map(|i| ref_of_row(i).map(str::to_string))
        .collect();
    let died = note(died, "died after the invitation");
    assert!(
        responders > 100 && objected > 5 && died > 5 && !returns.is_empty(),
        "{responders} {objected} {died}"
    );
    let (qh, qrows) = read_csv(&synth.join("qa_seeds.csv"));
    let qa: BTreeSet<String> = qrows.iter().map(|r| contact(r, &qh)).collect();
    let mut reminded = 0;
    let mut seeds = 0;
    for r in &rrows {
        match by_ref.get(r[0].as_str()) {
            Some(inv) => {
                reminded += 1;
                if let Some(why) = not_to_remind.get(r[0].as_str()) {
                    panic!("an invitee who {why} was reminded");
                }
                assert_eq!(
                    contact(r, &rh),
                    contact(inv, &bh),
                    "a reminder goes to its invitation's person"
                );
            }
            None => {
                seeds += 1;
                assert!(
                    qa.contains(&contact(r, &rh)),
                    "a new reference in a reminder batch is a QA seed's"
                );
            }
        }
    }
    let by_contact_row: BTreeMap<String, usize> = crows
        .iter()
        .enumerate()
        .map(|(i, r)| (contact(r, &ch), i))
        .collect();
    for r in &rrows {
        if let Some(&i) = by_contact_row.get(&contact(r, &rh)) {
            assert!(
                !forbidden.contains(&i),
                "an excluded person (cohort row {}) was reminded",
                i + 1
            );
        }
    }
    let s: serde_json::Value = serde_json::from_slice(
        &std::fs::read(work.join("mailer/batch-001-reminder/selection-summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(s["kind"], "reminder");
    assert_eq!(
        s["invitations"].as_u64(),
        Some(brows.len() as u64 - 2),
        "batch 1 less its 2 QA seeds"
    );
    assert_eq!(s["reminded"].as_u64(), Some(reminded));
    assert_eq!(s["qa_seeds"].as_u64(), Some(seeds));
    let funnel = s["funnel"].as_array().unwrap();
    let reasons: u64 = funnel
        .iter()
        .filter(|f| f["stage"] != "reminded")
        .map(|f| f["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        reasons + reminded,
        s["invitations"].as_u64().unwrap(),
        "in = reminded + reasons"
    );
    for stage in ["responded", "returned", "deceased", "non_contact_list"] {
        let n = funnel
            .iter()
            .find(|f| f["stage"] == stage)
            .and_then(|f| f["count"].as_u64());
        assert!(n.is_some_and(|n| n > 0), "no invitee left out as {stage}: {n:?}");
    }
    assert!(reminded as f64 > 0.5 * brows.len() as f64, "{reminded} reminded");
}

#[test]
fn demo_end_to_end_promises() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("demo");
    let o = run_demo(&out);
    let text = stdout(&o);
    assert!(
        text.contains("report/index.html") || text.contains("report"),
        "{text}"
    );
    let work = out.join("work");
    let synth = work.join("synth");
    let ids = identifiers(&synth);
    assert!(ids.exact.len() > 20_000 && ids.names.len() > 50);

    // --- No leak: every file except the identifiable inputs and the batch.
    let identifiable_inputs: Vec<PathBuf> = vec![
        synth.clone(),
        work.join("trial/feedback.csv"),
        work.join("trial/feedback-week1.csv"),
        work.join("trial/feedback-week2.csv"),
        work.join("trial/feedback-week3.csv"),
        work.join("trial/small-feedback.csv"),
        work.join("trial/small-feedback-week1.csv"),
        work.join("trial/small-feedback-week2.csv"),
    ];
    let all = files(&out);
    let mut batch: Vec<&PathBuf> = all.iter().filter(|p| p.ends_with("invitations.csv")).collect();
    batch.sort();
    assert_eq!(
        batch.len(),
        3,
        "three batches: the main study's invitations, their reminders and the small study's invitations"
    );
    let first_batch = work.join("mailer/batch-001/invitations.csv");
    assert!(batch.contains(&&first_batch));
    // One Aho-Corasick automaton over every identifier; names must match as
    // whole words (a short name may occur inside base64 or a longer word).
    let needles: Vec<&String> = ids.exact.iter().chain(ids.names.iter()).collect();
    let n_exact = ids.exact.len();
    let ac = aho_corasick::AhoCorasick::new(&needles).unwrap();
    let mut scanned = 0;
    for f in &all {
        if identifiable_inputs.iter().any(|i| f.starts_with(i)) || batch.contains(&f) {
            continue;
        }
        let bytes = std::fs::read(f).unwrap();
        for m in ac.find_overlapping_iter(&bytes) {
            let id = m.pattern().as_usize();
            if id < n_exact {
                panic!(
                    "{} contains an identifier ({} chars)",
                    f.display(),
                    needles[id].len()
                );
            }
            let before = m.start().checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(m.end()).copied();
            let boundary = |c: Option<u8>| c.is_none_or(|c| !c.is_ascii_alphanumeric());
            assert!(
                !(boundary(before) && boundary(after)),
                "{} contains a family name",
                f.display()
            );
        }
        scanned += 1;
    }
    assert!(scanned > 20, "scanned {scanned} files");

    // The batch holds only its channel's columns (postal in the demo).
    let (h, rows) = read_csv(&first_batch);
    let mut expected = vec!["reference", "template", "given_name", "family_name"];
    expected.extend([
        "address_line_1",
        "address_line_2",
        "address_line_3",
        "address_line_4",
        "address_line_5",
        "postcode",
    ]);
    assert_eq!(h, expected);
    assert!(rows.len() > 100);

    // --- Nothing lost: every manifest balances.
    let mut manifests = 0;
    for f in all
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".manifest.json"))
    {
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let r = &m["rows"];
        let (i, o, j) = (
            r["in"].as_u64().unwrap(),
            r["out"].as_u64().unwrap(),
            r["rejected"].as_u64().unwrap(),
        );
        assert_eq!(i, o + j, "{}: in != out + rejected", f.display());
        let by: u64 = r["rejected_by_reason"]
            .as_object()
            .map(|m| m.values().map(|v| v.as_u64().unwrap()).sum())
            .unwrap_or(0);
        assert_eq!(by, j, "{}: reasons do not add up", f.display());
        manifests += 1;
    }
    assert!(manifests >= 8, "{manifests} manifests");

    // --- Suppression holds: nobody excluded is in the batch. The batch has no
    // NHS numbers, so match batch rows to cohort people by name + address.
    let (ch, crows) = read_csv(&synth.join("cohort.csv"));
    let key = |r: &Vec<String>, h: &[String]| {
        format!(
            "{}|{}|{}|{}",
            r[col(h, "given_name")],
            r[col(h, "family_name")],
            r[col(h, "address_line_1")],
            r[col(h, "postcode")]
        )
    };
    let mut by_contact: BTreeMap<String, usize> = BTreeMap::new();
    for (i, r) in crows.iter().enumerate() {
        by_contact.insert(key(r, &ch), i);
    }
    // Forbidden cohort rows: flagged people, and people on the objection or
    // enrolled lists whose list row is error-free (ground truth says which).
    let mut forbidden: BTreeSet<usize> = BTreeSet::new();
    for (i, r) in crows.iter().enumerate() {
        for flag in [
            "deceased",
            "armed_forces",
            "prison",
            "s_flag",
            "national_data_opt_out",
        ] {
            let v = &r[col(&ch, flag)];
            if v == "1" || v == "true" {
                forbidden.insert(i);
            }
        }
    }
    let (th, trows) = read_csv(&synth.join("truth.csv"));
    let mut listed = 0;
    for r in &trows {
        let file = &r[col(&th, "file")];
        let cohort_row = &r[col(&th, "cohort_row")];
        if (file == "objections" || file == "enrolled")
            && !cohort_row.is_empty()
            && r[col(&th, "errors")].is_empty()
        {
            forbidden.insert(cohort_row.parse::<usize>().unwrap() - 1);
            listed += 1;
        }
    }
    assert!(listed > 50, "{listed} listed people");
    let mut matched = 0;
    for r in &rows {
        if let Some(&i) = by_contact.get(&key(r, &h)) {
            matched += 1;
            assert!(
                !forbidden.contains(&i),
                "an excluded person (cohort row {}) was invited",
                i + 1
            );
        }
    }
    assert!(
        matched as f64 > 0.9 * rows.len() as f64,
        "matched {matched} of {}",
        rows.len()
    );
    reminder_round(&work, &forbidden);

    // --- The reports: selection, uptake, SWAT and returns, in three formats.
    for name in ["selection", "uptake", "swat", "returns"] {
        for ext in ["md", "html"] {
            assert!(
                out.join("report").join(format!("{name}.{ext}")).exists(),
                "report/{name}.{ext} missing"
            );
        }
    }
    for csv in [
        "selection_funnel.csv",
        "selection_strata.csv",
        "uptake_by_arm.csv",
        "returns_by_reason.csv",
    ] {
        assert!(out.join("report").join(csv).exists(), "report/{csv} missing");
    }
    for f in [
        "service.html",
        "service.md",
        "service_studies.csv",
        "service_frequency.csv",
    ] {
        assert!(
            out.join("service-report").join(f).exists(),
            "service-report/{f} missing"
        );
    }

    // --- Disclosure: the demo audited everything the store published;
    // audit the published files again here, all together (the service
    // report quotes the studies' releases, so it is audited with them).
    {
        let mut args = vec!["audit".to_string()];
        for rep in ["week1", "report", "small-week1", "small-week2", "service-report"] {
            args.push("--report".into());
            args.push(out.join(rep).to_str().unwrap().to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        let rep = "all published reports";
        assert_eq!(
            o.status.code(),
            Some(0),
            "audit of {rep}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(stdout(&o).contains("5 release(s) together"), "{}", stdout(&o));
    }

    // --- Determinism: a second run into the same directory writes the same bytes.
    let before: BTreeMap<PathBuf, Vec<u8>> = all
        .iter()
        .filter(|p| !p.to_string_lossy().ends_with(".sqlite") && !p.to_string_lossy().contains(".sqlite-"))
        .map(|p| (p.clone(), normalised(p)))
        .collect();
    run_demo(&out);
    // The study key includes a secret drawn from the OS generator when the
    // study is registered (so that a purge can destroy it): the trial's key
    // and the token files made under it must differ between runs; every
    // other file must not.
    let under_study_key = |p: &Path| {
        let s = p.to_string_lossy();
        p.ends_with("keys/trial.key")
            || p.ends_with("keys/small-trial.key")
            || (s.contains("/work/trial/") && s.contains(".tokens.csv"))
    };
    let mut differing_study_files = 0;
    for (p, bytes) in &before {
        if p.ends_with("TRANSCRIPT.txt") {
            continue; // holds the elapsed time
        }
        assert!(p.exists(), "{} missing on the second run", p.display());
        if under_study_key(p) {
            if normalised(p) != *bytes {
                differing_study_files += 1;
            }
            continue;
        }
        if p.to_string_lossy().ends_with("invitations.csv.manifest.json") {
            // The batch manifest names the study key's fingerprint and the
            // digest of the enrolled token file: all else must be the same.
            let strip = |b: &[u8]| {
                let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
                strip_study_key(&mut v);
                v
            };
            assert_eq!(
                strip(&normalised(p)),
                strip(bytes),
                "{} differs between runs",
                p.display()
            );
            continue;
        }
        assert!(normalised(p) == *bytes, "{} differs between runs", p.display());
    }
    assert!(
        differing_study_files >= 3,
        "the trial key and its token files should change with the study secret ({differing_study_files} did)"
    );
}
