//! `trialink encode` end to end: vector CLKs through the CLI, clear errors
//! (exit 2) for a bad schema and a CSV missing a schema column.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trialink"))
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn run(args: &[&str], dir: &Path) -> Output {
    bin().args(args).current_dir(dir).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn reproduces_clkhash_vectors_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let v = fixtures().join("vectors");
    for (case, secret) in [
        ("blake", "trialink-vector-secret-blake"),
        ("double", "trialink-vector-secret-double"),
    ] {
        std::fs::write(dir.path().join("secret.txt"), format!("{secret}\n")).unwrap();
        let out = format!("{case}.csv");
        let o = run(
            &[
                "encode",
                "--schema",
                v.join(format!("clk_schema_{case}.json")).to_str().unwrap(),
                "--secret-file",
                "secret.txt",
                "--input",
                v.join("clk_records.csv").to_str().unwrap(),
                "--output",
                &out,
                "--keep",
                "ref",
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let got = std::fs::read_to_string(dir.path().join(&out)).unwrap();
        let want = std::fs::read_to_string(v.join(format!("clk_{case}.csv"))).unwrap();
        let got: Vec<String> = got
            .lines()
            .skip(1)
            .map(|l| {
                let (clk, r) = l.split_once(',').unwrap();
                format!("{r},{clk}")
            })
            .collect();
        let want: Vec<&str> = want.lines().skip(1).collect();
        assert_eq!(got, want, "case {case}");
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(format!("{out}.manifest.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(m["rows"]["out"], 60);
        assert_eq!(m["extra"]["clk_schema"]["clkhash_compatible"], true);
        assert!(
            !std::fs::read_to_string(dir.path().join(format!("{out}.manifest.json")))
                .unwrap()
                .contains(secret)
        );
    }
}

#[test]
fn unknown_field_type_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let v = fixtures().join("vectors");
    let schema = std::fs::read_to_string(v.join("clk_schema_blake.json"))
        .unwrap()
        .replacen("\"type\": \"enum\"", "\"type\": \"colour\"", 1);
    std::fs::write(dir.path().join("schema.json"), schema).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "s").unwrap();
    let o = run(
        &[
            "encode",
            "--schema",
            "schema.json",
            "--secret-file",
            "secret.txt",
            "--input",
            v.join("clk_records.csv").to_str().unwrap(),
            "--output",
            "out.csv",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("$.features[4].format.type"), "{e}");
    assert!(e.contains("one of string, integer, date, enum"), "{e}");
    assert!(!dir.path().join("out.csv").exists());
}

#[test]
fn missing_schema_column_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let v = fixtures().join("vectors");
    let csv = std::fs::read_to_string(v.join("clk_records.csv"))
        .unwrap()
        .replacen("postcode", "post_code", 1);
    std::fs::write(dir.path().join("in.csv"), csv).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "s").unwrap();
    let o = run(
        &[
            "encode",
            "--schema",
            v.join("clk_schema_blake.json").to_str().unwrap(),
            "--secret-file",
            "secret.txt",
            "--input",
            "in.csv",
            "--output",
            "out.csv",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("`postcode`") && e.contains("in.csv"), "{e}");
    assert!(e.contains("hint:"), "{e}");
    assert!(!dir.path().join("out.csv").exists());
}

#[test]
fn bad_values_are_rejected_by_line_and_column_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let v = fixtures().join("vectors");
    std::fs::write(dir.path().join("in.csv"), "ref,given_name,family_name,date_of_birth,sex,postcode\nr1,Ann,Smith,1990-02-30,F,LS1 4AP\nr2,Bob,Jones,1990-02-03,Q,LS1 4AP\nr3,Cy,Li,1990-02-03,M,\n").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "s").unwrap();
    let o = run(
        &[
            "encode",
            "--schema",
            v.join("clk_schema_blake.json").to_str().unwrap(),
            "--secret-file",
            "secret.txt",
            "--input",
            "in.csv",
            "--output",
            "out.csv",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let rejects = std::fs::read_to_string(dir.path().join("out.csv.rejects.csv")).unwrap();
    assert!(rejects.contains("2,date_of_birth,not_a_date"), "{rejects}");
    assert!(rejects.contains("3,sex,not_in_enum"), "{rejects}");
    assert!(!rejects.contains("1990"), "{rejects}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.csv"))
            .unwrap()
            .lines()
            .count(),
        2
    );
}

#[test]
fn key_derived_secret_and_blocking_column() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures();
    let o = run(&["keys", "generate", "--out", "test.key"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(
        &[
            "encode",
            "--schema",
            f.join("linkage/schema.json").to_str().unwrap(),
            "--key",
            "test.key",
            "--input",
            f.join("synth/registry.csv").to_str().unwrap(),
            "--output",
            "reg.csv",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.path().join("reg.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("clk,blocking"));
    let first = lines.next().unwrap();
    assert!(first.contains("dob="), "{first}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("reg.csv.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["keys"][0]["role"], "clk");
    assert_eq!(
        m["extra"]["clk_schema"]["trialink_extensions"]["blocking"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn refuses_to_keep_an_encoded_column() {
    let dir = tempfile::tempdir().unwrap();
    let v = fixtures().join("vectors");
    std::fs::write(dir.path().join("secret.txt"), "s").unwrap();
    let o = run(
        &[
            "encode",
            "--schema",
            v.join("clk_schema_blake.json").to_str().unwrap(),
            "--secret-file",
            "secret.txt",
            "--input",
            v.join("clk_records.csv").to_str().unwrap(),
            "--output",
            "out.csv",
            "--keep",
            "family_name",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--keep family_name"));
}
