//! Crash safety for the writing commands that crash.rs (pseudonymise,
//! noncontact add, report), invite.rs and uptake.rs do not already kill:
//! `encode`, `filter build`, `filter check`, `link`, `keys generate`,
//! `keys derive`, `synth`, `returns`, `uptake` (at random points, beside
//! uptake.rs's fixed ones), `study add`, `study update` and `study close`.
//! Each is SIGKILLed at points spread over an undisturbed run (early,
//! middle, late, after) plus seeded random ones.
//!
//! After every kill:
//! * file commands: every file present under its final name is complete —
//!   byte for byte an undisturbed run's (manifests, which carry timestamps,
//!   are valid JSON naming the same output bytes); an output never exists
//!   without its manifest; leftovers are hidden `.trialink-<pid>-….tmp`
//!   temporaries only. A re-run refuses a complete output without `--force`,
//!   completes otherwise, and sweeps every temporary the kill left
//!   (tabular's stale-temporary sweep);
//! * store commands: the store opens (migrations, reconciliation) and holds
//!   all of the killed run's records or none of them; a re-run of a run
//!   that recorded nothing completes.
//!
//! Kill points come from a seeded generator; set TRIALINK_CRASH_SEED to
//! replay (the seed is printed). Inputs are small so the whole file runs in
//! well under a minute on two cores.

use crate::common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Random kill points per command, beside the ten fixed ones.
const RANDOM_KILLS: usize = 6;

/// Kill delays: a fixed spread over the run plus random points.
fn delays(span: Duration, rng: &mut Rng) -> Vec<Duration> {
    let ms = span.as_millis() as u64;
    let mut v: Vec<u64> = vec![
        0,
        3,
        15,
        ms / 4,
        ms / 2,
        ms * 3 / 4,
        ms * 9 / 10,
        ms.saturating_sub(3),
        ms + 10,
        ms + 40,
    ];
    for _ in 0..RANDOM_KILLS {
        v.push(rng.below(ms + 30));
    }
    v.into_iter().map(Duration::from_millis).collect()
}

/// On a loaded machine the test thread can be descheduled for so long
/// that even a 0 ms kill lands after the command finished. If no kill so
/// far landed before the output (or commit), add up to five more 0 ms kills.
/// `done` is how many kills of `plan` have run.
fn extend_if_none_early(plan: &mut Vec<Duration>, planned: usize, done: usize, early: usize) {
    if early == 0 && done == plan.len() && plan.len() < planned + 5 {
        plan.push(Duration::ZERO);
    }
}

fn timed(mut c: Command) -> Duration {
    let t0 = Instant::now();
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    t0.elapsed()
}

fn is_temp(name: &str) -> bool {
    name.starts_with(".trialink-") || name.ends_with(".tmp")
}

/// Hidden temporaries in `dir`; each must be an AtomicOutput name
/// (`.trialink-<pid>-<tag>-<random>.tmp`).
fn temps(dir: &Path, what: &str) -> Vec<String> {
    let v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_temp(n))
        .collect();
    for n in &v {
        let pid = n
            .strip_prefix(".trialink-")
            .and_then(|r| r.strip_suffix(".tmp"))
            .and_then(|r| r.split('-').next());
        assert!(
            pid.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
            "{what}: unexpected temporary name {n}"
        );
    }
    v
}

/// Files in `dir` under final names, with their bytes.
fn visible(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !is_temp(n))
        .map(|n| {
            let b = std::fs::read(dir.join(&n)).unwrap();
            (n, b)
        })
        .collect()
}

fn is_manifest(name: &str) -> bool {
    name.ends_with(".manifest.json")
}

/// The output records of a manifest: (role, bytes).
fn manifest_outputs(bytes: &[u8], what: &str) -> Vec<(String, u64)> {
    let m: serde_json::Value =
        serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{what}: manifest is not valid JSON: {e}"));
    m["outputs"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: manifest without outputs"))
        .iter()
        .map(|o| {
            (
                o["role"].as_str().unwrap_or_default().to_string(),
                o["bytes"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect()
}

/// Kill a file-writing command at random points. `cmd(dir, force)` builds
/// the command writing into the run directory `dir`; `main` is the output's
/// file name there. Returns (complete, absent, temporaries swept).
fn kill_file_command(label: &str, main: &str, cmd: &dyn Fn(&Path, bool) -> Command) -> (usize, usize, usize) {
    let base = tempfile::tempdir().unwrap();
    let mut rng = Rng::from_env();
    let ref_dir = base.path().join("ref");
    std::fs::create_dir(&ref_dir).unwrap();
    let span = timed(cmd(&ref_dir, false));
    let reference = visible(&ref_dir);
    assert!(
        reference.contains_key(main),
        "{label}: reference run wrote no {main}"
    );
    let ref_manifest = reference
        .get(&format!("{main}.manifest.json"))
        .unwrap_or_else(|| panic!("{label}: reference run wrote no manifest"));
    let ref_outputs = manifest_outputs(ref_manifest, label);
    // Compare what an undisturbed run writes, less the manifests.
    let data = |m: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
        m.iter()
            .filter(|(n, _)| !is_manifest(n))
            .map(|(n, b)| (n.clone(), b.clone()))
            .collect()
    };
    let ref_data = data(&reference);

    let (mut complete, mut absent, mut swept) = (0, 0, 0);
    let mut plan = delays(span, &mut rng);
    let planned = plan.len();
    let mut i = 0;
    while i < plan.len() {
        let delay = plan[i];
        i += 1;
        let dir = base.path().join(format!("k{i}"));
        std::fs::create_dir(&dir).unwrap();
        let what = format!("{label}: kill after {delay:?} (run takes {span:?})");
        kill_after(cmd(&dir, false), delay);
        let present = visible(&dir);
        for (n, b) in &present {
            if is_manifest(n) {
                assert_eq!(
                    manifest_outputs(b, &what),
                    ref_outputs,
                    "{what}: {n} names other outputs than an undisturbed run's"
                );
            } else {
                let want = ref_data
                    .get(n)
                    .unwrap_or_else(|| panic!("{what}: unexpected file {n}"));
                assert!(
                    b == want,
                    "{what}: {n} is partial or differs ({} bytes of {})",
                    b.len(),
                    want.len()
                );
            }
        }
        let has_main = present.contains_key(main);
        if has_main {
            assert!(
                present.contains_key(&format!("{main}.manifest.json")),
                "{what}: {main} without its manifest"
            );
            complete += 1;
        } else {
            absent += 1;
        }
        let left = temps(&dir, &what).len();
        // A re-run: refused over a complete output without --force,
        // completes otherwise; either way, a forced run ends with exactly
        // the reference files and no temporaries (the sweep removed the
        // killed run's).
        let o = cmd(&dir, false).output().unwrap();
        if has_main {
            assert_eq!(
                o.status.code(),
                Some(2),
                "{what}: output replaced without --force"
            );
            assert!(stderr(&o).contains("error:"), "{}", stderr(&o));
            let o = cmd(&dir, true).output().unwrap();
            assert!(o.status.success(), "{what}: forced re-run: {}", stderr(&o));
        } else {
            assert!(o.status.success(), "{what}: re-run: {}", stderr(&o));
        }
        assert_eq!(data(&visible(&dir)), ref_data, "{what}: re-run differs");
        assert_eq!(
            temps(&dir, &what),
            Vec::<String>::new(),
            "{what}: the re-run left temporaries (sweep)"
        );
        swept += left;
        extend_if_none_early(&mut plan, planned, i, absent);
    }
    eprintln!(
        "{label} kill test: {complete} complete, {absent} absent, {swept} temporaries left by kills and swept by the re-run"
    );
    assert!(
        absent > 0,
        "{label}: no kill landed before the output (span {span:?})"
    );
    (complete, absent, swept)
}

/// `n` valid synthetic rows (test-range NHS numbers, Modulus 11 checked).
fn valid_rows(n: usize) -> String {
    let mut s = String::from("nhs_number,date_of_birth\n");
    let (mut k, mut made) = (0u64, 0);
    while made < n {
        let body = 999_100_000 + k;
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

/// The synthetic cohort repeated `times` (encode input).
fn cohort_times(times: usize) -> String {
    let text = std::fs::read_to_string(fixtures().join("synth/cohort.csv")).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    let mut s = format!("{header}\n");
    for _ in 0..times {
        s.push_str(body);
    }
    s
}

#[test]
fn encode_killed_at_random_points() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("cohort.csv");
    std::fs::write(&input, cohort_times(3)).unwrap();
    let secret = d.path().join("clk.secret");
    std::fs::write(&secret, "kill-test-secret\n").unwrap();
    set_private(&secret);
    let schema = fixtures().join("linkage/schema.json");
    kill_file_command("encode", "clks.csv", &|dir, force| {
        let mut c = bin();
        c.arg("encode")
            .arg("--schema")
            .arg(&schema)
            .arg("--secret-file")
            .arg(&secret)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(dir.join("clks.csv"))
            .args(["--keep", "gp_practice"]);
        if force {
            c.arg("--force");
        }
        c
    });
}

#[test]
fn filter_build_and_check_killed_at_random_points() {
    let d = tempfile::tempdir().unwrap();
    let key = scope_key(d.path(), "registry:kill", "reg.key");
    let rows = d.path().join("rows.csv");
    std::fs::write(&rows, valid_rows(60_000)).unwrap();
    let tokens = d.path().join("tokens.csv");
    let o = bin()
        .arg("pseudonymise")
        .arg("--key")
        .arg(&key)
        .arg("--input")
        .arg(&rows)
        .arg("--output")
        .arg(&tokens)
        .args(["--as-of", "2026-11-21"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    kill_file_command("filter build", "f.tlbf", &|dir, force| {
        let mut c = bin();
        c.args(["filter", "build", "--fpr", "0.0001", "--tokens"])
            .arg(&tokens)
            .arg("--output")
            .arg(dir.join("f.tlbf"));
        if force {
            c.arg("--force");
        }
        c
    });
    let filter = d.path().join("f.tlbf");
    let o = bin()
        .args(["filter", "build", "--fpr", "0.0001", "--tokens"])
        .arg(&tokens)
        .arg("--output")
        .arg(&filter)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    kill_file_command("filter check", "checked.csv", &|dir, force| {
        let mut c = bin();
        c.args(["filter", "check", "--filter"])
            .arg(&filter)
            .arg("--tokens")
            .arg(&tokens)
            .arg("--output")
            .arg(dir.join("checked.csv"));
        if force {
            c.arg("--force");
        }
        c
    });
}

#[test]
fn link_killed_at_random_points() {
    let d = tempfile::tempdir().unwrap();
    let secret = d.path().join("clk.secret");
    std::fs::write(&secret, "kill-test-secret\n").unwrap();
    set_private(&secret);
    let schema = fixtures().join("linkage/schema.json");
    let encode = |input: PathBuf, out: &Path| {
        let o = bin()
            .arg("encode")
            .arg("--schema")
            .arg(&schema)
            .arg("--secret-file")
            .arg(&secret)
            .arg("--input")
            .arg(input)
            .arg("--output")
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    };
    let cohort = d.path().join("cohort.clk.csv");
    let registry = d.path().join("registry.clk.csv");
    encode(fixtures().join("synth/cohort.csv"), &cohort);
    encode(fixtures().join("synth/registry.csv"), &registry);
    kill_file_command("link", "matches.csv", &|dir, force| {
        let mut c = bin();
        c.args(["link", "--mode", "clk", "--left"])
            .arg(&registry)
            .arg("--right")
            .arg(&cohort)
            .arg("--output")
            .arg(dir.join("matches.csv"));
        if force {
            c.arg("--force");
        }
        c
    });
}

/// Builds a command writing to the given path.
type MakeCommand<'a> = dyn Fn(&Path) -> Command + 'a;

/// `keys generate` and `keys derive` write the key file itself with
/// O_CREAT|O_EXCL (no temporary: an existing key is never replaced). After a
/// kill the file is absent, complete and usable, or — killed between the
/// create and the one write — short, and then refused by every reader with
/// an error (exit 2), never taken for a key.
#[test]
fn keys_generate_and_derive_killed_at_random_points() {
    let d = tempfile::tempdir().unwrap();
    let master = master_key(d.path());
    let generate = |out: &Path| {
        let mut c = bin();
        c.args(["keys", "generate", "--scope", "registry:kill", "--out"])
            .arg(out);
        c
    };
    let derive = |out: &Path| {
        let mut c = bin();
        c.args(["keys", "derive", "--scope", "registry:kill", "--from"])
            .arg(&master)
            .arg("--out")
            .arg(out);
        c
    };
    let cases: [(&str, &MakeCommand); 2] = [("keys generate", &generate), ("keys derive", &derive)];
    for (label, make) in cases {
        let mut rng = Rng::from_env();
        let ref_key = d.path().join(format!("{}-ref.key", label.replace(' ', "-")));
        let span = timed(make(&ref_key));
        let ref_len = std::fs::metadata(&ref_key).unwrap().len();
        let (mut complete, mut absent, mut short) = (0, 0, 0);
        for (i, delay) in delays(span, &mut rng).into_iter().enumerate() {
            let out = d.path().join(format!("{}-k{i}.key", label.replace(' ', "-")));
            kill_after(make(&out), delay);
            let what = format!("{label}: kill after {delay:?}");
            if !out.exists() {
                absent += 1;
                let o = make(&out).output().unwrap();
                assert!(o.status.success(), "{what}: re-run: {}", stderr(&o));
                continue;
            }
            let o = bin().args(["keys", "fingerprint"]).arg(&out).output().unwrap();
            if std::fs::metadata(&out).unwrap().len() == ref_len {
                assert!(
                    o.status.success(),
                    "{what}: a full-length key file is unusable: {}",
                    stderr(&o)
                );
                complete += 1;
            } else {
                assert_eq!(
                    o.status.code(),
                    Some(2),
                    "{what}: a short key file was not refused"
                );
                assert!(stderr(&o).contains("error:"), "{}", stderr(&o));
                short += 1;
            }
        }
        eprintln!("{label} kill test: {complete} complete, {absent} absent, {short} short (refused)");
    }
}

/// `synth` writes eight files, each through its own temporary
/// (`.<name>.tmp-<pid>`, synth's `AtomicFile`, not swept): every file
/// present under its final name is complete, and a forced re-run completes.
#[test]
fn synth_killed_at_random_points() {
    let d = tempfile::tempdir().unwrap();
    let mut rng = Rng::from_env();
    let synth = |out: &Path| {
        let mut c = bin();
        c.args([
            "synth",
            "--people",
            "5000",
            "--seed",
            "7",
            "--as-of",
            "2026-11-21",
            "--force",
            "--out",
        ])
        .arg(out);
        c
    };
    let ref_dir = d.path().join("ref");
    let span = timed(synth(&ref_dir));
    let finals = |dir: &Path| -> BTreeMap<String, Vec<u8>> {
        match std::fs::read_dir(dir) {
            Err(_) => BTreeMap::new(),
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .map(|n| {
                    let b = std::fs::read(dir.join(&n)).unwrap();
                    (n, b)
                })
                .collect(),
        }
    };
    let reference = finals(&ref_dir);
    assert_eq!(reference.len(), 8, "{:?}", reference.keys());
    let (mut files, mut runs) = (0, 0);
    for (i, delay) in delays(span, &mut rng).into_iter().enumerate() {
        let dir = d.path().join(format!("k{i}"));
        kill_after(synth(&dir), delay);
        let what = format!("synth: kill after {delay:?} (run takes {span:?})");
        for (n, b) in finals(&dir) {
            let want = reference
                .get(&n)
                .unwrap_or_else(|| panic!("{what}: unexpected file {n}"));
            assert!(&b == want, "{what}: {n} is partial or differs");
            files += 1;
        }
        runs += 1;
        let o = synth(&dir).output().unwrap();
        assert!(o.status.success(), "{what}: re-run: {}", stderr(&o));
        assert_eq!(finals(&dir), reference, "{what}: re-run differs");
    }
    eprintln!("synth kill test: {runs} kills, {files} complete files found, none partial");
}

/// A store with one committed batch of `invitations` (postal), its
/// references, and the master key.
struct World {
    dir: tempfile::TempDir,
    key: PathBuf,
    store: PathBuf,
    refs: Vec<String>,
}

fn world(invitations: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = master_key(d);
    let store = d.join("base.sqlite");
    create_store(&store, &key);
    std::fs::write(
        d.join("req.toml"),
        format!(
            "study = \"kill-1\"\nchannel = \"postal\"\ninvitations = {invitations}\nseed = 5\nas_of = \"2026-11-21\"\n[[arms]]\nname = \"A\"\ntemplate = \"t\"\n"
        ),
    )
    .unwrap();
    let o = bin()
        .arg("invite")
        .arg("--store")
        .arg(&store)
        .arg("--key")
        .arg(&key)
        .arg("--cohort")
        .arg(fixtures().join("synth/cohort.csv"))
        .arg("--request")
        .arg(d.join("req.toml"))
        .arg("--out")
        .arg(d.join("batch"))
        .arg("--qa-seeds")
        .arg(fixtures().join("synth/qa_seeds.csv"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let refs = std::fs::read_to_string(d.join("batch/invitations.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    World {
        dir,
        key,
        store,
        refs,
    }
}

impl World {
    /// A private copy of the base store (the base is closed: no WAL).
    fn store_copy(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::copy(&self.store, &p).unwrap();
        for ext in ["-wal", "-shm"] {
            let mut w = self.store.as_os_str().to_owned();
            w.push(ext);
            if Path::new(&w).exists() {
                let mut to = p.as_os_str().to_owned();
                to.push(ext);
                std::fs::copy(&w, &to).unwrap();
            }
        }
        set_private(&p);
        p
    }
}

/// Open through the store's API (migrations and reconciliation run), then
/// run a query giving one integer.
fn scalar(db: &Path, sql: &str, what: &str) -> i64 {
    let st = store::Store::open(db).unwrap_or_else(|e| panic!("{what}: store does not open: {e}"));
    st.connection().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Rows of `table`, counted after opening the store through its API.
fn count(db: &Path, table: &str, what: &str) -> i64 {
    scalar(db, &format!("SELECT count(*) FROM {table}"), what)
}

/// Kill a store command: `cmd(db)` runs it against a store; `state(db)` is
/// what it changes. After each kill the state is the before or the after
/// of an undisturbed run, and a re-run reaches the after.
fn kill_store_command(
    label: &str,
    w: &World,
    cmd: &dyn Fn(&Path) -> Command,
    state: &dyn Fn(&Path, &str) -> Vec<i64>,
) {
    let mut rng = Rng::from_env();
    let ref_db = w.store_copy(&format!("{}-ref.sqlite", label.replace(' ', "-")));
    let before = state(&ref_db, label);
    let span = timed(cmd(&ref_db));
    let after = state(&ref_db, label);
    assert_ne!(before, after, "{label}: an undisturbed run changed nothing");
    let (mut all, mut none) = (0, 0);
    let mut plan = delays(span, &mut rng);
    let planned = plan.len();
    let mut i = 0;
    while i < plan.len() {
        let delay = plan[i];
        i += 1;
        let db = w.store_copy(&format!("{}-k{i}.sqlite", label.replace(' ', "-")));
        let what = format!("{label}: kill after {delay:?} (run takes {span:?})");
        kill_after(cmd(&db), delay);
        let got = state(&db, &what);
        if got == after {
            all += 1;
        } else {
            assert_eq!(got, before, "{what}: the store holds part of the run");
            none += 1;
        }
        // Re-run what did not happen (`study update` is not idempotent: a
        // second identical update is another history entry).
        if got == before {
            let o = cmd(&db).output().unwrap();
            assert!(o.status.success(), "{what}: re-run: {}", stderr(&o));
            assert_eq!(
                state(&db, &what),
                after,
                "{what}: re-run did not complete the run"
            );
        }
        extend_if_none_early(&mut plan, planned, i, none);
    }
    eprintln!("{label} kill test: {all} complete, {none} nothing recorded");
    assert!(
        none > 0,
        "{label}: no kill landed before the commit (span {span:?})"
    );
}

#[test]
fn returns_and_uptake_killed_at_random_points() {
    let w = world(1500);
    // Every reference returned, then the same rows again with a second date
    // (already recorded): a longer transaction.
    let mut rts = String::from("reference,reason,date\n");
    for pass in 0..20 {
        for r in &w.refs {
            rts.push_str(&format!("{r},gone_away,2026-11-{:02}\n", 22 + pass % 7));
        }
    }
    let rts_file = w.dir.path().join("rts.csv");
    std::fs::write(&rts_file, rts).unwrap();
    kill_store_command(
        "returns",
        &w,
        &|db| {
            let mut c = bin();
            c.arg("returns")
                .arg("--store")
                .arg(db)
                .arg("--input")
                .arg(&rts_file)
                // Re-runs after a kill replace the sidecars knowingly.
                .arg("--force");
            c
        },
        &|db, what| vec![count(db, "returns", what)],
    );

    let mut fb = String::from("reference,status,date\n");
    for day in 0..20 {
        for r in &w.refs {
            fb.push_str(&format!("{r},expressed_interest,2026-12-{:02}\n", 1 + day));
        }
    }
    let fb_file = w.dir.path().join("fb.csv");
    std::fs::write(&fb_file, fb).unwrap();
    kill_store_command(
        "uptake",
        &w,
        &|db| {
            let mut c = bin();
            c.arg("uptake")
                .arg("--store")
                .arg(db)
                .arg("--key")
                .arg(&w.key)
                .args(["--study", "kill-1", "--input"])
                .arg(&fb_file)
                // Re-runs after a kill replace the sidecars knowingly.
                .arg("--force");
            c
        },
        &|db, what| vec![count(db, "outcomes", what), count(db, "outcome_history", what)],
    );
}

#[test]
fn study_add_update_close_killed_at_random_points() {
    let w = world(20);
    let entry = fixtures().join("studies/example.toml");
    // The entry (its version and status) and its history move together.
    let state = |db: &Path, what: &str| {
        vec![
            count(db, "study_register", what),
            count(db, "study_register_history", what),
            scalar(db, "SELECT coalesce(sum(version), 0) FROM study_register", what),
            scalar(
                db,
                "SELECT count(*) FROM study_register WHERE status = 'closed'",
                what,
            ),
        ]
    };
    kill_store_command(
        "study add",
        &w,
        &|db| {
            let mut c = bin();
            c.args(["study", "add", "--operator", "Kill Test", "--store"])
                .arg(db)
                .arg(&entry);
            c
        },
        &state,
    );
    // Update: the base store with the study added, then a changed entry.
    let o = bin()
        .args(["study", "add", "--operator", "Kill Test", "--store"])
        .arg(&w.store)
        .arg(&entry)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let changed = w.dir.path().join("changed.toml");
    std::fs::write(
        &changed,
        std::fs::read_to_string(&entry)
            .unwrap()
            .replace("retain_until = \"2032-12-31\"", "retain_until = \"2033-06-30\""),
    )
    .unwrap();
    kill_store_command(
        "study update",
        &w,
        &|db| {
            let mut c = bin();
            c.args(["study", "update", "--operator", "Kill Test", "--store"])
                .arg(db)
                .arg(&changed);
            c
        },
        &state,
    );
    kill_store_command(
        "study close",
        &w,
        &|db| {
            let mut c = bin();
            c.args(["study", "close", "--operator", "Kill Test", "--store"])
                .arg(db)
                .arg("trial-001");
            c
        },
        &state,
    );
}
