//! Crash safety: writing commands killed with SIGKILL at random points.
//!
//! After every kill:
//! * the target path holds either nothing or the complete output: a valid
//!   CSV whose row count and size equal its manifest's (the manifest and
//!   rejects are persisted before the output, so a present output always has
//!   them), identical to an undisturbed run's;
//! * temp files left by the kill are hidden `.trialink-*.tmp` names beside
//!   the target, never the target name, and do not stop a re-run;
//! * the store opens (migration and reconciliation run) and the non-contact
//!   list holds either nothing or everything from the killed run.
//!
//! `invite`'s batch/store atomicity under SIGKILL is tested in invite.rs and
//! `uptake`'s in uptake.rs; `returns`, `encode`, `filter`, `link`, `keys`,
//! `synth` and `study` in kill_more.rs, `study purge` in purge.rs.
//! Kill points are drawn from a seeded generator; set TRIALINK_CRASH_SEED to
//! replay a run (the seed is printed).

use crate::common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ROWS: usize = 200_000;

/// `n` valid synthetic rows (test-range NHS numbers, Modulus 11 checked).
fn valid_rows(n: usize) -> String {
    let mut s = String::with_capacity(n * 22 + 32);
    s.push_str("nhs_number,date_of_birth\n");
    let mut k = 0u64;
    let mut made = 0;
    while made < n {
        let body = 999_000_000 + k;
        k += 1;
        let d: Vec<u64> = body.to_string().bytes().map(|b| (b - b'0') as u64).collect();
        let sum: u64 = d.iter().enumerate().map(|(i, x)| x * (10 - i as u64)).sum();
        let check = (11 - sum % 11) % 11;
        if check == 10 {
            continue;
        }
        s.push_str(&format!(
            "{body}{check},19{:02}-{:02}-{:02}\n",
            30 + made % 70,
            1 + made % 12,
            1 + made % 28
        ));
        made += 1;
    }
    s
}

/// Kill delays: a fixed spread over the run (early, middle, late) plus
/// random points.
fn delays(span: Duration, rng: &mut Rng, random: usize) -> Vec<Duration> {
    let ms = span.as_millis() as u64;
    let mut v: Vec<u64> = vec![
        0,
        2,
        10,
        30,
        ms / 4,
        ms / 2,
        ms * 3 / 4,
        ms * 9 / 10,
        ms.saturating_sub(5),
        ms + 20,
    ];
    for _ in 0..random {
        v.push(rng.below(ms + 50));
    }
    v.into_iter().map(Duration::from_millis).collect()
}

fn temp_leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.starts_with(".trialink-"))
        .collect()
}

fn rows_of(csv_bytes: &[u8]) -> Result<(Vec<String>, u64), String> {
    let mut r = csv::Reader::from_reader(csv_bytes);
    let header: Vec<String> = r
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(String::from)
        .collect();
    let mut n = 0;
    for rec in r.records() {
        let rec = rec.map_err(|e| format!("record {n}: {e}"))?;
        if rec.len() != header.len() {
            return Err(format!("record {n} has {} fields", rec.len()));
        }
        n += 1;
    }
    Ok((header, n))
}

/// An output present at `out` is complete: valid CSV, row count and size as
/// in the manifest, same bytes as the reference run.
fn assert_complete(out: &Path, manifest: &Path, reference: &[u8], what: &str) {
    let bytes = std::fs::read(out).unwrap();
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(manifest).unwrap_or_else(|_| panic!("{what}: output present without its manifest")),
    )
    .unwrap_or_else(|e| panic!("{what}: manifest is not valid JSON: {e}"));
    let (header, rows) = rows_of(&bytes).unwrap_or_else(|e| panic!("{what}: output is not valid CSV: {e}"));
    assert_eq!(header[0], "token", "{what}");
    assert_eq!(
        Some(rows),
        m["rows"]["out"].as_u64(),
        "{what}: row count differs from the manifest"
    );
    let rec = m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["role"] == "tokens")
        .expect("tokens output in manifest");
    assert_eq!(
        Some(bytes.len() as u64),
        rec["bytes"].as_u64(),
        "{what}: size differs from the manifest"
    );
    assert_eq!(bytes, reference, "{what}: output differs from an undisturbed run");
}

struct Setup {
    dir: tempfile::TempDir,
    master: PathBuf,
    key: PathBuf,
    input: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let master = master_key(dir.path());
    let key = scope_key(dir.path(), "registry:crash", "reg.key");
    let input = dir.path().join("input.csv");
    std::fs::write(&input, valid_rows(ROWS)).unwrap();
    Setup {
        dir,
        master,
        key,
        input,
    }
}

fn pseudonymise(s: &Setup, out: &Path, force: bool) -> Command {
    let mut c = bin();
    c.args(["pseudonymise", "--key"])
        .arg(&s.key)
        .arg("--input")
        .arg(&s.input)
        .arg("--output")
        .arg(out)
        .args(["--as-of", "2026-11-21", "--with-nhs-token"]);
    if force {
        c.arg("--force");
    }
    c
}

#[test]
fn pseudonymise_killed_at_random_points_leaves_complete_output_or_none() {
    let s = setup();
    let mut rng = Rng::from_env();
    let ref_dir = s.dir.path().join("ref");
    std::fs::create_dir(&ref_dir).unwrap();
    let ref_out = ref_dir.join("tokens.csv");
    let t0 = Instant::now();
    let o = pseudonymise(&s, &ref_out, false).output().unwrap();
    let span = t0.elapsed();
    assert!(o.status.success(), "{}", stderr(&o));
    let reference = std::fs::read(&ref_out).unwrap();
    assert_complete(
        &ref_out,
        &ref_dir.join("tokens.csv.manifest.json"),
        &reference,
        "reference run",
    );

    let (mut complete, mut absent, mut leftovers) = (0, 0, 0);
    for (i, delay) in delays(span, &mut rng, 14).into_iter().enumerate() {
        let dir = s.dir.path().join(format!("k{i}"));
        std::fs::create_dir(&dir).unwrap();
        let out = dir.join("tokens.csv");
        let what = format!("kill after {delay:?}");
        kill_after(pseudonymise(&s, &out, false), delay);
        let manifest = dir.join("tokens.csv.manifest.json");
        let present = out.exists();
        if present {
            assert_complete(&out, &manifest, &reference, &what);
            complete += 1;
        } else {
            absent += 1;
        }
        let tmp = temp_leftovers(&dir);
        for n in &tmp {
            assert!(
                n.starts_with(".trialink-") && n.ends_with(".tmp"),
                "{what}: unexpected temp name {n}"
            );
        }
        leftovers += tmp.len();
        // A re-run is never blocked by what the kill left: it completes, or
        // (output already complete) refuses without --force and replaces
        // it with --force, byte for byte the same.
        let o = pseudonymise(&s, &out, false).output().unwrap();
        if present {
            assert_eq!(
                o.status.code(),
                Some(2),
                "{what}: a complete output was replaced without --force"
            );
            assert!(stderr(&o).contains("error:"), "{}", stderr(&o));
        } else {
            assert!(o.status.success(), "{what}: re-run failed: {}", stderr(&o));
        }
        let o = pseudonymise(&s, &out, true).output().unwrap();
        assert!(o.status.success(), "{what}: forced re-run failed: {}", stderr(&o));
        assert_complete(&out, &manifest, &reference, &format!("{what}, re-run"));
    }
    eprintln!(
        "pseudonymise kill test: {complete} complete, {absent} absent, {leftovers} temp file(s) left by SIGKILL (hidden; the next run writing the same output sweeps them)"
    );
    assert!(
        absent > 0,
        "no kill landed before the output was in place (span {span:?})"
    );
}

/// Open the store through its API (migrations and reconciliation run) and
/// count the non-contact list.
fn store_count(db: &Path) -> u64 {
    let st = store::Store::open(db).unwrap_or_else(|e| panic!("store does not open after a kill: {e}"));
    st.noncontact_count().unwrap()
}

#[test]
fn noncontact_add_killed_at_random_points_leaves_a_consistent_store() {
    let s = setup();
    let mut rng = Rng::from_env();
    let add = |db: &Path| {
        let mut c = bin();
        c.args(["noncontact", "add", "--create", "--store"])
            .arg(db)
            .arg("--key")
            .arg(&s.master)
            .arg("--input")
            .arg(&s.input)
            .args(["--as-of", "2026-11-21", "--source", "crash-test"])
            .arg("--manifest")
            .arg(db.with_extension("manifest.json"))
            .arg("--rejects")
            .arg(db.with_extension("rejects.csv"))
            // Every run here is a re-run of the same input after a kill:
            // the operator replaces the killed run's sidecars knowingly.
            .arg("--force");
        c
    };
    let ref_db = s.dir.path().join("ref.sqlite");
    let t0 = Instant::now();
    let o = add(&ref_db).output().unwrap();
    let span = t0.elapsed();
    assert!(o.status.success(), "{}", stderr(&o));
    let full = store_count(&ref_db);
    assert_eq!(full, ROWS as u64);

    let (mut all, mut none) = (0, 0);
    for (i, delay) in delays(span, &mut rng, 10).into_iter().enumerate() {
        let db = s.dir.path().join(format!("k{i}.sqlite"));
        kill_after(add(&db), delay);
        let what = format!("kill after {delay:?}");
        if db.exists() {
            let n = store_count(&db);
            assert!(
                n == 0 || n == full,
                "{what}: the store holds {n} of {full}: a half-recorded run"
            );
            if n == full {
                all += 1;
            } else {
                none += 1;
            }
        } else {
            none += 1;
        }
        // A second kill into the same store, then a clean run: still all or nothing, then all.
        kill_after(
            add(&db),
            Duration::from_millis(rng.below(span.as_millis() as u64 + 1)),
        );
        let n = if db.exists() { store_count(&db) } else { 0 };
        assert!(n == 0 || n == full, "{what}, second kill: {n} of {full}");
        let o = add(&db).output().unwrap();
        assert!(o.status.success(), "{what}: re-run failed: {}", stderr(&o));
        assert_eq!(store_count(&db), full, "{what}: re-run did not complete the list");
    }
    eprintln!("noncontact kill test: {all} complete, {none} nothing recorded");
}

/// `report` killed at random points: every file present in `--out` under its
/// final name is complete (the same bytes an undisturbed run writes).
#[test]
fn report_killed_at_random_points_leaves_only_complete_files() {
    let d = tempfile::tempdir().unwrap();
    let mut rng = Rng::from_env();
    let input = fixtures().join("disclosure/report_input_large.json");
    let report = |out: &Path| {
        let mut c = bin();
        c.args(["report", "--input"]).arg(&input).arg("--out").arg(out);
        c
    };
    let ref_out = d.path().join("ref");
    let t0 = Instant::now();
    let o = report(&ref_out).output().unwrap();
    let span = t0.elapsed();
    assert!(o.status.success(), "{}", stderr(&o));
    let (mut present_total, mut runs) = (0, 0);
    for (i, delay) in delays(span, &mut rng, 10).into_iter().enumerate() {
        let out = d.path().join(format!("k{i}"));
        kill_after(report(&out), delay);
        runs += 1;
        let Ok(rd) = std::fs::read_dir(&out) else { continue };
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".tmp") || n.starts_with('.') {
                continue; // a temporary the kill left behind
            }
            let want = std::fs::read(ref_out.join(&n)).unwrap_or_else(|_| panic!("unexpected file {n}"));
            assert_eq!(
                std::fs::read(e.path()).unwrap(),
                want,
                "{n} is partial (kill after {delay:?})"
            );
            present_total += 1;
        }
    }
    eprintln!("report kill test: {runs} kills, {present_total} complete files found, none partial");
}
