//! `trialink audit` integration tests.

use crate::common;
use common::*;

fn p(x: &std::path::Path) -> String {
    x.to_str().unwrap().to_string()
}

#[test]
fn audit_passes_on_what_report_writes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    for policy in ["nhs-hes", "opensafely", "threshold-10"] {
        let _ = std::fs::remove_dir_all(&out);
        let o = run(&[
            "report",
            "--input",
            &p(&fixtures().join("disclosure/report_input.json")),
            "--out",
            &p(&out),
            "--policy",
            policy,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = run(&["audit", "--report", &p(&out), "--policy", policy]);
        assert_eq!(o.status.code(), Some(0), "{policy}: {}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).contains("audit passed"));
        // --json is machine-readable
        let o = run(&["audit", "--report", &p(&out), "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(v["suppressed_cells"].as_u64().unwrap() > 0);
    }
}

#[test]
fn audit_fails_on_an_unprotected_table() {
    let o = run(&[
        "audit",
        "--table",
        &p(&fixtures().join("disclosure/unsafe_table.csv")),
        "--policy",
        "threshold-10",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("UNSAFE") && stdout(&o).contains("[3, 3]"),
        "{}",
        stdout(&o)
    );
    let o = run(&[
        "audit",
        "--table",
        &p(&fixtures().join("disclosure/safe_table.csv")),
        "--policy",
        "threshold-10",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn audit_fails_on_an_edited_report() {
    // Publish one secondary-suppressed cell with its true value: the primary
    // cell it protected becomes recoverable, and the audit must say so.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let policy = disclosure::Policy::builtin("threshold-10").unwrap();
    let text = std::fs::read_to_string(fixtures().join("disclosure/report_input.json")).unwrap();
    let input: reports::ReportInput = serde_json::from_str(&text).unwrap();
    let report = reports::build(&input, &policy, &[], reports::Options::default()).unwrap();
    reports::write_report(&report, &out, reports::Formats::default()).unwrap();
    let o = run(&["audit", "--report", &p(&out), "--policy", "threshold-10"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let mut release = report.release();
    let (t, i, j, v) = report
        .protected
        .tables
        .iter()
        .enumerate()
        .find_map(|(t, pt)| {
            (0..pt.spec.grid_rows()).find_map(|i| {
                (0..pt.spec.grid_columns()).find_map(|j| {
                    (pt.status[i][j] == disclosure::CellStatus::Secondary
                        && !pt.spec.shared_positions().iter().any(|(pos, _)| *pos == (i, j)))
                    .then(|| (t, i, j, pt.true_grid[i][j]))
                })
            })
        })
        .expect("the fixture needs secondary suppression in an unshared cell");
    release.tables[t].cells[i][j] = disclosure::Published::Count(v);
    std::fs::write(out.join("tables.json"), serde_json::to_string(&release).unwrap()).unwrap();
    let o = run(&["audit", "--report", &p(&out), "--policy", "threshold-10"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("UNSAFE"));
}

#[test]
fn audit_errors_name_file_and_position() {
    let o = run(&[
        "audit",
        "--table",
        &p(&fixtures().join("disclosure/bad_table.csv")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("bad_table.csv: line 3, column 2") && !e.contains("seven"),
        "{e}"
    );
    let o = run(&["audit", "--report", "/nonexistent/dir"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[
        "audit",
        "--table",
        &p(&fixtures().join("disclosure/safe_table.csv")),
        "--policy",
        "no-such-policy",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a built-in policy"));
    let o = run(&["audit"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn audit_accepts_a_policy_file() {
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("p.toml");
    std::fs::write(
        &pol,
        "name = \"strict\"\n[suppress]\nmax = 10\n[protect]\nmin_width = 30\n",
    )
    .unwrap();
    let o = run(&[
        "audit",
        "--table",
        &p(&fixtures().join("disclosure/safe_table.csv")),
        "--policy",
        &p(&pol),
    ]);
    // B + C = 15 with both at least 1: each in [1, 14], narrower than 30
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    std::fs::write(&pol, "name = \"strict\"\n[suppress]\nmax = 10\nmaximum = 3\n").unwrap();
    let o = run(&[
        "audit",
        "--table",
        &p(&fixtures().join("disclosure/safe_table.csv")),
        "--policy",
        &p(&pol),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("p.toml:4:") && stderr(&o).contains("maximum"),
        "{}",
        stderr(&o)
    );
}
