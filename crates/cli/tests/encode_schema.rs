//! `trialink encode` and schema strictness: a misplaced or unknown schema
//! key is an error naming its JSON path (exit 2, nothing written); a string
//! feature's `pattern` is enforced row by row (a counted reject with line,
//! column and reason, never the value).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trialink"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn encode(dir: &Path, schema: &str, input: &str) -> Output {
    std::fs::write(dir.join("schema.json"), schema).unwrap();
    std::fs::write(dir.join("secret.txt"), "s\n").unwrap();
    std::fs::write(dir.join("in.csv"), input).unwrap();
    run(
        &[
            "encode",
            "--schema",
            "schema.json",
            "--secret-file",
            "secret.txt",
            "--input",
            "in.csv",
            "--output",
            "out.csv",
            "--keep",
            "ref",
        ],
        dir,
    )
}

const RECORDS: &str = "ref,given_name,family_name,date_of_birth,sex,postcode\n\
r1,Ann,Smith,1990-02-03,F,LS1 4AP\n\
r2,Bob,Jones,1990-02-03,M,ls1 4ap\n\
r3,Cy,Li,1990-02-03,M,\n\
r4,Di,Ng,1990-02-03,F,LS1 4AP X\n";

#[test]
fn a_misplaced_schema_key_exits_2_naming_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("vectors/clk_schema_blake.json")).unwrap(),
    )
    .unwrap();
    // missingValue belongs under `hashing`; beside it, clkhash's schema
    // refuses it and trialink must not silently ignore it.
    let mut bad = schema.clone();
    bad["features"][5]["missingValue"] = serde_json::json!({"sentinel": "", "replaceWith": ""});
    let o = encode(dir.path(), &bad.to_string(), RECORDS);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("$.features[5].missingValue: unknown key"), "{e}");
    assert!(e.contains("allowed here:") && e.contains("hashing"), "{e}");
    assert!(e.contains("hint:"), "{e}");
    assert!(!dir.path().join("out.csv").exists());
    assert!(!dir.path().join("out.csv.manifest.json").exists());

    // A typo deeper down names the deeper path.
    let mut bad = schema;
    bad["features"][1]["hashing"]["comparison"]["positonal"] = serde_json::json!(true);
    let o = encode(dir.path(), &bad.to_string(), RECORDS);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("$.features[1].hashing.comparison.positonal"), "{e}");
    assert!(!dir.path().join("out.csv").exists());
}

#[test]
fn pattern_mismatches_are_counted_rejects_without_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("vectors/clk_schema_blake.json")).unwrap(),
    )
    .unwrap();
    schema["features"][5]["format"]["pattern"] = serde_json::json!("[A-Z]{1,2}[0-9][0-9A-Z]? [0-9][A-Z]{2}");
    schema["features"][5]["hashing"]["missingValue"] = serde_json::json!({"sentinel": "", "replaceWith": ""});
    let o = encode(dir.path(), &schema.to_string(), RECORDS);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let refs: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(
        refs,
        ["r1", "r3"],
        "the blank postcode is the missing value, not a mismatch"
    );
    let rejects = std::fs::read_to_string(dir.path().join("out.csv.rejects.csv")).unwrap();
    let rows: Vec<&str> = rejects.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{rejects}");
    assert!(
        rows[0].starts_with("3,") && rows[1].starts_with("5,"),
        "{rejects}"
    );
    for r in &rows {
        assert!(r.contains("postcode") && r.contains("pattern_mismatch"), "{r}");
    }
    assert!(!rejects.to_lowercase().contains("ls1 4ap"), "{rejects}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.csv.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["rows"]["in"], 4);
    assert_eq!(m["rows"]["out"], 2);
    assert_eq!(m["rows"]["rejected"], 2);
    assert_eq!(m["rows"]["rejected_by_reason"]["pattern_mismatch"], 2);
    assert_eq!(m["extra"]["clk_schema"]["features"][5]["pattern"], true);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.to_lowercase().contains("ls1 4ap"), "{err}");
}

#[test]
fn an_unusable_pattern_is_a_schema_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("vectors/clk_schema_blake.json")).unwrap(),
    )
    .unwrap();
    schema["features"][5]["format"]["pattern"] = serde_json::json!("(?<=A)B");
    let o = encode(dir.path(), &schema.to_string(), RECORDS);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("$.features[5].format.pattern: invalid"), "{e}");
    assert!(!dir.path().join("out.csv").exists());
}
