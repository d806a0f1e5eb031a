//! `synth uptake`: the feedback file agrees with its ground truth, and the
//! simulated response rates and routes match the settings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use synth::uptake::{simulate, truth_path, UptakeConfig};
use synth::{generate, nhs, Config, Date};

const POSTAL: [&str; 12] = [
    "reference",
    "template",
    "given_name",
    "family_name",
    "address_line_1",
    "address_line_2",
    "address_line_3",
    "address_line_4",
    "address_line_5",
    "postcode",
    "mobile",
    "email",
];

struct Fixture {
    _dir: tempfile::TempDir,
    cohort: std::path::PathBuf,
    qa: std::path::PathBuf,
    batch: std::path::PathBuf,
    /// reference → (template, qa, nhs, dob)
    invites: BTreeMap<String, (String, bool, String, String)>,
}

/// A population and a batch as `invite` would write it: every other cohort
/// member with an address, two arms alternating, two QA seeds.
fn fixture(people: u64, channel: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    generate(
        &Config {
            people,
            seed: 77,
            ..Config::default()
        },
        dir.path(),
        false,
    )
    .unwrap();
    let cohort = dir.path().join("cohort.csv");
    let qa = dir.path().join("qa_seeds.csv");
    let cols: Vec<&str> = match channel {
        "postal" => POSTAL[..10].to_vec(),
        "sms" => vec!["reference", "template", "given_name", "family_name", "mobile"],
        _ => vec!["reference", "template", "given_name", "family_name", "email"],
    };
    let contact = &cols[2..];
    let batch = dir.path().join("batch.csv");
    let mut w = csv::Writer::from_path(&batch).unwrap();
    w.write_record(&cols).unwrap();
    let mut invites = BTreeMap::new();
    let mut r = csv::Reader::from_path(&cohort).unwrap();
    let h = r.headers().unwrap().clone();
    let idx = |name: &str| h.iter().position(|c| c == name).unwrap();
    let mut k = 0usize;
    for (i, rec) in r.records().enumerate() {
        let rec = rec.unwrap();
        if i % 2 == 1
            || rec[idx(contact[contact.len() - 1])].is_empty()
            || rec[idx("address_line_1")].is_empty()
        {
            continue;
        }
        let reference = format!("00000000-0000-4000-8000-{k:012}");
        let template = if k.is_multiple_of(2) {
            "letter_a"
        } else {
            "letter_b"
        };
        let mut row = vec![reference.clone(), template.to_string()];
        row.extend(contact.iter().map(|c| rec[idx(c)].to_string()));
        w.write_record(&row).unwrap();
        invites.insert(
            reference,
            (
                template.to_string(),
                false,
                rec[idx("nhs_number")].to_string(),
                rec[idx("date_of_birth")].to_string(),
            ),
        );
        k += 1;
    }
    let mut q = csv::Reader::from_path(&qa).unwrap();
    let qh = q.headers().unwrap().clone();
    for rec in q.records().take(2) {
        let rec = rec.unwrap();
        let reference = format!("00000000-0000-4000-9000-{k:012}");
        let mut row = vec![reference.clone(), "letter_a".to_string()];
        row.extend(
            contact
                .iter()
                .map(|c| rec[qh.iter().position(|x| x == *c).unwrap()].to_string()),
        );
        w.write_record(&row).unwrap();
        invites.insert(reference, ("letter_a".into(), true, String::new(), String::new()));
        k += 1;
    }
    w.flush().unwrap();
    Fixture {
        _dir: dir,
        cohort,
        qa,
        batch,
        invites,
    }
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn assert_rate(name: &str, count: f64, n: f64, p: f64) {
    let obs = count / n;
    let z = (obs - p) / (p * (1.0 - p) / n).sqrt();
    println!("{name:<28} expected {p:.4} measured {obs:.4} (n = {n}, z = {z:+.2})");
    assert!(z.abs() < 4.0, "{name}: {obs} vs {p}");
}

/// Classify each feedback row by what it can match, independently of the simulator.
fn classify(f: &Fixture, out: &Path) -> BTreeMap<&'static str, u64> {
    let by_id: BTreeMap<(String, String), &String> = f
        .invites
        .iter()
        .filter(|(_, v)| !v.1)
        .map(|(r, v)| ((v.2.clone(), v.3.clone()), r))
        .collect();
    let nhs_in_batch: BTreeSet<&str> = f.invites.values().map(|v| v.2.as_str()).collect();
    let mut counts = BTreeMap::new();
    let mut r = csv::Reader::from_path(out).unwrap();
    assert_eq!(
        r.headers().unwrap(),
        vec!["reference", "nhs_number", "date_of_birth", "status", "date"]
    );
    let mut last_date = None;
    for rec in r.records() {
        let rec = rec.unwrap();
        let (reference, n, dob, status, date) = (&rec[0], &rec[1], &rec[2], &rec[3], &rec[4]);
        assert!([
            "expressed_interest",
            "consented",
            "randomised",
            "ineligible",
            "withdrawn"
        ]
        .contains(&status));
        let date = Date::parse_iso(date).expect("real date");
        assert!(last_date.is_none_or(|d| d <= date), "rows sorted by date");
        last_date = Some(date);
        assert!(
            reference.is_empty() != n.is_empty(),
            "a row has a reference or an NHS number, not both"
        );
        assert_eq!(n.is_empty(), dob.is_empty());
        let route = if !reference.is_empty() {
            match f.invites.get(reference) {
                Some(v) if v.1 => "qa_seed",
                Some(_) => "reference",
                None => "no_match_reference",
            }
        } else {
            assert!(Date::parse_iso(dob).is_some());
            assert!(n.len() == 10 && n.starts_with("999"));
            if !nhs::is_valid(n) {
                "nhs_dob_invalid_nhs"
            } else if by_id.contains_key(&(n.to_string(), dob.to_string())) {
                "nhs_dob"
            } else if nhs_in_batch.contains(n) {
                "nhs_dob_wrong_dob"
            } else {
                "no_match_nhs_dob"
            }
        };
        *counts.entry(route).or_default() += 1;
    }
    counts
}

#[test]
fn feedback_agrees_with_its_truth_and_the_settings() {
    let f = fixture(40_000, "postal");
    let out = f._dir.path().join("uptake.csv");
    let cfg = UptakeConfig {
        seed: 5,
        rate: 0.10,
        ..UptakeConfig::default()
    };
    let t = simulate(&f.batch, Some(&f.cohort), Some(&f.qa), &cfg, &out, false).unwrap();
    let json = read_json(&truth_path(&out));
    assert_eq!(json, t.json);

    let counts = classify(&f, &out);
    for (route, n) in &t.rows_by_route {
        assert_eq!(
            counts.get(route).copied().unwrap_or(0),
            *n,
            "rows by route {route}"
        );
    }
    assert_eq!(json["rows"].as_u64().unwrap(), counts.values().sum::<u64>());
    let exp = &json["expected_uptake"];
    assert_eq!(exp["matched_by_reference"], counts["reference"]);
    assert_eq!(exp["matched_by_token"], counts["nhs_dob"]);
    assert_eq!(
        exp["qa_seed"].as_u64().unwrap(),
        counts.get("qa_seed").copied().unwrap_or(0)
    );
    assert_eq!(json["batch"]["qa_seeds"], 2);
    assert_eq!(
        json["batch"]["invitations"].as_u64().unwrap(),
        f.invites.len() as u64 - 2
    );

    // Arm response rates, and a SWAT effect of +30% relative.
    let arms = json["by_arm"].as_object().unwrap();
    assert_eq!(arms.keys().collect::<Vec<_>>(), ["letter_a", "letter_b"]);
    for (arm, p) in [("letter_a", 0.10), ("letter_b", 0.13)] {
        let a = &arms[arm];
        assert_eq!(a["response_rate"].as_f64().unwrap(), p);
        assert_rate(
            arm,
            a["responders"].as_f64().unwrap(),
            a["invited"].as_f64().unwrap(),
            p,
        );
        let fin: u64 = a["final_status"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(fin, a["responders"].as_u64().unwrap());
        assert_eq!(a["reached"]["expressed_interest"], a["responders"]);
    }
    // Routes: 60% by reference; 2% of the rest carry an error.
    let people = &json["people_by_route"];
    let responders: f64 = arms.values().map(|a| a["responders"].as_f64().unwrap()).sum();
    let by_nhs = ["nhs_dob", "nhs_dob_invalid_nhs", "nhs_dob_wrong_dob"]
        .iter()
        .map(|k| people[k].as_f64().unwrap())
        .sum::<f64>();
    assert_rate(
        "by_reference",
        people["reference"].as_f64().unwrap(),
        responders,
        0.6,
    );
    assert_rate(
        "error_rate",
        people["nhs_dob_invalid_nhs"].as_f64().unwrap() + people["nhs_dob_wrong_dob"].as_f64().unwrap(),
        by_nhs,
        0.02,
    );
    let extra = people["no_match_reference"].as_u64().unwrap() + people["no_match_nhs_dob"].as_u64().unwrap();
    assert_eq!(extra, (responders * 0.02).round() as u64);

    // Same seed, same bytes; refuses to overwrite.
    let out2 = f._dir.path().join("uptake2.csv");
    simulate(&f.batch, Some(&f.cohort), Some(&f.qa), &cfg, &out2, false).unwrap();
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&out2).unwrap());
    assert!(std::fs::read(truth_path(&out)).unwrap() == std::fs::read(truth_path(&out2)).unwrap());
    assert!(matches!(
        simulate(&f.batch, Some(&f.cohort), Some(&f.qa), &cfg, &out, false),
        Err(synth::SynthError::Exists { .. })
    ));
}

#[test]
fn without_a_cohort_everything_comes_back_by_reference() {
    let f = fixture(4000, "postal");
    let out = f._dir.path().join("u.csv");
    let cfg = UptakeConfig {
        seed: 9,
        rate: 0.3,
        unmatched: 0.0,
        ..UptakeConfig::default()
    };
    let t = simulate(&f.batch, None, None, &cfg, &out, false).unwrap();
    assert!(t.rows > 0);
    assert_eq!(t.rows_by_route["reference"], t.rows);
    // Without the QA file the seeds count as ordinary invitations.
    assert_eq!(t.json["batch"]["qa_seeds"], 0);
}

#[test]
fn sms_and_email_batches_are_matched_on_their_own_contact_fields() {
    for channel in ["sms", "email"] {
        let f = fixture(6000, channel);
        let out = f._dir.path().join("u.csv");
        let cfg = UptakeConfig {
            seed: 3,
            rate: 0.5,
            by_reference: 0.0,
            error_rate: 0.0,
            unmatched: 0.0,
            ..UptakeConfig::default()
        };
        let t = simulate(&f.batch, Some(&f.cohort), Some(&f.qa), &cfg, &out, false).unwrap();
        assert_eq!(t.json["batch"]["channel"], channel);
        let counts = classify(&f, &out);
        for (route, n) in &t.rows_by_route {
            assert_eq!(counts.get(route).copied().unwrap_or(0), *n, "{channel} {route}");
        }
        // Nearly everyone is identified by name + contact; the rest go by reference.
        let identified = t.json["batch"]["identified_in_cohort"].as_f64().unwrap();
        let invited = t.json["batch"]["invitations"].as_f64().unwrap();
        assert!(identified / invited > 0.97, "{channel}: {identified}/{invited}");
        assert!(t.rows_by_route["nhs_dob"] > t.rows_by_route["reference"]);
    }
}

#[test]
fn bad_batches_get_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let b = d.path().join("b.csv");
    std::fs::write(&b, "reference,given_name\nx,y\n").unwrap();
    let err = simulate(
        &b,
        None,
        None,
        &UptakeConfig::default(),
        &d.path().join("o.csv"),
        false,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("b.csv") && msg.contains("address_line_1"), "{msg}");
    std::fs::write(
        &b,
        "reference,template,given_name,family_name,email\nr1,a,Ann,Smith,ann@example.org\nr2,a\n",
    )
    .unwrap();
    let err = simulate(
        &b,
        None,
        None,
        &UptakeConfig::default(),
        &d.path().join("o.csv"),
        false,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("line 3") && !msg.contains("Ann"), "{msg}");
    assert!(!d.path().join("o.csv").exists());
}

#[test]
fn response_model_varies_response_by_demographic_and_records_the_truth() {
    let f = fixture(40_000, "postal");
    let out = f._dir.path().join("m.csv");
    let registry = f._dir.path().join("registry.csv");
    let cfg = UptakeConfig {
        seed: 4,
        rate: 0.15,
        model: Some(synth::response::ResponseModel::default()),
        registry: Some(registry),
        ..UptakeConfig::default()
    };
    // the model needs the cohort's demographics
    let e = simulate(&f.batch, None, None, &cfg, &out, false).unwrap_err();
    assert!(e.to_string().contains("cohort"), "{e}");
    let t = simulate(&f.batch, Some(&f.cohort), Some(&f.qa), &cfg, &out, false).unwrap();
    assert_eq!(read_json(&truth_path(&out)), t.json);
    let by = &t.json["by_demographic"];
    let rate = |var: &str, label: &str| {
        let c = &by[var][label];
        c["responders"].as_f64().unwrap() / c["invited"].as_f64().unwrap()
    };
    assert!(rate("registry", "volunteer") > 1.8 * rate("registry", "not a volunteer"));
    assert!(rate("sex", "male") < rate("sex", "female"));
    assert!(rate("ethnic_group", "White") > rate("ethnic_group", "Black"));
    // every non-seed invitee with a profile is counted once per variable
    let invited: u64 = by["sex"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["invited"].as_u64().unwrap())
        .sum();
    assert_eq!(invited, t.json["batch"]["identified_in_cohort"].as_u64().unwrap());
    assert_eq!(t.json["response_model"]["registry"], 3.0);
    // without a model the truth has no demographic section
    let plain = UptakeConfig {
        seed: 4,
        rate: 0.15,
        ..UptakeConfig::default()
    };
    let t = simulate(
        &f.batch,
        Some(&f.cohort),
        None,
        &plain,
        &f._dir.path().join("p.csv"),
        false,
    )
    .unwrap();
    assert!(t.json.get("by_demographic").is_none());
}
