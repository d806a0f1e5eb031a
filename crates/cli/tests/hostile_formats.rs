//! Issue 15, item 4 for the binary formats and linkage: small files with
//! unbounded cost are refused (exit 2, a clear message, no values) or counted
//! (a reason code, every row accounted for), never worked through.
//! Resource figures (seconds, peak RSS) are in `bench/hostile_limits_formats.sh`;
//! the time bounds here are loose guards against the old behaviour (minutes).

use crate::common;

use common::{assert_error, fixtures, stderr};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn run_in(dir: &Path, args: &[&str]) -> (Output, Duration) {
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_trialink"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (o, t.elapsed())
}

fn manifest(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn link_facts(m: &serde_json::Value) -> &serde_json::Value {
    m.get("extra").and_then(|e| e.get("link")).unwrap_or(&m["link"])
}

/// A 76-byte TLBF (header + one word + SHA-256) with the given k and m.
fn tlbf(k: u32, m: u64) -> Vec<u8> {
    let mut b = b"TLBF\x01\0\0\0".to_vec();
    b.extend_from_slice(&k.to_le_bytes());
    b.extend_from_slice(&m.to_le_bytes());
    b.extend_from_slice(&[0; 16]);
    b.extend_from_slice(&[0xff; 8]);
    let sum = Sha256::digest(&b);
    b.extend_from_slice(&sum);
    b
}

fn filter_check(dir: &Path, filter: &Path) -> (Output, Duration) {
    let tokens = dir.join("tokens.csv");
    std::fs::write(
        &tokens,
        format!("token\n{}\n{}\n", "ab".repeat(32), "cd".repeat(32)),
    )
    .unwrap();
    let _ = std::fs::remove_file(dir.join("check.csv"));
    run_in(
        dir,
        &[
            "filter",
            "check",
            "--filter",
            filter.to_str().unwrap(),
            "--tokens",
            tokens.to_str().unwrap(),
            "--output",
            "check.csv",
        ],
    )
}

#[test]
fn tlbf_of_76_bytes_with_huge_k_is_refused_at_once() {
    let d = tempfile::tempdir().unwrap();
    let fixture = fixtures().join("hostile/tlbf/k_huge.tlbf");
    assert_eq!(std::fs::metadata(&fixture).unwrap().len(), 76);
    let (o, took) = filter_check(d.path(), &fixture);
    assert_error(
        &o,
        "hash count k=4294967295 at offset 8 is invalid (expected 1 to 64)",
        &[],
    );
    assert!(stderr(&o).contains("k_huge.tlbf"), "{}", stderr(&o));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(!d.path().join("check.csv").exists());
    // One over the cap is refused; at the cap the file is read.
    let p = d.path().join("k65.tlbf");
    std::fs::write(&p, tlbf(65, 64)).unwrap();
    assert_error(&filter_check(d.path(), &p).0, "k=65", &[]);
    let p = d.path().join("k64.tlbf");
    std::fs::write(&p, tlbf(64, 64)).unwrap();
    let (o, _) = filter_check(d.path(), &p);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn tlbf_declaring_a_huge_bitmap_in_a_short_file_is_refused_before_reading() {
    let d = tempfile::tempdir().unwrap();
    // m = 2^62: over the cap.
    let (o, took) = filter_check(d.path(), &fixtures().join("hostile/tlbf/m_huge_short_file.tlbf"));
    assert_error(&o, "bit count m=4611686018427387904 at offset 12 is invalid", &[]);
    assert!(stderr(&o).contains("at most 2^34"), "{}", stderr(&o));
    assert!(took < Duration::from_secs(10));
    // m = 2^34, at the cap: the header is valid but the 76-byte file is not
    // the 2 GiB it declares — refused from its length, nothing allocated.
    let p = d.path().join("m_cap.tlbf");
    std::fs::write(&p, tlbf(3, 1 << 34)).unwrap();
    let (o, took) = filter_check(d.path(), &p);
    assert_error(
        &o,
        "length mismatch: header says 2147483716 bytes, file has 76",
        &[],
    );
    assert!(took < Duration::from_secs(10));
    // One word over the cap.
    std::fs::write(&p, tlbf(3, (1 << 34) + 64)).unwrap();
    assert_error(&filter_check(d.path(), &p).0, "m=17179869248", &[]);
}

const SCHEMA_HEAD: &str = r#"{"version":3,"clkConfig":{"l":1024,"kdf":{"type":"HKDF"}},"features":[{"identifier":"given_name","format":{"type":"string"},"hashing":{"comparison":{"type":"ngram","n":2},"strategy":{"bitsPerToken":"#;

fn encode(dir: &Path, schema: &str, input: &str, extra: &[&str]) -> (Output, Duration) {
    std::fs::write(dir.join("clk.secret"), "synthetic-test-secret\n").unwrap();
    let mut args = vec![
        "encode",
        "--schema",
        schema,
        "--secret-file",
        "clk.secret",
        "--input",
        input,
        "--output",
        "out.csv",
    ];
    args.extend_from_slice(extra);
    run_in(dir, &args)
}

#[test]
fn schema_with_bits_per_token_65536_is_refused_naming_the_path() {
    let d = tempfile::tempdir().unwrap();
    for (k, ok) in [(65536, false), (1025, false), (1024, true)] {
        std::fs::write(d.path().join("s.json"), format!("{SCHEMA_HEAD}{k}}}}}}}]}}")).unwrap();
        std::fs::write(d.path().join("in.csv"), "given_name\nAnn\n").unwrap();
        let _ = std::fs::remove_file(d.path().join("out.csv"));
        let (o, took) = encode(d.path(), "s.json", "in.csv", &[]);
        if ok {
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        } else {
            assert_error(
                &o,
                "$.features[0].hashing.strategy.bitsPerToken: invalid (expected an integer from 0 to 1024)",
                &[],
            );
            assert!(stderr(&o).contains("s.json"));
            assert!(!d.path().join("out.csv").exists());
        }
        assert!(took < Duration::from_secs(10));
    }
}

#[test]
fn a_300kb_cell_is_a_counted_reject_not_minutes_of_hashing() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("s.json"), format!("{SCHEMA_HEAD}1024}}}}}}]}}")).unwrap();
    let marker = "QZXMARKERQZX";
    let huge = marker.repeat(300_000 / marker.len());
    let at_cap = "b".repeat(1024);
    std::fs::write(
        d.path().join("in.csv"),
        format!("given_name\nAnn\n{huge}\n{at_cap}\nBo\n"),
    )
    .unwrap();
    let (o, took) = encode(d.path(), "s.json", "in.csv", &[]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        e.contains("encoded 4 rows: 3 CLKs written, 1 rejected (value_too_long: 1)"),
        "{e}"
    );
    let m = manifest(&d.path().join("out.csv.manifest.json"));
    assert_eq!(m["rows"]["in"], 4);
    assert_eq!(m["rows"]["out"], 3);
    assert_eq!(m["rows"]["rejected"], 1);
    assert_eq!(m["rows"]["rejected_by_reason"]["value_too_long"], 1);
    let rejects = std::fs::read_to_string(d.path().join("out.csv.rejects.csv")).unwrap();
    assert!(rejects.contains("value_too_long"), "{rejects}");
    assert!(
        rejects.contains(",3,") || rejects.contains("3,"),
        "line 3: {rejects}"
    );
    for (name, text) in [
        ("stderr", e.as_str()),
        ("stdout", &String::from_utf8_lossy(&o.stdout)),
        ("rejects", &rejects),
        ("manifest", &m.to_string()),
        (
            "output",
            &std::fs::read_to_string(d.path().join("out.csv")).unwrap(),
        ),
    ] {
        assert!(!text.contains(marker), "{name} echoes the value");
    }
}

/// Encode the first `n` registry rows with the example schema (four
/// blocking passes) into `dir/<name>`; returns the CSV text.
fn encoded_registry(dir: &Path, n: usize, name: &str) -> String {
    let reg = std::fs::read_to_string(fixtures().join("synth/registry.csv")).unwrap();
    let head: Vec<&str> = reg.lines().take(n + 1).collect();
    std::fs::write(dir.join("reg.csv"), head.join("\n") + "\n").unwrap();
    let schema = fixtures().join("linkage/schema.json");
    let (o, _) = encode(dir, schema.to_str().unwrap(), "reg.csv", &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.join("out.csv")).unwrap();
    std::fs::write(dir.join(name), &text).unwrap();
    text
}

/// Rewrite every row's blocking cell with `f(row index)`.
fn with_blocking(text: &str, f: impl Fn(usize) -> String) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            assert!(line.starts_with("clk,blocking"), "{line}");
            out.push_str(line);
        } else {
            let (clk, _) = line.split_once(',').unwrap();
            out.push_str(&format!("{clk},{}", f(i - 1)));
        }
        out.push('\n');
    }
    out
}

fn link(dir: &Path, right: &str, extra: &[&str]) -> (Output, Duration) {
    let mut args = vec![
        "link", "--left", "left.csv", "--right", right, "--output", "m.csv", "--force",
    ];
    args.extend_from_slice(extra);
    run_in(dir, &args)
}

#[test]
fn registry_putting_every_blocking_key_on_every_row_is_rejected_not_compared() {
    let d = tempfile::tempdir().unwrap();
    let left = encoded_registry(d.path(), 60, "left.csv");
    // Every left `dob` key, on every right row.
    let all_dob: Vec<String> = left
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .nth(1)
                .unwrap()
                .split(';')
                .find(|i| i.starts_with("dob="))
                .unwrap()
                .to_string()
        })
        .collect();
    let cell = all_dob.join(";");
    std::fs::write(d.path().join("right.csv"), with_blocking(&left, |_| cell.clone())).unwrap();
    let (o, took) = link(d.path(), "right.csv", &[]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(took < Duration::from_secs(10));
    assert!(
        e.contains("right: rejected 60 rows (blocking_repeated_pass: 60)"),
        "{e}"
    );
    assert!(e.contains(": 0 matches"), "{e}");
    assert!(e.contains("0 Dice comparisons"), "{e}");
    let m = manifest(&d.path().join("m.csv.manifest.json"));
    assert_eq!(m["rows"]["in"], 120);
    assert_eq!(m["rows"]["out"], 60);
    assert_eq!(m["rows"]["rejected"], 60);
    assert_eq!(m["rows"]["rejected_by_reason"]["blocking_repeated_pass"], 60);
    assert_eq!(link_facts(&m)["right_rejected"]["blocking_repeated_pass"], 60);
    assert_eq!(link_facts(&m)["comparisons"], 0);
    for k in &all_dob {
        let hex = k.split_once('=').unwrap().1;
        assert!(!e.contains(hex), "stderr echoes a key");
        assert!(!m.to_string().contains(hex), "manifest echoes a key");
    }
    // The honest file links in full.
    std::fs::write(d.path().join("same.csv"), &left).unwrap();
    let (o, _) = link(d.path(), "same.csv", &[]);
    assert!(stderr(&o).contains(": 60 matches"), "{}", stderr(&o));
}

#[test]
fn a_block_over_the_cap_is_skipped_counted_and_its_lost_rows_reported() {
    let d = tempfile::tempdir().unwrap();
    let left = encoded_registry(d.path(), 50, "left.csv");
    // One key per pass, but the same key on every row of both files: a
    // single 50 × 50 block.
    let same = with_blocking(&left, |_| "dob=00000000000000aa".to_string());
    std::fs::write(d.path().join("left.csv"), &same).unwrap();
    std::fs::write(d.path().join("right.csv"), &same).unwrap();
    // At the cap: compared.
    let (o, _) = link(d.path(), "right.csv", &["--max-block-pairs", "2500"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(e.contains("2500 Dice comparisons"), "{e}");
    assert!(!e.contains("skipped"), "{e}");
    let m = manifest(&d.path().join("m.csv.manifest.json"));
    assert_eq!(link_facts(&m)["skipped_blocks"], 0);
    // One under: skipped, counted on stderr and in the manifest.
    let (o, took) = link(d.path(), "right.csv", &["--max-block-pairs", "2499"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(took < Duration::from_secs(10));
    assert!(
        e.contains("skipped 1 block over --max-block-pairs 2499 (2500 comparisons not made): 50 of 50 left rows lost at least one candidate pair, 50 had no comparison at all"),
        "{e}"
    );
    assert!(e.contains(": 0 matches"), "{e}");
    let m = manifest(&d.path().join("m.csv.manifest.json"));
    let f = link_facts(&m);
    assert_eq!(f["skipped_blocks"], 1);
    assert_eq!(f["skipped_pairs"], 2500);
    assert_eq!(f["left_rows_lost_candidates"], 50);
    assert_eq!(f["left_rows_uncompared"], 50);
    assert_eq!(m["options"]["max_block_pairs"], 2499);
    assert_eq!(m["rows"]["in"], 100);
    assert_eq!(m["rows"]["out"], 100);
    // The default cap (10,000 × 10,000) is named in --help, with an example.
    let (o, _) = run_in(d.path(), &["link", "--help"]);
    // Whitespace collapsed: clap wraps to the terminal width.
    let h = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(h.contains("--max-block-pairs <N>"), "{h}");
    assert!(h.contains("[default: 100000000]"), "{h}");
    assert!(h.contains("--max-block-pairs 400000000"), "{h}");
}
