//! `trialink synth` and `trialink synth uptake` end to end, in fresh temp dirs.

use crate::common;

use common::{run, stderr};
use std::path::Path;

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn synth_writes_a_population_reproducibly_and_refuses_to_overwrite() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    let b = t.path().join("b");
    let (a_s, b_s) = (a.to_str().unwrap(), b.to_str().unwrap());
    let o = run(&["synth", "--people", "800", "--seed", "3", "--out", a_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("800 people"), "{}", stderr(&o));
    assert_eq!(
        files(&a),
        [
            "cohort.csv",
            "enrolled.csv",
            "objections.csv",
            "qa_seeds.csv",
            "registry.csv",
            "synth.json",
            "truth.csv",
            "truth_registry.csv"
        ]
    );
    let o = run(&["synth", "--people", "800", "--seed", "3", "--out", b_s]);
    assert!(o.status.success());
    for f in files(&a) {
        assert!(
            std::fs::read(a.join(&f)).unwrap() == std::fs::read(b.join(&f)).unwrap(),
            "{f}"
        );
    }
    // The cohort has the column names other commands detect by default.
    let cohort = std::fs::read_to_string(a.join("cohort.csv")).unwrap();
    let header = cohort.lines().next().unwrap();
    assert!(header
        .starts_with("nhs_number,given_name,family_name,date_of_birth,sex,ethnic_category,address_line_1"));
    assert_eq!(cohort.lines().count(), 801);

    // Second run into the same directory: refused, nothing changed.
    let before = std::fs::read(a.join("registry.csv")).unwrap();
    let o = run(&["synth", "--people", "800", "--seed", "4", "--out", a_s]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(a.join("registry.csv")).unwrap(), before);
    let o = run(&["synth", "--people", "800", "--seed", "4", "--out", a_s, "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(std::fs::read(a.join("registry.csv")).unwrap(), before);
}

#[test]
fn error_rate_options_reach_the_generator() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("p");
    let o = run(&[
        "synth",
        "--people",
        "2000",
        "--out",
        d.to_str().unwrap(),
        "--registry-fraction",
        "0.5",
        "--error-scale",
        "0",
        "--nhs-missing-rate",
        "0.5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("synth.json")).unwrap()).unwrap();
    assert_eq!(manifest["seed"], 42);
    assert_eq!(manifest["registry_error_rates"]["nhs_missing"], 0.5);
    assert_eq!(manifest["registry_error_rates"]["given_typo"], 0.0);
    // With every other error off, the only errors in truth are missing NHS numbers.
    let truth = std::fs::read_to_string(d.join("truth.csv")).unwrap();
    let mut missing = 0;
    let mut linked = 0;
    for line in truth.lines().skip(1).filter(|l| l.starts_with("registry,")) {
        let f: Vec<&str> = line.split(',').collect();
        if f[2].is_empty() {
            continue;
        }
        linked += 1;
        match f[3] {
            "" => {}
            "nhs_number:missing" => missing += 1,
            other => panic!("unexpected error {other}"),
        }
    }
    let share = f64::from(missing) / f64::from(linked);
    assert!((0.44..0.56).contains(&share), "{share}");
}

#[test]
fn bad_options_are_refused_with_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("x");
    let out = out.to_str().unwrap();
    for args in [
        vec!["synth", "--seed", "1", "--out", out],
        vec!["synth", "--people", "10"],
        vec!["synth", "--people", "10", "--out", out, "--typo-rate", "1.5"],
        vec!["synth", "--people", "10", "--out", out, "--as-of", "2026-02-30"],
        vec!["synth", "--people", "0", "--out", out],
        vec![
            "synth",
            "--people",
            "10",
            "--out",
            out,
            "--nhs-missing-rate",
            "0.9",
            "--nhs-mistype-rate",
            "0.9",
        ],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    assert!(!t.path().join("x").join("cohort.csv").exists());
}

#[test]
fn uptake_simulates_feedback_for_a_batch() {
    let t = tempfile::tempdir().unwrap();
    let pop = t.path().join("pop");
    let o = run(&[
        "synth",
        "--people",
        "3000",
        "--seed",
        "8",
        "--out",
        pop.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // An email batch drawn from the cohort, two arms, plus one QA seed.
    let cohort = std::fs::read_to_string(pop.join("cohort.csv")).unwrap();
    let mut batch = String::from("reference,template,given_name,family_name,email\n");
    let mut n = 0u64;
    for line in cohort.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[13].is_empty() {
            continue;
        }
        batch.push_str(&format!(
            "00000000-0000-4000-8000-{n:012},{},{},{},{}\n",
            if n.is_multiple_of(2) { "email_a" } else { "email_b" },
            f[1],
            f[2],
            f[13]
        ));
        n += 1;
    }
    let qa = std::fs::read_to_string(pop.join("qa_seeds.csv")).unwrap();
    let q: Vec<&str> = qa.lines().nth(1).unwrap().split(',').collect();
    batch.push_str(&format!(
        "00000000-0000-4000-9000-000000000000,email_a,{},{},{}\n",
        q[2], q[3], q[11]
    ));
    let batch_path = t.path().join("batch.csv");
    std::fs::write(&batch_path, batch).unwrap();
    let out = t.path().join("uptake.csv");
    let (cohort_path, qa_path) = (pop.join("cohort.csv"), pop.join("qa_seeds.csv"));
    let args = [
        "synth",
        "uptake",
        "--batch",
        batch_path.to_str().unwrap(),
        "--cohort",
        cohort_path.to_str().unwrap(),
        "--qa-seeds",
        qa_path.to_str().unwrap(),
        "--rate",
        "0.2",
        "--seed",
        "7",
        "--qa-response",
        "1",
        "--out",
        out.to_str().unwrap(),
    ];
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.path().join("uptake.csv.truth.json")).unwrap())
            .unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "reference,nhs_number,date_of_birth,status,date"
    );
    let rows = text.lines().count() as u64 - 1;
    assert_eq!(truth["rows"].as_u64().unwrap(), rows);
    assert_eq!(truth["batch"]["invitations"].as_u64().unwrap(), n);
    assert_eq!(truth["batch"]["qa_seeds"], 1);
    assert_eq!(truth["rows_by_route"]["qa_seed"], 1);
    assert!(text.contains("00000000-0000-4000-9000-000000000000,,,expressed_interest,"));
    assert_eq!(
        truth["by_arm"]["email_b"]["response_rate"].as_f64().unwrap(),
        0.2 * 1.3
    );
    let by_ref = text.lines().skip(1).filter(|l| !l.starts_with(',')).count() as u64;
    let r = &truth["rows_by_route"];
    assert_eq!(
        by_ref,
        r["reference"].as_u64().unwrap()
            + r["no_match_reference"].as_u64().unwrap()
            + r["qa_seed"].as_u64().unwrap()
    );
    // Again with the same seed: refused without --force, identical with it.
    let o = run(&args);
    assert_eq!(o.status.code(), Some(2));
    let mut forced = args.to_vec();
    forced.push("--force");
    let o = run(&forced);
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);

    // The demographic response model: its truth by demographic, its errors exit 2.
    let registry = pop.join("registry.csv");
    let mut model = forced.clone();
    model.extend([
        "--response-model",
        "default",
        "--registry",
        registry.to_str().unwrap(),
    ]);
    let o = run(&model);
    assert!(o.status.success(), "{}", stderr(&o));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.path().join("uptake.csv.truth.json")).unwrap())
            .unwrap();
    assert_eq!(truth["response_model"]["registry"], 3.0);
    assert!(
        truth["by_demographic"]["ethnic_group"]["White"]["invited"]
            .as_u64()
            .unwrap()
            > 0
    );
    let bad = t.path().join("model.json");
    std::fs::write(&bad, r#"{"registry": -1}"#).unwrap();
    let mut refused = forced.clone();
    refused.extend(["--response-model", bad.to_str().unwrap()]);
    let o = run(&refused);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`registry`") && stderr(&o).contains("model.json"),
        "{}",
        stderr(&o)
    );
}
