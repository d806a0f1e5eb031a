//! `trialink invite` integration tests over fixtures/synth, including the
//! kill -9 atomicity test.

use crate::common;
use common::*;
use std::path::{Path, PathBuf};

const REQ: &str = r#"
study = "galleri-2"
channel = "sms"
invitations = 30
seed = 11
as_of = "2026-11-21"
[criteria]
min_age = 50
max_age = 77
[quotas]
by = ["sex"]
proportional = true
[[arms]]
name = "A"
template = "sms-a"
[[arms]]
name = "B"
template = "sms-b"
weight = 2
"#;

fn setup(d: &Path, req: &str) -> (PathBuf, PathBuf) {
    let key = master_key(d);
    let rp = d.join("req.toml");
    std::fs::write(&rp, req).unwrap();
    (key, rp)
}

fn invite(d: &Path, key: &Path, req: &Path, out: &str, store: &str) -> std::process::Command {
    if !d.join(store).exists() {
        create_store(&d.join(store), key);
    }
    let mut c = bin();
    c.args([
        "invite",
        "--store",
        d.join(store).to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--cohort",
        fixtures().join("synth/cohort.csv").to_str().unwrap(),
        "--request",
        req.to_str().unwrap(),
        "--out",
        d.join(out).to_str().unwrap(),
        "--qa-seeds",
        fixtures().join("synth/qa_seeds.csv").to_str().unwrap(),
    ]);
    c
}

fn cohort_values() -> Vec<String> {
    let text = std::fs::read_to_string(fixtures().join("synth/cohort.csv")).unwrap();
    text.lines()
        .skip(1)
        .flat_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            [f[0].to_string(), f[3].to_string()]
        })
        .collect()
}

#[test]
fn sms_batch_has_exactly_the_channel_columns() {
    let d = tempfile::tempdir().unwrap();
    let (key, req) = setup(d.path(), REQ);
    let o = invite(d.path(), &key, &req, "out", "s.sqlite").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let batch = std::fs::read_to_string(d.path().join("out/invitations.csv")).unwrap();
    let mut lines = batch.lines();
    assert_eq!(
        lines.next().unwrap(),
        "reference,template,given_name,family_name,mobile"
    );
    assert_eq!(lines.count(), 32);
    for v in cohort_values() {
        assert!(!batch.contains(&format!(",{v}")), "identifier in batch");
    }
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("out/invitations.csv.manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["command"], "invite");
    assert_eq!(m["extra"]["invitations"], 30);
    assert_eq!(m["extra"]["qa_seeds"], 2);
    assert!(m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["role"] == "batch"));
    let sum: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("out/selection-summary.json")).unwrap())
            .unwrap();
    let arms = &sum["arms"];
    assert_eq!(arms["A"].as_u64().unwrap() + arms["B"].as_u64().unwrap(), 30);
    assert!(
        arms["B"].as_u64().unwrap() >= 19 && arms["B"].as_u64().unwrap() <= 21,
        "{arms}"
    );
    // The same out dir again is refused; the batch is never overwritten.
    let o = invite(d.path(), &key, &req, "out", "s.sqlite").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn bad_request_errors_name_the_key_and_line() {
    let d = tempfile::tempdir().unwrap();
    let (key, req) = setup(
        d.path(),
        &REQ.replace("min_age = 50", "min_age = 50\nmin_agee = 3"),
    );
    let o = invite(d.path(), &key, &req, "out", "s.sqlite").output().unwrap();
    assert_error(&o, "min_agee", &[]);
    assert!(stderr(&o).contains("line 9"), "{}", stderr(&o));
    let (key, req) = setup(
        d.path(),
        &REQ.replace(
            "template = \"sms-a\"",
            "template = \"sms-a\"\nfields = [\"postcode\"]",
        ),
    );
    let o = invite(d.path(), &key, &req, "out", "s.sqlite").output().unwrap();
    assert_error(&o, "postcode", &[]);
    assert!(!d.path().join("out/invitations.csv").exists());
}

/// Kill -9 at random moments: afterwards (once the store is opened again)
/// the batch file exists exactly when the store holds its committed batch,
/// with every invitation, and a re-run either completes or is refused as
/// already run.
#[test]
fn kill_at_random_points_leaves_both_or_neither() {
    let d = tempfile::tempdir().unwrap();
    let (key, req) = setup(d.path(), REQ);
    // Time one undisturbed run to spread the kill points over it.
    let t0 = std::time::Instant::now();
    let o = invite(d.path(), &key, &req, "ref", "ref.sqlite")
        .env("TRIALINK_FAULT_PAUSE_MS", "20")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let span = t0.elapsed().as_millis() as u64 * 3 / 2 + 20;
    let reference = std::fs::read(d.path().join("ref/invitations.csv")).unwrap();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let (mut both, mut neither, mut repaired) = (0, 0, 0);
    for i in 0..30 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = (state >> 33) % span;
        let out = format!("k{i}");
        let db = format!("k{i}.sqlite");
        let mut child = invite(d.path(), &key, &req, &out, &db)
            .env("TRIALINK_FAULT_PAUSE_MS", "20")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        let file = d.path().join(&out).join("invitations.csv");
        let file_before = file.exists();
        // Reopen: reconciliation runs.
        let s = if d.path().join(&db).exists() {
            Some(store::Store::open(&d.path().join(&db)).unwrap())
        } else {
            None
        };
        if let Some(st) = &s {
            repaired += st.reconciled().rolled_back.len() + st.reconciled().rolled_forward.len();
        }
        let batch = s.as_ref().and_then(|s| s.find_batch("galleri-2", 11).unwrap());
        let exists = file.exists();
        assert!(!file_before || exists, "a batch file in place was removed");
        match &batch {
            Some(b) => {
                assert_eq!(b.state, "committed");
                assert!(exists, "batch recorded without its file (kill after {delay} ms)");
                assert_eq!(
                    std::fs::read(&file).unwrap(),
                    reference,
                    "partial or different file"
                );
                let st = s.as_ref().unwrap();
                assert_eq!(st.invitation_count(Some("galleri-2")).unwrap(), 30);
                assert_eq!(st.qa_seed_count(Some("galleri-2")).unwrap(), 2);
                for f in [
                    "invitations.csv.manifest.json",
                    "selection-summary.json",
                    "selection-summary.md",
                    "cohort.rejects.csv",
                ] {
                    assert!(d.path().join(&out).join(f).exists(), "{f} missing");
                }
                both += 1;
            }
            None => {
                assert!(!exists, "file without a batch (kill after {delay} ms)");
                if let Some(st) = &s {
                    assert_eq!(st.invitation_count(None).unwrap(), 0);
                    assert_eq!(st.qa_seed_count(None).unwrap(), 0);
                }
                neither += 1;
            }
        }
        drop(s);
        // A re-run completes (no batch) or is refused as already run (batch).
        let o = invite(d.path(), &key, &req, &out, &db).output().unwrap();
        if batch.is_some() {
            assert_eq!(o.status.code(), Some(2), "re-run after commit must be refused");
        } else {
            assert!(o.status.success(), "re-run after rollback failed: {}", stderr(&o));
            assert_eq!(std::fs::read(&file).unwrap(), reference);
        }
    }
    eprintln!(
        "kill test: {both} runs committed, {neither} rolled back or never started, {repaired} killed between staging and commit"
    );
    assert!(repaired > 0, "no kill landed between staging and commit");
    assert!(
        both > 0 && neither > 0,
        "kill points did not cover both outcomes: {both}/{neither}"
    );
}

/// `--registry-links`: volunteers found by `trialink link` (exact and CLK)
/// are prioritised; links made from another cohort, edited after linking,
/// or keyed by an id column are refused before anything is written.
#[test]
fn registry_links_prioritise_fuzzy_volunteers_and_are_checked_against_the_cohort() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ps = |x: &Path| x.to_str().unwrap().to_string();
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let master = master_key(d);
    let registry_key = scope_key(d, "registry:bpor", "bpor.key");
    ok(run(&[
        "synth",
        "--people",
        "6000",
        "--seed",
        "21",
        "--as-of",
        "2026-11-21",
        "--out",
        &ps(&d.join("s")),
    ]));
    let schema = ps(&fixtures().join("linkage/schema.json"));
    let cohort = d.join("s/cohort.csv");
    for (input, output) in [
        ("s/registry.csv", "registry.tokens.csv"),
        ("s/cohort.csv", "cohort.bpor.csv"),
    ] {
        ok(run(&[
            "pseudonymise",
            "--key",
            &ps(&registry_key),
            "--input",
            &ps(&d.join(input)),
            "--output",
            &ps(&d.join(output)),
            "--with-nhs-token",
            "--allow-blank",
            "--clk-schema",
            &schema,
            "--as-of",
            "2026-11-21",
        ]));
    }
    let links = d.join("links.csv");
    ok(run(&[
        "link",
        "--left",
        &ps(&d.join("registry.tokens.csv")),
        "--right",
        &ps(&d.join("cohort.bpor.csv")),
        "--output",
        &ps(&links),
    ]));
    let req = d.join("req.toml");
    std::fs::write(
        &req,
        "study = \"reg\"\nchannel = \"postal\"\ninvitations = 300\nseed = 4\nas_of = \"2026-11-21\"\nqa_seeds = 0\n\
         [registry]\nprioritise = true\n[[arms]]\nname = \"A\"\ntemplate = \"t\"\n",
    )
    .unwrap();
    let store = ps(&d.join("s.sqlite"));
    // Registry prioritisation needs a recorded legal basis.
    let entry = d.join("reg.toml");
    std::fs::write(
        &entry,
        "study = \"reg\"\norganisation = \"Example Trials Unit\"\nroutes = [\"service-mailer\"]\nchannels = [\"postal\"]\n\
         retain_until = \"2099-12-31\"\n[approvals]\nethics_reference = \"24/NE/0001\"\ndsa_reference = \"DSA-1\"\n\
         dsa_expires = \"2099-12-31\"\nregistry_basis = \"consent\"\nenrolled_basis = \"none\"\n",
    )
    .unwrap();
    ok(run(&[
        "study",
        "add",
        "--store",
        &store,
        "--operator",
        "alice",
        &ps(&entry),
    ]));
    let base = [
        "invite".to_string(),
        "--store".into(),
        store.clone(),
        "--key".into(),
        ps(&master),
        "--request".into(),
        ps(&req),
    ];
    let invite = |cohort: &Path, out: &str, extra: &[String]| {
        let mut args: Vec<String> = base.to_vec();
        args.extend(["--cohort".into(), ps(cohort), "--out".into(), ps(&d.join(out))]);
        args.extend(extra.iter().cloned());
        bin().args(&args).output().unwrap()
    };
    let registry_selected = |out: &str| -> u64 {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join(out).join("selection-summary.json")).unwrap())
                .unwrap();
        v["strata"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["registry_available"].as_u64().unwrap())
            .sum()
    };

    // Tokens only, then links (exact + fuzzy): the links find more volunteers.
    let mut req_seed = 4;
    let mut next_req = || {
        req_seed += 1;
        std::fs::write(
            &req,
            format!(
                "study = \"reg\"\nchannel = \"postal\"\ninvitations = 300\nseed = {req_seed}\nas_of = \"2026-11-21\"\n\
                 qa_seeds = 0\nreinvite = true\n[registry]\nprioritise = true\n[[arms]]\nname = \"A\"\ntemplate = \"t\"\n"
            ),
        )
        .unwrap();
    };
    next_req();
    ok(invite(
        &cohort,
        "tokens",
        &["--registry".into(), ps(&d.join("registry.tokens.csv"))],
    ));
    next_req();
    ok(invite(&cohort, "links", &["--registry-links".into(), ps(&links)]));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("links/invitations.csv.manifest.json")).unwrap())
            .unwrap();
    let fuzzy = m["extra"]["registry_links"]["fuzzy"].as_u64().unwrap();
    assert!(fuzzy > 0, "the synthetic registry has volunteers only CLKs find");
    let (by_token, by_link) = (registry_selected("tokens"), registry_selected("links"));
    assert!(
        by_link > by_token,
        "links find more eligible volunteers ({by_link}) than tokens ({by_token})"
    );

    // Refusals, before any file is written.
    let refused = |o: std::process::Output, needle: &str, out: &str| {
        assert_error(&o, needle, &[]);
        assert!(!d.join(out).exists(), "{out} was written");
    };
    // Another cohort (one row fewer).
    let text = std::fs::read_to_string(&cohort).unwrap();
    let other = d.join("other.csv");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    std::fs::write(&other, lines.join("\n") + "\n").unwrap();
    next_req();
    refused(
        invite(&other, "x1", &["--registry-links".into(), ps(&links)]),
        "different cohort",
        "x1",
    );
    // Links edited after linking.
    let edited = d.join("edited.csv");
    std::fs::write(
        &edited,
        std::fs::read_to_string(&links)
            .unwrap()
            .replacen("exact", "fuzzy", 1),
    )
    .unwrap();
    std::fs::copy(
        tabular::sidecar_path(&links, ".manifest.json"),
        tabular::sidecar_path(&edited, ".manifest.json"),
    )
    .unwrap();
    refused(
        invite(&cohort, "x2", &["--registry-links".into(), ps(&edited)]),
        "changed after linking",
        "x2",
    );
    // Links by id column.
    let by_id = d.join("by_id.csv");
    ok(run(&[
        "link",
        "--left",
        &ps(&d.join("registry.tokens.csv")),
        "--right",
        &ps(&d.join("cohort.bpor.csv")),
        "--output",
        &ps(&by_id),
        "--id-column",
        "token",
    ]));
    refused(
        invite(&cohort, "x3", &["--registry-links".into(), ps(&by_id)]),
        "--id-column",
        "x3",
    );
    // No manifest.
    let bare = d.join("bare.csv");
    std::fs::copy(&links, &bare).unwrap();
    refused(
        invite(&cohort, "x4", &["--registry-links".into(), ps(&bare)]),
        "no manifest",
        "x4",
    );
}
