//! `trialink filter build|check` end to end against the TLBF vectors, and
//! clear errors (exit 2) for corrupted or truncated filters.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trialink"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/vectors")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Member tokens and all probe tokens from the probe vector.
fn write_token_files(dir: &Path) {
    let probe = std::fs::read_to_string(vectors().join("tlbf_probe.csv")).unwrap();
    let mut members = String::from("token\n");
    let mut all = String::from("token,truth\n");
    for l in probe.lines().skip(1) {
        let c: Vec<&str> = l.split(',').collect();
        if c[1] == "member" {
            members.push_str(c[0]);
            members.push('\n');
        }
        all.push_str(&format!("{},{}\n", c[0], c[1]));
    }
    std::fs::write(dir.join("members.csv"), members).unwrap();
    std::fs::write(dir.join("probe.csv"), all).unwrap();
}

#[test]
fn build_is_byte_identical_and_check_answers_as_the_vector() {
    let dir = tempfile::tempdir().unwrap();
    write_token_files(dir.path());
    let o = run(
        &[
            "filter",
            "build",
            "--tokens",
            "members.csv",
            "--fpr",
            "0.001",
            "--fingerprint",
            "f2e5ee4bd04692ca",
            "--output",
            "nc.tlbf",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dir.path().join("nc.tlbf")).unwrap(),
        std::fs::read(vectors().join("noncontact.tlbf")).unwrap()
    );

    let o = run(
        &[
            "filter",
            "check",
            "--filter",
            vectors().join("noncontact.tlbf").to_str().unwrap(),
            "--tokens",
            "probe.csv",
            "--output",
            "checked.csv",
            "--keep",
            "truth",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let got = std::fs::read_to_string(dir.path().join("checked.csv")).unwrap();
    let want = std::fs::read_to_string(vectors().join("tlbf_probe.csv")).unwrap();
    let got: Vec<String> = got
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            format!("{},{},{}", c[0], c[2], c[1])
        })
        .collect();
    let want: Vec<&str> = want.lines().skip(1).collect();
    assert_eq!(got, want);
}

#[test]
fn corrupted_and_truncated_filters_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    write_token_files(dir.path());
    let good = std::fs::read(vectors().join("noncontact.tlbf")).unwrap();
    let mut bad = good.clone();
    bad[200] ^= 1;
    std::fs::write(dir.path().join("corrupt.tlbf"), &bad).unwrap();
    std::fs::write(dir.path().join("short.tlbf"), &good[..good.len() / 2]).unwrap();
    std::fs::write(dir.path().join("tiny.tlbf"), &good[..10]).unwrap();
    let mut magic = good.clone();
    magic[0] = b'X';
    std::fs::write(dir.path().join("magic.tlbf"), &magic).unwrap();
    for (f, expect) in [
        ("corrupt.tlbf", "checksum"),
        ("short.tlbf", "length"),
        ("tiny.tlbf", "truncated"),
        ("magic.tlbf", "magic"),
    ] {
        let o = run(
            &[
                "filter",
                "check",
                "--filter",
                f,
                "--tokens",
                "probe.csv",
                "--output",
                "out.csv",
            ],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(2), "{f}");
        let e = stderr(&o);
        assert!(e.contains(f) && e.contains(expect), "{f}: {e}");
        assert!(!dir.path().join("out.csv").exists());
    }
}

#[test]
fn refuses_a_filter_under_another_key() {
    let dir = tempfile::tempdir().unwrap();
    write_token_files(dir.path());
    // A real manifest naming another key: from a filter built under it.
    let o = run(
        &[
            "filter",
            "build",
            "--tokens",
            "members.csv",
            "--fpr",
            "0.01",
            "--fingerprint",
            "0123456789abcdef",
            "--output",
            "other.tlbf",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::copy(
        dir.path().join("other.tlbf.manifest.json"),
        dir.path().join("probe.csv.manifest.json"),
    )
    .unwrap();
    let o = run(
        &[
            "filter",
            "check",
            "--filter",
            vectors().join("noncontact.tlbf").to_str().unwrap(),
            "--tokens",
            "probe.csv",
            "--output",
            "out.csv",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("0123456789abcdef") && stderr(&o).contains("f2e5ee4bd04692ca"));
}

#[test]
fn bad_tokens_are_rejected_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.csv"),
        "token\nnot-a-token\n\nabababababababababababababababababababababababababababababababab\n",
    )
    .unwrap();
    let o = run(
        &[
            "filter",
            "build",
            "--tokens",
            "t.csv",
            "--fpr",
            "0.01",
            "--fingerprint",
            "0011223344556677",
            "--output",
            "f.tlbf",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = std::fs::read_to_string(dir.path().join("f.tlbf.rejects.csv")).unwrap();
    assert!(r.contains("bad_token") && !r.contains("not-a-token"), "{r}");
    let o = run(
        &[
            "filter", "build", "--tokens", "t.csv", "--fpr", "0.01", "--output", "g.tlbf",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
}
