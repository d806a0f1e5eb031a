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

/// Rows spanning several read batches and parallel chunks come out in input
/// order, each reject at its own line, and every CLK equals the one the same
/// row gets when encoded on its own.
#[test]
fn large_inputs_keep_order_and_reject_lines_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let schema = std::fs::read_to_string(fixtures().join("linkage/schema.json")).unwrap();
    let given = ["Ann", "Bob", "Siân", "Łukasz", "O'Neil", "Mary Ann"];
    let mut csv = String::from("ref,given_name,family_name,date_of_birth,sex,postcode\n");
    let mut bad_lines = Vec::new();
    let n = 40_000;
    for i in 0..n {
        let line = i + 2;
        let dob = if i % 4999 == 17 {
            bad_lines.push(line);
            "1990-02-30".to_string()
        } else {
            format!("19{:02}-{:02}-{:02}", 30 + i % 70, 1 + i % 12, 1 + i % 28)
        };
        csv.push_str(&format!(
            "r{i},{},Fam{},{dob},{},LS{} {}AB\n",
            given[i % given.len()],
            i % 997,
            ["male", "female", ""][i % 3],
            i % 30,
            i % 10
        ));
    }
    let o = encode(dir.path(), &schema, &csv);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), n - bad_lines.len());
    let expected: Vec<String> = (0..n)
        .filter(|i| !bad_lines.contains(&(i + 2)))
        .map(|i| format!("r{i}"))
        .collect();
    let got: Vec<&str> = rows.iter().map(|r| r.rsplit(',').next().unwrap()).collect();
    assert_eq!(got, expected);
    let rejects = std::fs::read_to_string(dir.path().join("out.csv.rejects.csv")).unwrap();
    let lines: Vec<usize> = rejects
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(lines, bad_lines);
    // Spot-check rows from different batches against single-row runs.
    let all: Vec<&str> = csv.lines().collect();
    for i in [0usize, 1, 16_383, 16_384, 16_385, 32_768, 39_999] {
        let one = dir.path().join("one");
        std::fs::create_dir_all(&one).unwrap();
        let _ = std::fs::remove_file(one.join("out.csv"));
        let o = encode(&one, &schema, &format!("{}\n{}\n", all[0], all[i + 1]));
        assert!(o.status.success());
        let single = std::fs::read_to_string(one.join("out.csv")).unwrap();
        let single = single.lines().nth(1).unwrap();
        let pos = got.iter().position(|r| *r == format!("r{i}")).unwrap();
        assert_eq!(rows[pos], single, "row {i}");
    }
}
