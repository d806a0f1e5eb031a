//! `trialink study purge` (issue 10): retention and destruction, end to end
//! through the CLI. After a purge nothing in the store can be joined back
//! to the study's people (no study or service token of theirs, no
//! invitation reference, no key secret, in the database file or its WAL),
//! the published reports are unchanged and still pass the audit, the
//! study's key cannot be derived again, and a purge before the retention
//! date is refused without an override.

use crate::common;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "exit {:?}: {}", o.status.code(), stderr(o));
    stdout(o)
}

fn entry(study: &str, retain_until: &str) -> String {
    format!(
        "study = \"{study}\"\norganisation = \"Example Trials Unit\"\nroutes = [\"service-mailer\"]\n\
         channels = [\"postal\"]\nretain_until = \"{retain_until}\"\n[approvals]\nethics_reference = \"24/NE/0001\"\n\
         dsa_reference = \"DSA-1\"\ndsa_expires = \"2099-12-31\"\nregistry_basis = \"none\"\nenrolled_basis = \"consent\"\n"
    )
}

/// The 32-byte tokens of a token file's `token` column.
fn tokens(file: &Path) -> Vec<Vec<u8>> {
    let mut r = csv::Reader::from_path(file).unwrap();
    let i = r.headers().unwrap().iter().position(|h| h == "token").unwrap();
    r.records()
        .map(|x| hex::decode(&x.unwrap()[i]).unwrap())
        .filter(|t| t.len() == 32)
        .collect()
}

fn column(file: &Path, name: &str) -> Vec<String> {
    let mut r = csv::Reader::from_path(file).unwrap();
    let i = r.headers().unwrap().iter().position(|h| h == name).unwrap();
    r.records().map(|x| x.unwrap()[i].to_string()).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The store file and its WAL, as bytes.
fn store_bytes(store: &Path) -> Vec<u8> {
    let mut b = std::fs::read(store).unwrap();
    let wal = PathBuf::from(format!("{}-wal", store.display()));
    if let Ok(w) = std::fs::read(wal) {
        b.extend(w);
    }
    b
}

fn digests(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let f = e.unwrap().path();
        m.insert(f.clone(), std::fs::read(&f).unwrap());
    }
    m
}

#[test]
fn purge_destroys_the_study_and_keeps_what_was_published() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("service.sqlite");
    let s = p(&store);
    let master = master_key(d);
    let m = p(&master);

    ok(&run(&[
        "synth",
        "--people",
        "4000",
        "--seed",
        "11",
        "--as-of",
        "2026-11-21",
        "--out",
        p(&d.join("synth")),
    ]));
    let cohort = d.join("synth/cohort.csv");

    // Register: "gone" is past its retention date, "kept" is not.
    std::fs::write(d.join("gone.toml"), entry("gone", "2026-01-31")).unwrap();
    std::fs::write(d.join("kept.toml"), entry("kept", "2099-12-31")).unwrap();
    for f in ["gone.toml", "kept.toml"] {
        ok(&run(&[
            "study",
            "add",
            "--store",
            s,
            "--operator",
            "alice",
            p(&d.join(f)),
        ]));
    }
    let trial_key = d.join("gone.key");
    ok(&run(&[
        "keys",
        "derive",
        "--from",
        m,
        "--scope",
        "trial:gone",
        "--store",
        s,
        "--out",
        p(&trial_key),
    ]));
    let service_key = d.join("service.key");
    ok(&run(&[
        "keys",
        "derive",
        "--from",
        m,
        "--scope",
        "service:store",
        "--out",
        p(&service_key),
    ]));

    // The trial's enrolled list, under its study key.
    let enrolled = d.join("enrolled.tokens.csv");
    ok(&run(&[
        "pseudonymise",
        "--key",
        p(&trial_key),
        "--input",
        p(&d.join("synth/enrolled.csv")),
        "--output",
        p(&enrolled),
        "--as-of",
        "2026-11-21",
    ]));

    // A batch, uptake by reference and by token, returns.
    let req = d.join("gone.request.toml");
    std::fs::write(
        &req,
        "study = \"gone\"\nchannel = \"postal\"\ninvitations = 400\nseed = 5\nas_of = \"2026-11-21\"\nqa_seeds = 0\n\
         [[arms]]\nname = \"A\"\ntemplate = \"letter-a\"\n[[arms]]\nname = \"B\"\ntemplate = \"letter-b\"\n",
    )
    .unwrap();
    let out = d.join("batch");
    ok(&run(&[
        "invite",
        "--store",
        s,
        "--key",
        m,
        "--cohort",
        p(&cohort),
        "--request",
        p(&req),
        "--out",
        p(&out),
        "--enrolled",
        p(&enrolled),
    ]));
    let batch = out.join("invitations.csv");
    let refs = column(&batch, "reference");
    assert_eq!(refs.len(), 400);
    let mut fb = String::from("reference,status,date\n");
    for r in refs.iter().take(120) {
        fb.push_str(&format!("{r},expressed_interest,2026-11-28\n"));
    }
    std::fs::write(d.join("feedback.csv"), fb).unwrap();
    ok(&run(&[
        "uptake",
        "--store",
        s,
        "--key",
        m,
        "--study",
        "gone",
        "--input",
        p(&d.join("feedback.csv")),
    ]));
    let mut rt = String::from("reference,reason,date\n");
    for r in refs.iter().skip(200).take(30) {
        rt.push_str(&format!("{r},gone_away,2026-11-27\n"));
    }
    std::fs::write(d.join("returns.csv"), rt).unwrap();
    ok(&run(&[
        "returns",
        "--store",
        s,
        "--input",
        p(&d.join("returns.csv")),
    ]));
    let report = d.join("report");
    ok(&run(&[
        "report",
        "--store",
        s,
        "--study",
        "gone",
        "--out",
        p(&report),
    ]));
    let published = digests(&report);

    // Every cohort member's study and service tokens.
    let study_tokens = d.join("cohort.study.csv");
    ok(&run(&[
        "pseudonymise",
        "--key",
        p(&trial_key),
        "--input",
        p(&cohort),
        "--output",
        p(&study_tokens),
        "--as-of",
        "2026-11-21",
    ]));
    let service_tokens = d.join("cohort.service.csv");
    ok(&run(&[
        "pseudonymise",
        "--key",
        p(&service_key),
        "--input",
        p(&cohort),
        "--output",
        p(&service_tokens),
        "--as-of",
        "2026-11-21",
    ]));
    let people: BTreeSet<Vec<u8>> = tokens(&study_tokens)
        .into_iter()
        .chain(tokens(&service_tokens))
        .collect();
    assert!(people.len() >= 7000, "{}", people.len());
    let before = store_bytes(&store);
    let found = people.iter().filter(|t| contains(&before, t)).count();
    assert!(
        found >= 400,
        "the scan finds the invitees' tokens before the purge ({found})"
    );

    // Not before the retention date without an override; nothing changes.
    let o = run(&["study", "purge", "--store", s, "--operator", "bob", "kept"]);
    assert_error(&o, "retained until 2099-12-31", &[]);
    assert!(stderr(&o).contains("--override"), "{}", stderr(&o));
    let o = run(&["study", "show", "--store", s, "kept"]);
    assert!(ok(&o).contains("status                 open"));

    // Purge.
    let o = ok(&run(&[
        "study",
        "purge",
        "--store",
        s,
        "--operator",
        "bob",
        "gone",
    ]));
    assert!(o.contains("400 invitations"), "{o}");
    assert!(o.contains("120 outcomes"), "{o}");
    assert!(o.contains("30 returns"), "{o}");
    assert!(o.contains("key secret: destroyed"), "{o}");
    let fp = ok(&run(&["keys", "fingerprint", p(&trial_key)]));
    let fp = fp.split_whitespace().next().unwrap();
    assert!(
        o.contains(&format!("fingerprint {fp}")),
        "names the trial key to destroy: {o}"
    );

    // Nothing joinable is left: no token of anyone in the cohort, no
    // reference of the batch.
    let after = store_bytes(&store);
    let left: Vec<usize> = people
        .iter()
        .enumerate()
        .filter(|(_, t)| contains(&after, t))
        .map(|(i, _)| i)
        .collect();
    assert!(
        left.is_empty(),
        "{} tokens of the study's population remain in the store",
        left.len()
    );
    for r in &refs {
        assert!(
            !contains(&after, r.as_bytes()),
            "an invitation reference remains in the store"
        );
    }

    // The published reports are unchanged and still pass the audit.
    assert_eq!(digests(&report), published);
    ok(&run(&["audit", "--report", p(&report)]));

    // The study is over: its key cannot be derived, nor its id reused.
    let o = run(&[
        "keys",
        "derive",
        "--from",
        m,
        "--scope",
        "trial:gone",
        "--store",
        s,
        "--out",
        p(&d.join("again.key")),
    ]);
    assert_error(&o, "was purged", &[]);
    assert!(!d.join("again.key").exists());
    let o = run(&[
        "uptake",
        "--store",
        s,
        "--key",
        m,
        "--study",
        "gone",
        "--input",
        p(&d.join("feedback.csv")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(&[
        "invite",
        "--store",
        s,
        "--key",
        m,
        "--cohort",
        p(&cohort),
        "--request",
        p(&req),
        "--out",
        p(&d.join("batch2")),
    ]);
    assert_error(&o, "was purged", &[]);
    assert!(!d.join("batch2").exists());
    let o = run(&[
        "study",
        "add",
        "--store",
        s,
        "--operator",
        "carol",
        p(&d.join("gone.toml")),
    ]);
    assert_error(&o, "was purged", &[]);
    let o = run(&["study", "purge", "--store", s, "--operator", "bob", "gone"]);
    assert_error(&o, "was purged", &[]);
    // No new release of a purged study (it would publish zeros over what was published).
    let o = run(&[
        "report",
        "--store",
        s,
        "--study",
        "gone",
        "--out",
        p(&d.join("report-after")),
    ]);
    assert_error(&o, "was purged", &[]);
    assert!(!d.join("report-after").exists());
    let listed = ok(&run(&["study", "list", "--store", s]));
    assert!(
        listed.contains("gone\tpurged\t") && listed.contains("kept\topen\t"),
        "{listed}"
    );
    let shown = ok(&run(&["study", "show", "--store", s, "gone"]));
    assert!(
        shown.contains("purged ") && shown.contains("key secret destroyed"),
        "{shown}"
    );
    assert!(
        shown.contains("close"),
        "the purge closed the study in its history: {shown}"
    );
}

#[test]
fn early_purge_with_override_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s.sqlite");
    let s = p(&store);
    std::fs::write(d.join("x.toml"), entry("x", "2099-12-31")).unwrap();
    ok(&run(&[
        "study",
        "add",
        "--store",
        s,
        "--operator",
        "alice",
        p(&d.join("x.toml")),
    ]));
    let o = ok(&run(&[
        "study",
        "purge",
        "--store",
        s,
        "--operator",
        "bob",
        "x",
        "--override",
        "study withdrawn, DPO ticket 7",
    ]));
    assert!(
        o.contains("override before retention date: study withdrawn, DPO ticket 7"),
        "{o}"
    );
    let shown = ok(&run(&["study", "show", "--store", s, "x"]));
    assert!(
        shown.contains("override: study withdrawn, DPO ticket 7"),
        "{shown}"
    );
    // An unregistered study needs an override too (no retention date).
    let o = run(&[
        "study",
        "purge",
        "--store",
        s,
        "--operator",
        "bob",
        "never-registered",
    ]);
    assert_error(&o, "not in the register", &[]);
}

/// Killing `study purge` at any moment leaves the study either whole (no
/// purge record, every row and the key secret in place) or purged (record,
/// no row, no secret): never half.
#[test]
fn killed_purge_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = d.join("base.sqlite");
    let s = p(&base);
    let master = master_key(d);
    ok(&run(&[
        "synth",
        "--people",
        "3000",
        "--seed",
        "5",
        "--as-of",
        "2026-11-21",
        "--out",
        p(&d.join("synth")),
    ]));
    std::fs::write(d.join("gone.toml"), entry("gone", "2026-01-31")).unwrap();
    ok(&run(&[
        "study",
        "add",
        "--store",
        s,
        "--operator",
        "alice",
        p(&d.join("gone.toml")),
    ]));
    let req = d.join("req.toml");
    std::fs::write(
        &req,
        "study = \"gone\"\nchannel = \"postal\"\ninvitations = 600\nseed = 5\nas_of = \"2026-11-21\"\nqa_seeds = 0\n\
         [[arms]]\nname = \"A\"\ntemplate = \"letter-a\"\n",
    )
    .unwrap();
    ok(&run(&[
        "invite",
        "--store",
        s,
        "--key",
        p(&master),
        "--cohort",
        p(&d.join("synth/cohort.csv")),
        "--request",
        p(&req),
        "--out",
        p(&d.join("batch")),
    ]));
    let state = |db: &Path| -> (bool, u64, bool) {
        let st = store::Store::open(db).unwrap();
        let purged = st.study_purge_record("gone").unwrap().is_some();
        let n = st.invitation_count(Some("gone")).unwrap();
        (purged, n, st.study_has_secret("gone").unwrap())
    };
    assert_eq!(state(&base), (false, 600, true));
    let (mut whole, mut gone) = (0, 0);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..16 {
        let db = d.join(format!("s{i}.sqlite"));
        std::fs::copy(&base, &db).unwrap();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = std::time::Duration::from_micros(x % 30_000);
        let mut child = bin()
            .args(["study", "purge", "--store", p(&db), "--operator", "bob", "gone"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        match state(&db) {
            (false, 600, true) => whole += 1,
            (true, 0, false) => gone += 1,
            other => panic!("run {i} (killed after {delay:?}) left a half-purged store: {other:?}"),
        }
    }
    eprintln!("killed purge: {whole} left whole, {gone} completed");
}
