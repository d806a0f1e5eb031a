//! Helpers shared by the CLI integration tests: a fresh temp dir per test,
//! the binary, fixture paths and test keys with private permissions.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trialink"));
    // invite's clock, fixed so that tests do not age (tests and the demo only)
    c.env("TRIALINK_TODAY", "2026-11-21");
    c
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Run trialink with args; returns the output.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("spawn trialink")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Copy the public test master key (fixtures/vectors/master.key) into `dir`
/// with mode 0600 (git does not keep file modes) and return its path.
pub fn master_key(dir: &Path) -> PathBuf {
    let p = dir.join("master.key");
    std::fs::copy(fixtures().join("vectors/master.key"), &p).unwrap();
    set_private(&p);
    p
}

/// Derive a scope key from the test master into `dir/<name>`.
pub fn scope_key(dir: &Path, scope: &str, name: &str) -> PathBuf {
    let master = if dir.join("master.key").exists() {
        dir.join("master.key")
    } else {
        master_key(dir)
    };
    let out = dir.join(name);
    let o = run(&[
        "keys",
        "derive",
        "--from",
        master.to_str().unwrap(),
        "--scope",
        scope,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "derive failed: {}", stderr(&o));
    out
}

pub fn set_private(p: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Assert a run failed with exit status 2 and a message, and that the
/// message echoes none of `secrets`.
pub fn assert_error(o: &Output, needle: &str, secrets: &[&str]) {
    let e = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected exit 2, got {:?}; stderr: {e}",
        o.status.code()
    );
    assert!(e.contains(needle), "stderr lacks {needle:?}: {e}");
    assert!(!e.contains("panicked"), "panic: {e}");
    for s in secrets {
        assert!(!e.contains(s), "stderr echoes a value: {e}");
    }
}

/// A seeded generator for kill points (`TRIALINK_CRASH_SEED` replays a run;
/// the seed is printed).
pub struct Rng(u64);

impl Rng {
    pub fn from_env() -> Rng {
        let seed = std::env::var("TRIALINK_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos() as u64
            });
        eprintln!("crash test seed: TRIALINK_CRASH_SEED={seed}");
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Spawn, wait `delay`, SIGKILL if still running, reap. Returns whether it
/// had already finished.
pub fn kill_after(mut cmd: Command, delay: std::time::Duration) -> bool {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let start = std::time::Instant::now();
    while start.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(1).min(delay));
    }
    let done = child.try_wait().unwrap().is_some();
    let _ = child.kill(); // SIGKILL on Unix
    let _ = child.wait();
    done
}

/// Create an empty store bound to the master key `key`: `noncontact add
/// --create` of an empty list read from stdin (no side files). Only `study
/// add` and `noncontact add --create` make a store; every other command
/// refuses a missing one.
pub fn create_store(store: &Path, key: &Path) {
    use std::io::Write;
    use std::process::Stdio;
    let mut c = bin()
        .args(["noncontact", "add", "--create", "--store"])
        .arg(store)
        .arg("--key")
        .arg(key)
        .args(["--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn trialink");
    c.stdin.take().unwrap().write_all(b"nhs_number\n").unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "creating the store: {}", stderr(&o));
}
