//! `trialink pseudonymise` integration tests over fixtures/pseudonymise.

use crate::common;
use common::*;
use std::path::Path;

fn fixture_values() -> Vec<String> {
    // every NHS number and DOB in the fixture, to check nothing leaks
    let text = std::fs::read_to_string(fixtures().join("pseudonymise/registry.csv")).unwrap();
    let mut v = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if !f[1].is_empty() {
            v.push(f[1].replace(' ', ""));
        }
        v.push(f[2].to_string());
    }
    v
}

fn pseudonymise(dir: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    let key = if dir.join("bpor.key").exists() {
        dir.join("bpor.key")
    } else {
        scope_key(dir, "registry:bpor", "bpor.key")
    };
    let input = fixtures().join("pseudonymise/registry.csv");
    let output = dir.join(out);
    let mut args = vec![
        "pseudonymise",
        "--key",
        key.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--as-of",
        "2026-11-21",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn tokens_manifest_rejects_and_no_leak() {
    let d = tempfile::tempdir().unwrap();
    let o = pseudonymise(
        d.path(),
        "t.csv",
        &["--with-nhs-token", "--keep", "volunteer_ref"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = std::fs::read_to_string(d.path().join("t.csv")).unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next().unwrap(), "token,nhs_token,volunteer_ref");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 35, "40 rows minus 5 rejects");
    for r in &rows {
        let f: Vec<&str> = r.split(',').collect();
        assert_eq!(f[0].len(), 64);
        assert_eq!(f[1].len(), 64);
        assert!(f[2].starts_with('V'));
    }
    let rejects = std::fs::read_to_string(d.path().join("t.csv.rejects.csv")).unwrap();
    let reject_lines: Vec<&str> = rejects.lines().skip(1).collect();
    assert_eq!(reject_lines.len(), 5);
    assert!(reject_lines.contains(&"12,NHS_Number,nhs_check_digit"));
    assert!(reject_lines.contains(&"14,Date_Of_Birth,dob_not_a_date"));
    assert!(reject_lines.contains(&"16,NHS_Number,nhs_missing"));
    assert!(reject_lines.contains(&"18,Date_Of_Birth,dob_after_as_of"));
    assert!(reject_lines.contains(&"20,NHS_Number,nhs_placeholder"));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("t.csv.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["scope"], "registry:bpor");
    assert_eq!(m["key_fingerprint"], "df669beb65955670");
    assert_eq!(m["rows"]["in"], 40);
    assert_eq!(m["rows"]["out"], 35);
    assert_eq!(m["rows"]["rejected"], 5);
    assert_eq!(m["as_of"], "2026-11-21");
    assert_eq!(m["inputs"][0]["blake3"].as_str().unwrap().len(), 64);
    // nothing identifying in any output
    for f in ["t.csv", "t.csv.rejects.csv", "t.csv.manifest.json"] {
        let text = std::fs::read_to_string(d.path().join(f)).unwrap();
        for v in fixture_values() {
            assert!(!text.contains(&v), "{f} contains an identifier");
        }
    }
    assert!(!stderr(&o).contains("999"), "stderr: {}", stderr(&o));
}

#[test]
fn deterministic_and_refuses_overwrite() {
    let d = tempfile::tempdir().unwrap();
    assert!(pseudonymise(d.path(), "a.csv", &[]).status.success());
    assert!(pseudonymise(d.path(), "b.csv", &[]).status.success());
    assert_eq!(
        std::fs::read(d.path().join("a.csv")).unwrap(),
        std::fs::read(d.path().join("b.csv")).unwrap()
    );
    let before = std::fs::read(d.path().join("a.csv")).unwrap();
    let o = pseudonymise(d.path(), "a.csv", &[]);
    assert_error(&o, "refusing to overwrite", &[]);
    assert_eq!(std::fs::read(d.path().join("a.csv")).unwrap(), before);
    assert!(pseudonymise(d.path(), "a.csv", &["--force"]).status.success());
}

#[test]
fn token_matches_vector_computation() {
    // the first fixture row, tokenised by the library, must equal the CLI's
    let d = tempfile::tempdir().unwrap();
    assert!(pseudonymise(d.path(), "t.csv", &[]).status.success());
    let out = std::fs::read_to_string(d.path().join("t.csv")).unwrap();
    let first = out.lines().nth(1).unwrap();
    let master =
        pseudonym::keyfile::parse(&std::fs::read_to_string(fixtures().join("vectors/master.key")).unwrap())
            .unwrap();
    let k = master
        .key
        .derive(&pseudonym::Scope::new("registry:bpor").unwrap());
    let tk = pseudonym::TokenKey::new(&k);
    let nhs = pseudonym::NhsNumber::parse("9995260182").unwrap();
    let dob = pseudonym::Dob::parse(
        "1942-06-19",
        &Default::default(),
        pseudonym::Date::new(2026, 11, 21).unwrap(),
    )
    .unwrap();
    assert_eq!(first, tk.token_nhs_dob(&nhs, &dob).to_hex_string());
}

#[test]
fn stdin_to_stdout() {
    let d = tempfile::tempdir().unwrap();
    let key = scope_key(d.path(), "registry:bpor", "bpor.key");
    let input = std::fs::read(fixtures().join("pseudonymise/registry.csv")).unwrap();
    let mut child = bin()
        .args([
            "pseudonymise",
            "--key",
            key.to_str().unwrap(),
            "--input",
            "-",
            "--output",
            "-",
            "--as-of",
            "2026-11-21",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 36);
}

#[test]
fn input_errors_are_clear() {
    let d = tempfile::tempdir().unwrap();
    let key = scope_key(d.path(), "registry:bpor", "bpor.key");
    let k = key.to_str().unwrap();
    let write = |name: &str, text: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let out = d.path().join("o.csv");
    let o_s = out.to_str().unwrap();
    // missing column: lists the header
    let p = write("m.csv", "ref,dob\nA,1980-01-01\n");
    let o = run(&["pseudonymise", "--key", k, "--input", &p, "--output", o_s]);
    assert_error(&o, "no NHS number column", &[]);
    assert!(stderr(&o).contains("`ref`, `dob`"));
    // ambiguous column
    let p = write("a.csv", "nhs_no,nhs_number,dob\n");
    assert_error(
        &run(&["pseudonymise", "--key", k, "--input", &p, "--output", o_s]),
        "more than one column",
        &[],
    );
    // headerless file: the first row is data and must not be echoed
    let p = write("h.csv", "9995260182,1942-06-19\n");
    assert_error(
        &run(&["pseudonymise", "--key", k, "--input", &p, "--output", o_s]),
        "header row missing",
        &["9995260182", "1942-06-19"],
    );
    // --keep of an identifier column
    let input = fixtures().join("pseudonymise/registry.csv");
    let i = input.to_str().unwrap();
    assert_error(
        &run(&[
            "pseudonymise",
            "--key",
            k,
            "--input",
            i,
            "--output",
            o_s,
            "--keep",
            "NHS_Number",
        ]),
        "identifier column",
        &[],
    );
    // bad --as-of, bad --dob-format
    assert_error(
        &run(&[
            "pseudonymise",
            "--key",
            k,
            "--input",
            i,
            "--output",
            o_s,
            "--as-of",
            "21/11/2026",
        ]),
        "--as-of",
        &[],
    );
    assert_error(
        &run(&[
            "pseudonymise",
            "--key",
            k,
            "--input",
            i,
            "--output",
            o_s,
            "--dob-format",
            "%Y",
        ]),
        "--dob-format",
        &[],
    );
    // a missing input file
    assert_error(
        &run(&[
            "pseudonymise",
            "--key",
            k,
            "--input",
            "/nonexistent.csv",
            "--output",
            o_s,
        ]),
        "cannot open",
        &[],
    );
    // a ragged row and invalid UTF-8 in a pass-through column are counted, not fatal
    let p = write(
        "r.csv",
        "nhs_number,dob,x\n9995260182,1942-06-19\n9995260182,1942-06-19,ok\n",
    );
    let o = run(&[
        "pseudonymise",
        "--key",
        k,
        "--input",
        &p,
        "--output",
        o_s,
        "--keep",
        "x",
        "--as-of",
        "2026-11-21",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(format!("{o_s}.rejects.csv"))
        .unwrap()
        .contains("2,,ragged_row"));
    assert!(!out.with_extension("partial").exists());
    // nothing written on failure
    let out2 = d.path().join("never.csv");
    let o = run(&[
        "pseudonymise",
        "--key",
        k,
        "--input",
        "/nonexistent.csv",
        "--output",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out2.exists());
    assert_eq!(
        std::fs::read_dir(d.path())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".trialink-"))
            .count(),
        0
    );
}

#[test]
fn custom_dob_format() {
    let d = tempfile::tempdir().unwrap();
    let key = scope_key(d.path(), "registry:bpor", "bpor.key");
    let p = d.path().join("us.csv");
    std::fs::write(&p, "nhs_number,dob\n9995260182,06.19.1942\n").unwrap();
    let out = d.path().join("o.csv");
    let o = run(&[
        "pseudonymise",
        "--key",
        key.to_str().unwrap(),
        "--input",
        p.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--dob-format",
        "%m.%d.%Y",
        "--as-of",
        "2026-11-21",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
}

#[test]
fn allow_blank_passes_reference_only_rows() {
    let d = tempfile::tempdir().unwrap();
    let key = scope_key(d.path(), "trial:x", "t.key");
    let p = d.path().join("fb.csv");
    std::fs::write(&p, "reference,nhs_number,date_of_birth,status\nR1,,,consented\nR2,9995260182,,consented\n,9995260182,1942-06-19,expressed_interest\n").unwrap();
    let out = d.path().join("o.csv");
    let args = [
        "pseudonymise",
        "--key",
        key.to_str().unwrap(),
        "--input",
        p.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--keep",
        "reference",
        "--keep",
        "status",
        "--as-of",
        "2026-11-21",
    ];
    // without --allow-blank the reference-only row is rejected
    let o = run(&args);
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
    let mut with = args.to_vec();
    with.extend(["--allow-blank", "--force"]);
    let o = run(&with);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[1], ",R1,consented");
    assert!(lines[2].ends_with(",,expressed_interest"));
    let rejects = std::fs::read_to_string(format!("{}.rejects.csv", out.display())).unwrap();
    assert_eq!(rejects.lines().nth(1).unwrap(), "3,date_of_birth,dob_missing");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.manifest.json", out.display())).unwrap())
            .unwrap();
    assert_eq!(m["extra"]["blank_identifier_rows"], 1);
    assert_eq!(m["rows"]["in"], 3);
}

#[test]
fn clk_schema_adds_clk_and_blocking_matching_encode() {
    let d = tempfile::tempdir().unwrap();
    let key = scope_key(d.path(), "registry:x", "r.key");
    let schema = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/demo/clk_schema.json");
    let input = fixtures().join("synth/registry.csv");
    let out = d.path().join("reg.csv");
    let o = run(&[
        "pseudonymise",
        "--key",
        key.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--clk-schema",
        schema.to_str().unwrap(),
        "--as-of",
        "2026-11-21",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let enc = d.path().join("enc.csv");
    let o = run(&[
        "encode",
        "--schema",
        schema.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        enc.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut a = csv::Reader::from_path(&out).unwrap();
    assert_eq!(
        a.headers().unwrap().iter().collect::<Vec<_>>(),
        vec!["token", "clk", "blocking"]
    );
    let mut b = csv::Reader::from_path(&enc).unwrap();
    let (ra, rb): (Vec<csv::StringRecord>, Vec<csv::StringRecord>) = (
        a.records().map(Result::unwrap).collect(),
        b.records().map(Result::unwrap).collect(),
    );
    assert_eq!(ra.len(), rb.len(), "every registry row has a CLK");
    let mut clk_only = 0;
    for (x, y) in ra.iter().zip(&rb) {
        assert_eq!(&x[1], &y[0], "CLK differs from `encode --key`");
        assert_eq!(&x[2], &y[1], "blocking keys differ from `encode --key`");
        if x[0].is_empty() {
            clk_only += 1;
        }
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("reg.csv.manifest.json")).unwrap())
            .unwrap();
    assert!(clk_only > 0, "the fixture has rows without a usable NHS number");
    assert_eq!(m["extra"]["clk_only_rows"], clk_only);
    assert_eq!(
        m["rows"]["in"].as_u64().unwrap(),
        m["rows"]["out"].as_u64().unwrap() + m["rows"]["rejected"].as_u64().unwrap()
    );
    assert!(m["extra"]["clk_schema_sha256"].is_string());
}
