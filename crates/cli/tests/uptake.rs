//! `trialink uptake` integration tests: a real batch, `synth uptake`
//! feedback, counts equal to the simulation's ground truth.

use crate::common;
use common::*;
use std::path::{Path, PathBuf};

const REQ: &str = r#"
study = "galleri-2"
channel = "postal"
invitations = 60
seed = 3
as_of = "2026-11-21"
[criteria]
min_age = 50
max_age = 77
[[arms]]
name = "A"
template = "letter-a"
[[arms]]
name = "B"
template = "letter-b"
"#;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Invite, simulate feedback, split it into the by-reference rows and the
/// pseudonymised by-token rows (as the trial would send them).
struct World {
    dir: tempfile::TempDir,
    key: PathBuf,
    store: PathBuf,
    truth: serde_json::Value,
    refs: PathBuf,
    raw: PathBuf,
    pseud_rejected: u64,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = master_key(d);
    let store = d.join("s.sqlite");
    create_store(&store, &key);
    std::fs::write(d.join("req.toml"), REQ).unwrap();
    let qa = fixtures().join("synth/qa_seeds.csv");
    let cohort = fixtures().join("synth/cohort.csv");
    let o = run(&[
        "invite",
        "--store",
        s(&store),
        "--key",
        s(&key),
        "--cohort",
        s(&cohort),
        "--request",
        s(&d.join("req.toml")),
        "--out",
        s(&d.join("batch")),
        "--qa-seeds",
        s(&qa),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fb = d.join("fb.csv");
    let o = run(&[
        "synth",
        "uptake",
        "--batch",
        s(&d.join("batch/invitations.csv")),
        "--cohort",
        s(&cohort),
        "--qa-seeds",
        s(&qa),
        "--rate",
        "0.5",
        "--seed",
        "9",
        "--qa-response",
        "1",
        "--unmatched",
        "0.1",
        "--error-rate",
        "0.2",
        "--out",
        s(&fb),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("fb.csv.truth.json")).unwrap()).unwrap();
    let text = std::fs::read_to_string(&fb).unwrap();
    let mut refs = String::from("reference,status,date\n");
    let mut raw = String::from("nhs_number,date_of_birth,status,date\n");
    for l in text.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        if !f[0].is_empty() {
            refs.push_str(&format!("{},{},{}\n", f[0], f[3], f[4]));
        } else {
            raw.push_str(&format!("{},{},{},{}\n", f[1], f[2], f[3], f[4]));
        }
    }
    std::fs::write(d.join("refs.csv"), refs).unwrap();
    std::fs::write(d.join("raw.csv"), raw).unwrap();
    let tkey = scope_key(d, "trial:galleri-2", "trial.key");
    let o = run(&[
        "pseudonymise",
        "--key",
        s(&tkey),
        "--input",
        s(&d.join("raw.csv")),
        "--output",
        s(&d.join("tok.csv")),
        "--keep",
        "status",
        "--keep",
        "date",
        "--as-of",
        "2026-11-21",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rej = std::fs::read_to_string(d.join("tok.csv.rejects.csv"))
        .map(|t| t.lines().count() as u64 - 1)
        .unwrap_or(0);
    World {
        refs: d.join("refs.csv"),
        raw: d.join("tok.csv"),
        dir,
        key,
        store,
        truth,
        pseud_rejected: rej,
    }
}

fn uptake(w: &World, inputs: &[&Path]) -> std::process::Output {
    uptake_with(w, inputs, &[])
}

/// A re-run over the same files: the earlier run's notes and manifest are
/// only replaced with --force (issue 15 item 7).
fn uptake_again(w: &World, inputs: &[&Path]) -> std::process::Output {
    uptake_with(w, inputs, &["--force"])
}

fn uptake_with(w: &World, inputs: &[&Path], extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "uptake",
        "--store",
        s(&w.store),
        "--key",
        s(&w.key),
        "--study",
        "galleri-2",
    ];
    for i in inputs {
        args.push("--input");
        args.push(s(i));
    }
    args.extend_from_slice(extra);
    run(&args)
}

fn count(out: &str, file: &Path, what: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(&file.display().to_string()))
        .unwrap();
    line.split(&format!("{what} "))
        .nth(1)
        .unwrap()
        .split([',', ' '])
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Uptake with `unmatched` rows that name no invitation: the matched rows
/// are recorded, and the run exits 1 when any row is unmatched.
fn assert_recorded(o: &std::process::Output, unmatched: u64) {
    if unmatched == 0 {
        assert!(o.status.success(), "{}", stderr(o));
    } else {
        assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
        assert!(
            stderr(o).contains(&format!("{unmatched} feedback rows matched no invitation")),
            "{}",
            stderr(o)
        );
    }
}

#[test]
fn counts_equal_the_simulation_truth_and_reruns_are_idempotent() {
    let w = world();
    let o = uptake(&w, &[&w.refs, &w.raw]);
    assert_recorded(&o, w.truth["expected_uptake"]["unmatched"].as_u64().unwrap());
    let out = stdout(&o);
    let t = &w.truth["expected_uptake"];
    let mbr = count(&out, &w.refs, "matched by reference");
    let unmatched_refs = count(&out, &w.refs, "unmatched");
    let qa = count(&out, &w.refs, "QA seed");
    let mbt = count(&out, &w.raw, "matched by token");
    let unmatched_tok = count(&out, &w.raw, "unmatched");
    assert_eq!(mbr, t["matched_by_reference"].as_u64().unwrap(), "{out}");
    assert_eq!(mbt, t["matched_by_token"].as_u64().unwrap(), "{out}");
    assert_eq!(
        unmatched_refs + unmatched_tok,
        t["unmatched"].as_u64().unwrap(),
        "{out}"
    );
    assert_eq!(qa, t["qa_seed"].as_u64().unwrap(), "{out}");
    assert_eq!(
        w.pseud_rejected,
        t["rejected_when_pseudonymised"].as_u64().unwrap()
    );
    assert_eq!(
        count(&out, &w.refs, "rejected") + count(&out, &w.raw, "rejected"),
        0
    );
    // Every unmatched / QA row is listed by line.
    let notes = std::fs::read_to_string(tabular::sidecar_path(&w.refs, ".uptake.csv")).unwrap();
    assert_eq!(notes.lines().count() as u64 - 1, unmatched_refs + qa);
    assert!(notes
        .lines()
        .skip(1)
        .all(|l| l.split(',').next().unwrap().parse::<u64>().is_ok()));
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tabular::sidecar_path(&w.raw, ".uptake.manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["scope"], "trial:galleri-2");
    // Store: outcomes on invitations, enrolled people recorded.
    {
        let st = store::Store::open(&w.store).unwrap();
        let figs = st.uptake_detail("galleri-2").unwrap();
        let responded: u64 = figs.iter().map(|f| f.responded).sum();
        let arms = w.truth["by_arm"].as_object().unwrap();
        let reached_consent: u64 = arms
            .values()
            .map(|a| a["reached"]["consented"].as_u64().unwrap())
            .sum();
        assert!(responded > 0);
        let consented: u64 = figs.iter().map(|f| f.consented).sum();
        assert!(consented <= reached_consent);
        assert!(!st.enrolled_tokens("galleri-2").unwrap().is_empty());
    }
    // Enrolments count as already enrolled for the study's next batch.
    let enrolled = store::Store::open(&w.store)
        .unwrap()
        .enrolled_tokens("galleri-2")
        .unwrap()
        .len() as u64;
    let d = w.dir.path();
    std::fs::write(d.join("req2.toml"), REQ.replace("seed = 3", "seed = 4")).unwrap();
    let o = run(&[
        "invite",
        "--store",
        s(&w.store),
        "--key",
        s(&w.key),
        "--cohort",
        s(&fixtures().join("synth/cohort.csv")),
        "--request",
        s(&d.join("req2.toml")),
        "--out",
        s(&d.join("batch2")),
        "--qa-seeds",
        s(&fixtures().join("synth/qa_seeds.csv")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sum: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("batch2/selection-summary.json")).unwrap())
            .unwrap();
    let stage = |name: &str| {
        sum["funnel"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["stage"] == name)
            .unwrap()["count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(stage("already_enrolled"), enrolled, "{sum}");
    assert_eq!(stage("already_enrolled") + stage("already_invited"), 60, "{sum}");
    // Re-running without --force is refused before anything is recorded.
    let o = uptake(&w, &[&w.refs, &w.raw]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(".uptake.csv: already exists"),
        "{}",
        stderr(&o)
    );
    // Re-running changes nothing.
    let o = uptake_again(&w, &[&w.refs, &w.raw]);
    assert_recorded(&o, t["unmatched"].as_u64().unwrap());
    let out2 = stdout(&o);
    assert!(
        out2.contains("recorded 0, history only 0, already recorded"),
        "{out2}"
    );
    assert!(out2.contains("newly enrolled 0"), "{out2}");
    let _ = w.dir.path();
}

#[test]
fn other_key_or_other_study_is_refused_naming_both_fingerprints() {
    let w = world();
    let d = w.dir.path();
    // Another master key's trial key.
    let other = d.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let o = run(&["keys", "generate", "--out", s(&other.join("m.key"))]);
    assert!(o.status.success());
    let o = run(&[
        "keys",
        "derive",
        "--from",
        s(&other.join("m.key")),
        "--scope",
        "trial:galleri-2",
        "--out",
        s(&other.join("t.key")),
    ]);
    assert!(o.status.success());
    let o = run(&[
        "pseudonymise",
        "--key",
        s(&other.join("t.key")),
        "--input",
        s(&d.join("raw.csv")),
        "--output",
        s(&other.join("tok.csv")),
        "--keep",
        "status",
        "--keep",
        "date",
        "--as-of",
        "2026-11-21",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let theirs = stdout(&run(&["keys", "fingerprint", s(&other.join("t.key"))]))
        .trim()
        .to_string();
    let ours = stdout(&run(&["keys", "fingerprint", s(&d.join("trial.key"))]))
        .trim()
        .to_string();
    let o = uptake(&w, &[&other.join("tok.csv")]);
    assert_error(&o, "fingerprint", &[]);
    let e = stderr(&o);
    assert!(
        e.contains(theirs.split_whitespace().next().unwrap())
            && e.contains(ours.split_whitespace().next().unwrap()),
        "{e}\n{theirs}\n{ours}"
    );
    // A file for another study.
    let k2 = scope_key(d, "trial:other-study", "other.key");
    let o = run(&[
        "pseudonymise",
        "--key",
        s(&k2),
        "--input",
        s(&d.join("raw.csv")),
        "--output",
        s(&d.join("tok2.csv")),
        "--keep",
        "status",
        "--keep",
        "date",
        "--as-of",
        "2026-11-21",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = uptake(&w, &[&d.join("tok2.csv")]);
    assert_error(&o, "trial:other-study", &[]);
    // Nothing was recorded by the refused runs.
    let st = store::Store::open(&w.store).unwrap();
    assert_eq!(
        st.uptake_detail("galleri-2")
            .unwrap()
            .iter()
            .map(|f| f.responded)
            .sum::<u64>(),
        0
    );
}

#[test]
fn malformed_rows_are_counted_rejects_with_line_numbers() {
    let w = world();
    let d = w.dir.path();
    let first_ref = std::fs::read_to_string(&w.refs)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let f = d.join("bad.csv");
    std::fs::write(
        &f,
        format!("reference,status,date\n{first_ref},signed_up,2026-02-01\n{first_ref},consented,2026-13-01\nnot-a-uuid,consented,2026-02-01\n,consented,2026-02-01\n{first_ref},consented,2026-02-01\n"),
    )
    .unwrap();
    let o = uptake(&w, &[&f]);
    // Rejected rows are not recorded: the run does not report success.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("--allow-rejects"), "{}", stderr(&o));
    // the first rejected row by file, line, column and reason, no value
    assert!(
        stderr(&o).contains("4 of 5 rows were rejected")
            && stderr(&o).contains("line 2, column status: bad_status"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains(&first_ref), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(count(&out, &f, "rejected"), 4, "{out}");
    assert_eq!(count(&out, &f, "matched by reference"), 1, "{out}");
    let notes = std::fs::read_to_string(tabular::sidecar_path(&f, ".uptake.csv")).unwrap();
    assert_eq!(
        notes,
        "line,column,outcome\n2,status,bad_status\n3,date,bad_date\n4,reference,bad_reference\n5,,no_reference_or_token\n"
    );
}

/// Kill -9 mid-run: the store holds all of a file's outcomes or none.
#[test]
fn kill_mid_run_leaves_the_store_consistent() {
    let w = world();
    let d = w.dir.path();
    // A large file: every invitation × status × many dates.
    let refs: Vec<String> = std::fs::read_to_string(d.join("batch/invitations.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    let mut text = String::from("reference,status,date\n");
    let mut n = 0u64;
    'outer: for day in 0..3000 {
        let date = pseudonym::Date::from_days_since_epoch(20_000 + day).unwrap();
        let mut iso = [0u8; 10];
        date.write_iso(&mut iso);
        for r in &refs {
            text.push_str(&format!(
                "{r},expressed_interest,{}\n",
                std::str::from_utf8(&iso).unwrap()
            ));
            n += 1;
            if n >= 150_000 {
                break 'outer;
            }
        }
    }
    let f = d.join("big.csv");
    std::fs::write(&f, text).unwrap();
    let history = |st: &store::Store| -> i64 {
        st.connection()
            .query_row("SELECT count(*) FROM outcome_history", [], |r| r.get(0))
            .unwrap()
    };
    let mut killed_mid = 0;
    for delay in [40u64, 120, 250, 400, 700] {
        let mut child = bin()
            .args([
                "uptake",
                "--store",
                s(&w.store),
                "--key",
                s(&w.key),
                "--study",
                "galleri-2",
                "--input",
                s(&f),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        let st = store::Store::open(&w.store).unwrap();
        let h = history(&st);
        // All (a QA seed's rows are never outcomes) or nothing.
        let expected_all =
            st.invitation_count(Some("galleri-2")).unwrap() as i64 * (n as i64 / refs.len() as i64);
        assert!(
            h == 0 || h >= expected_all - refs.len() as i64,
            "partial history {h} after kill at {delay} ms"
        );
        if h == 0 && !finished {
            killed_mid += 1;
        }
        if h > 0 {
            break;
        }
    }
    // Finish, then re-run: idempotent.
    let o = uptake_again(&w, &[&f]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = uptake_again(&w, &[&f]);
    assert!(
        stdout(&o).contains("recorded 0, history only 0"),
        "{}",
        stdout(&o)
    );
    eprintln!("uptake kill test: {killed_mid} runs killed mid-way");
}

/// The trial's whole feedback file pseudonymised in one go
/// (`pseudonymise --allow-blank`): reference rows keep an empty token.
#[test]
fn one_file_with_references_and_tokens_matches_the_truth() {
    let w = world();
    let d = w.dir.path();
    let o = run(&[
        "pseudonymise",
        "--key",
        s(&d.join("trial.key")),
        "--input",
        s(&d.join("fb.csv")),
        "--output",
        s(&d.join("fb.tokens.csv")),
        "--allow-blank",
        "--keep",
        "reference",
        "--keep",
        "status",
        "--keep",
        "date",
        "--as-of",
        "2026-11-21",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let f = d.join("fb.tokens.csv");
    let o = uptake(&w, &[&f]);
    let t = &w.truth["expected_uptake"];
    assert_recorded(&o, t["unmatched"].as_u64().unwrap());
    let out = stdout(&o);
    assert_eq!(
        count(&out, &f, "matched by reference"),
        t["matched_by_reference"].as_u64().unwrap(),
        "{out}"
    );
    assert_eq!(
        count(&out, &f, "matched by token"),
        t["matched_by_token"].as_u64().unwrap(),
        "{out}"
    );
    assert_eq!(
        count(&out, &f, "unmatched"),
        t["unmatched"].as_u64().unwrap(),
        "{out}"
    );
    assert_eq!(
        count(&out, &f, "QA seed"),
        t["qa_seed"].as_u64().unwrap(),
        "{out}"
    );
    assert_eq!(count(&out, &f, "rejected"), 0, "{out}");
    let rejected_by_pseudonymise = std::fs::read_to_string(d.join("fb.tokens.csv.rejects.csv"))
        .map(|t| t.lines().count() as u64 - 1)
        .unwrap_or(0);
    assert_eq!(
        rejected_by_pseudonymise,
        t["rejected_when_pseudonymised"].as_u64().unwrap()
    );
}
