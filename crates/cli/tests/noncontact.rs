//! `trialink noncontact` integration tests over fixtures/synth.

use crate::common;
use common::*;

#[test]
fn add_is_idempotent_and_counts_rejects() {
    let d = tempfile::tempdir().unwrap();
    let key = master_key(d.path());
    let store = d.path().join("s.sqlite");
    // The fixture objections plus one bad row (check digit), one bad date.
    let mut text = std::fs::read_to_string(fixtures().join("synth/objections.csv")).unwrap();
    let rows = text.lines().count() - 1;
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let mut bad = vec![""; header.len()];
    let nhs_i = header.iter().position(|h| *h == "nhs_number").unwrap();
    let dob_i = header.iter().position(|h| *h == "date_of_birth").unwrap();
    bad[nhs_i] = "9990000001";
    bad[dob_i] = "1960-01-01";
    text.push_str(&(bad.join(",") + "\n"));
    bad[nhs_i] = "9991335056";
    bad[dob_i] = "1960-02-30";
    text.push_str(&(bad.join(",") + "\n"));
    let input = d.path().join("objections.csv");
    std::fs::write(&input, &text).unwrap();
    let args = |rej: &str, man: &str| {
        vec![
            "noncontact".to_string(),
            "add".into(),
            "--create".into(),
            "--store".into(),
            store.display().to_string(),
            "--key".into(),
            key.display().to_string(),
            "--input".into(),
            input.display().to_string(),
            "--rejects".into(),
            d.path().join(rej).display().to_string(),
            "--manifest".into(),
            d.path().join(man).display().to_string(),
        ]
    };
    let a1 = args("r1.csv", "m1.json");
    let o = run(&a1.iter().map(String::as_str).collect::<Vec<_>>());
    // Issue 14: a run that rejected rows exits 1 (after recording the rest).
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    // Fixture rows may repeat a person (counted as already present).
    let added: usize = out
        .split("added ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let present: usize = out
        .split("already present ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // The row with an impossible DOB but a valid NHS number is kept (the
    // DOB is never needed for a match): only the bad NHS number is rejected.
    assert_eq!(added + present, rows + 1, "{out}");
    assert!(out.contains("rejected 1"), "{out}");
    let rej = std::fs::read_to_string(d.path().join("r1.csv")).unwrap();
    assert!(
        rej.contains(&format!("{},nhs_number,nhs_check_digit", rows + 2)),
        "{rej}"
    );
    assert!(!rej.contains("date_of_birth"), "{rej}");
    assert!(!rej.contains("9990000001"));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("m1.json")).unwrap()).unwrap();
    assert_eq!(m["rows"]["in"], (rows + 2) as u64);
    assert_eq!(m["rows"]["rejected"], 1);
    assert_eq!(m["scope"], "service:store");
    // Second time: nothing added.
    let mut a2 = args("r2.csv", "m2.json");
    a2.push("--allow-rejects".into());
    let o = run(&a2.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("added 0, already present "),
        "{}",
        stdout(&o)
    );
    let o = run(&["noncontact", "count", "--store", store.to_str().unwrap()]);
    assert_eq!(stdout(&o).trim(), added.to_string());
    // The store holds no identifier.
    let bytes = std::fs::read(&store).unwrap();
    let hay = String::from_utf8_lossy(&bytes);
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        assert!(!hay.contains(f[nhs_i]) || f[nhs_i].is_empty());
    }
}

#[test]
fn scope_key_is_refused_as_master() {
    let d = tempfile::tempdir().unwrap();
    let k = scope_key(d.path(), "trial:x", "trial.key");
    let o = run(&[
        "noncontact",
        "add",
        "--store",
        d.path().join("s.sqlite").to_str().unwrap(),
        "--key",
        k.to_str().unwrap(),
        "--input",
        fixtures().join("synth/objections.csv").to_str().unwrap(),
    ]);
    assert_error(&o, "not the service's master key", &[]);
}

#[test]
fn newer_store_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("s.sqlite");
    {
        let c = rusqlite_like_create(&p);
        assert!(c);
    }
    let o = run(&["noncontact", "count", "--store", p.to_str().unwrap()]);
    assert_error(&o, "newer than this trialink", &[]);
}

/// Make a store with a future schema version by opening it and bumping
/// `user_version` through the sqlite3 file header (offset 60, big-endian).
fn rusqlite_like_create(p: &std::path::Path) -> bool {
    create_store(p, &master_key(p.parent().unwrap()));
    // Checkpointed on close; the main file holds the header.
    let mut b = std::fs::read(p).unwrap();
    b[60..64].copy_from_slice(&999u32.to_be_bytes());
    std::fs::write(p, b).unwrap();
    let _ = std::fs::remove_file(p.with_extension("sqlite-wal"));
    let _ = std::fs::remove_file(p.with_extension("sqlite-shm"));
    true
}
