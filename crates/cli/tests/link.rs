//! `trialink link` and `trialink evaluate` end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trialink"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn vector_clks() -> Vec<String> {
    std::fs::read_to_string(fixtures().join("vectors/clk_blake.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split_once(',').unwrap().1.to_string())
        .collect()
}

fn tok(i: usize) -> String {
    format!("{:064x}", i + 1)
}

#[test]
fn hybrid_exact_then_fuzzy_one_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let clks = vector_clks();
    // Left: 6 people. Rows 1-3 have tokens that the right shares; rows 4-6 have no token.
    let mut left = String::from("ref,token,clk\n");
    for (i, clk) in clks.iter().enumerate().take(6) {
        let t = if i < 3 { tok(i) } else { String::new() };
        left.push_str(&format!("L{i},{t},{clk}\n"));
    }
    // Right: the same people in reverse order, plus two others; tokens only for the first three.
    let mut right = String::from("ref,token,clk\n");
    for i in (0..8).rev() {
        let t = if i < 3 { tok(i) } else { String::new() };
        right.push_str(&format!("R{i},{t},{}\n", clks[i]));
    }
    std::fs::write(dir.path().join("left.csv"), left).unwrap();
    std::fs::write(dir.path().join("right.csv"), right).unwrap();
    let o = run(
        &[
            "link",
            "--left",
            "left.csv",
            "--right",
            "right.csv",
            "--output",
            "m.csv",
            "--id-column",
            "ref",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let m = std::fs::read_to_string(dir.path().join("m.csv")).unwrap();
    let lines: Vec<&str> = m.lines().collect();
    // Issue 20 added `probability` and `evidence` columns.
    assert_eq!(lines[0], "left,right,method,score,probability,evidence");
    assert_eq!(lines.len(), 7, "{m}");
    for i in 0..6 {
        let line = lines[i + 1];
        let method = if i < 3 { "exact" } else { "fuzzy" };
        assert!(line.starts_with(&format!("L{i},R{i},{method},1")), "{line}");
    }
    // Token only: the three exact pairs.
    let o = run(
        &[
            "link",
            "--left",
            "left.csv",
            "--right",
            "right.csv",
            "--output",
            "t.csv",
            "--id-column",
            "ref",
            "--mode",
            "token",
        ],
        dir.path(),
    );
    assert!(o.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("t.csv"))
            .unwrap()
            .lines()
            .count(),
        4
    );
    // evaluate against a truth with one pair the link missed and one wrong.
    std::fs::write(
        dir.path().join("truth.csv"),
        "left,right\nL0,R0\nL1,R1\nL2,R2\nL3,R3\nL4,R4\nL5,R6\n",
    )
    .unwrap();
    let o = run(
        &["evaluate", "--matches", "m.csv", "--truth", "truth.csv"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("precision 0.8333") && out.contains("recall 0.8333") && out.contains("true_positives 5"),
        "{out}"
    );
    assert!(out.contains("precision_exact 1.0000 (3/3)"), "{out}");
}

#[test]
fn synthetic_registry_links_with_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures();
    std::fs::write(dir.path().join("secret.txt"), "synthetic-test-secret\n").unwrap();
    for (input, out) in [("synth/registry.csv", "reg.csv"), ("synth/cohort.csv", "coh.csv")] {
        let o = run(
            &[
                "encode",
                "--schema",
                f.join("linkage/schema.json").to_str().unwrap(),
                "--secret-file",
                "secret.txt",
                "--input",
                f.join(input).to_str().unwrap(),
                "--output",
                out,
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(format!("{out}.manifest.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            m["rows"]["rejected"], 0,
            "{input}: rows must stay aligned with truth"
        );
    }
    let truth = f.join("synth/truth_registry.csv");
    let o = run(
        &[
            "link",
            "--left",
            "reg.csv",
            "--right",
            "coh.csv",
            "--output",
            "m.csv",
            "--truth",
            truth.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let get = |k: &str| -> f64 {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(get("precision") >= 0.95, "{out}");
    assert!(get("recall") >= 0.85, "{out}");
    assert!(get("pair_completeness") >= 0.95, "{out}");
    assert!(get("reduction_ratio") > 0.99, "{out}");
    // All pairs finds at least as much as blocking and never exceeds it in comparisons saved.
    let o = run(
        &[
            "link",
            "--left",
            "reg.csv",
            "--right",
            "coh.csv",
            "--output",
            "all.csv",
            "--blocking",
            "none",
            "--truth",
            truth.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("pair_completeness 1.0000"));
    // Deterministic: the same run gives the same bytes.
    let o = run(
        &[
            "link", "--left", "reg.csv", "--right", "coh.csv", "--output", "m2.csv",
        ],
        dir.path(),
    );
    assert!(o.status.success());
    assert_eq!(
        std::fs::read(dir.path().join("m.csv")).unwrap(),
        std::fs::read(dir.path().join("m2.csv")).unwrap()
    );
}

#[test]
fn input_errors_exit_2_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let clks = vector_clks();
    std::fs::write(
        dir.path().join("a.csv"),
        format!("clk\n{}\nnot base64!\n", clks[0]),
    )
    .unwrap();
    std::fs::write(dir.path().join("b.csv"), format!("clk\n{}\n", clks[1])).unwrap();
    let o = run(
        &["link", "--left", "a.csv", "--right", "b.csv", "--output", "m.csv"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("a.csv: line 3, column `clk`"),
        "{}",
        stderr(&o)
    );
    // Different CLK lengths.
    std::fs::write(dir.path().join("c.csv"), "clk\nAAAAAAAAAAA=\n").unwrap();
    let o = run(
        &["link", "--left", "b.csv", "--right", "c.csv", "--output", "m.csv"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("differ in length"), "{}", stderr(&o));
    // No usable column.
    std::fs::write(dir.path().join("d.csv"), "name\nx\n").unwrap();
    let o = run(
        &["link", "--left", "b.csv", "--right", "d.csv", "--output", "m.csv"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    // Tokens under different keys, by their manifests.
    std::fs::write(dir.path().join("t.csv"), format!("token\n{}\n", tok(0))).unwrap();
    for (f, fp) in [("b.csv", "0000000000000001"), ("a.csv", "0000000000000002")] {
        // A real manifest naming that key: from a filter built under it.
        let o = run(
            &[
                "filter",
                "build",
                "--tokens",
                "t.csv",
                "--fpr",
                "0.01",
                "--fingerprint",
                fp,
                "--output",
                &format!("{fp}.tlbf"),
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::copy(
            dir.path().join(format!("{fp}.tlbf.manifest.json")),
            dir.path().join(format!("{f}.manifest.json")),
        )
        .unwrap();
    }
    let o = run(
        &["link", "--left", "a.csv", "--right", "b.csv", "--output", "m.csv"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("0000000000000002") && stderr(&o).contains("0000000000000001"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("m.csv").exists());
}

/// Issue 20: with no `--threshold`, `link` fits the match model on keyed
/// blocking and match keys, writes each match's probability and evidence,
/// and records the fitted weights and decision rule in the manifest;
/// `--threshold` restores a fixed Dice threshold. `evaluate` reports F1 by
/// evidence type.
#[test]
fn model_with_match_keys_reports_probabilities_and_weights() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures();
    std::fs::write(dir.path().join("secret.txt"), "synthetic-test-secret\n").unwrap();
    for (input, out) in [("synth/registry.csv", "reg.csv"), ("synth/cohort.csv", "coh.csv")] {
        let o = run(
            &[
                "encode",
                "--schema",
                f.join("linkage/schema_matchkeys.json").to_str().unwrap(),
                "--secret-file",
                "secret.txt",
                "--input",
                f.join(input).to_str().unwrap(),
                "--output",
                out,
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let truth = f.join("synth/truth_registry.csv");
    let o = run(
        &[
            "link",
            "--left",
            "reg.csv",
            "--right",
            "coh.csv",
            "--output",
            "m.csv",
            "--truth",
            truth.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let f1: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("f1 "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(f1 >= 0.95, "{out}");
    let m = std::fs::read_to_string(dir.path().join("m.csv")).unwrap();
    assert!(m.starts_with("left,right,method,score,probability,evidence\n"));
    for line in m.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let p: f64 = cols[4].parse().unwrap();
        assert!((0.5..=1.0).contains(&p), "{line}");
        assert!(["nhs", "keys", "clk"].contains(&cols[5]), "{line}");
    }
    let man: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.csv.manifest.json")).unwrap())
            .unwrap();
    let link = &man["extra"]["link"];
    assert_eq!(link["rule"], "model", "{link}");
    let fields = link["model"]["fields"].as_array().unwrap();
    assert_eq!(fields[0]["field"], "dice");
    assert!(fields.iter().any(|f| f["field"] == "match_keys"));
    for f in fields {
        let w: Vec<f64> = f["weights_bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert!(w.windows(2).skip(1).all(|p| p[1] >= p[0]), "{f}");
    }
    // A fixed threshold overrides the model.
    let o = run(
        &[
            "link",
            "--left",
            "reg.csv",
            "--right",
            "coh.csv",
            "--output",
            "t.csv",
            "--threshold",
            "0.85",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let man: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("t.csv.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(man["extra"]["link"]["rule"], "fixed");
    assert_eq!(man["extra"]["link"]["dice_threshold"], 0.85);
    let o = run(
        &[
            "evaluate",
            "--matches",
            "m.csv",
            "--truth",
            truth.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("evidence_keys precision"), "{}", stdout(&o));
}

/// With keyed field encodings (`fixtures/linkage/schema_fields.json`) the
/// model weighs each field (name filters compared both ways, DOB, postcode,
/// sex): u from random pairs, the prior over all pairs; the weights and the
/// threshold are printed and in the manifest, every match has a probability
/// and evidence `fields`.
#[test]
fn model_with_field_encodings_weighs_each_field() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures();
    std::fs::write(dir.path().join("secret.txt"), "synthetic-test-secret\n").unwrap();
    for (input, out) in [("synth/registry.csv", "reg.csv"), ("synth/cohort.csv", "coh.csv")] {
        let o = run(
            &[
                "encode",
                "--schema",
                f.join("linkage/schema_fields.json").to_str().unwrap(),
                "--secret-file",
                "secret.txt",
                "--input",
                f.join(input).to_str().unwrap(),
                "--output",
                out,
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let cell = std::fs::read_to_string(dir.path().join("reg.csv")).unwrap();
    assert!(cell.contains("fb_name_given=") && cell.contains("fk_dob_3_even="));
    let truth = f.join("synth/truth_registry.csv");
    let args = [
        "link",
        "--left",
        "reg.csv",
        "--right",
        "coh.csv",
        "--output",
        "m.csv",
        "--truth",
        truth.to_str().unwrap(),
    ];
    let o = run(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("match probability >= 0.5") && err.contains("over all pairs"),
        "{err}"
    );
    assert!(err.contains("  dob: missing +0.0, different "), "{err}");
    let f1: f64 = stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("f1 "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(f1 >= 0.97, "{}", stdout(&o));
    let m = std::fs::read_to_string(dir.path().join("m.csv")).unwrap();
    assert!(m.lines().count() > 10);
    for line in m.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let p: f64 = cols[4].parse().unwrap();
        assert!((0.5..=1.0).contains(&p), "{line}");
        assert_eq!(cols[5], "fields", "{line}");
    }
    let man: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.csv.manifest.json")).unwrap())
            .unwrap();
    let model = &man["extra"]["link"]["model"];
    assert_eq!(model["prior_is_over"], "all pairs", "{model}");
    let names: Vec<&str> = model["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["name_family", "name_given", "dob", "postcode", "sex"]);
    // Field items are evidence, never blocking passes.
    let passes = man["extra"]["link"]["passes"].as_array().unwrap();
    assert!(
        passes.iter().all(|p| {
            let p = p.as_str().unwrap();
            !p.starts_with("fb_") && !p.starts_with("fk_")
        }),
        "{passes:?}"
    );
}
