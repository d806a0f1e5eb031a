//! Reports built from the fixture input: files, disclosure, escaping.

use disclosure::{audit, Policy, Published, Release};
use reports::{build, render, write_report, Formats, Options, ReportInput, ReportKind};

fn input() -> ReportInput {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/disclosure/report_input.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_report_passes_its_audit_and_shows_no_small_counts() {
    for name in disclosure::BUILTIN_POLICIES {
        let policy = Policy::builtin(name).unwrap();
        let r = build(&input(), &policy, &[], Options::default()).unwrap();
        assert_eq!(
            r.kinds(),
            vec![
                ReportKind::Selection,
                ReportKind::Uptake,
                ReportKind::Swat,
                ReportKind::Returns
            ]
        );
        let rel = r.release();
        for t in &rel.tables {
            for c in t.cells.iter().flatten() {
                if let Published::Count(v) = c {
                    // exempt (requested) columns hold quotas, not people
                    if t.spec.id != "selection_strata" {
                        assert!(!policy.is_small(*v), "{name}: {} shows {v}", t.spec.id);
                    }
                }
            }
        }
        assert!(rel.suppressed() > 0, "the fixture has small cells");
        let rep = audit(std::slice::from_ref(&rel), &policy).unwrap();
        assert!(rep.passed(), "{name}: {:?}", rep.failures().collect::<Vec<_>>());
    }
}

#[test]
fn writes_all_formats_and_a_readable_release() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy::default_policy();
    let r = build(&input(), &policy, &[], Options::default()).unwrap();
    let files = write_report(&r, dir.path(), Formats::default()).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "tables.json",
        "uptake_by_arm.csv",
        "statistics.csv",
        "selection.html",
        "uptake.md",
        "swat.html",
        "returns.html",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
    }
    let rel: Release =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("tables.json")).unwrap()).unwrap();
    assert_eq!(rel, r.release());
    // CSV cells agree with the release
    let csv = std::fs::read_to_string(dir.path().join("uptake_by_arm.csv")).unwrap();
    assert!(csv.starts_with("arm,invited,delivered,responded,enrolled\n"));
    assert!(csv.lines().last().unwrap().starts_with("Total,"));
    // HTML: self-contained, policy named, suppression count stated, charts present
    let html = std::fs::read_to_string(dir.path().join("swat.html")).unwrap();
    assert!(html.contains("nhs-hes") && html.contains("id=\"suppressed-count\""));
    assert!(html.matches("<svg").count() >= 2);
    assert!(
        !html.contains("<script") && !html.contains("http://") || html.contains("http://www.w3.org/2000/svg")
    );
    let sel = std::fs::read_to_string(dir.path().join("selection.html")).unwrap();
    assert!(sel.contains("class=\"chart hbar\"") && sel.contains("class=\"chart grouped\""));
    // deterministic
    let dir2 = tempfile::tempdir().unwrap();
    write_report(
        &build(&input(), &policy, &[], Options::default()).unwrap(),
        dir2.path(),
        Formats::default(),
    )
    .unwrap();
    for f in &names {
        assert_eq!(
            std::fs::read(dir.path().join(f)).unwrap(),
            std::fs::read(dir2.path().join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn statistics_are_withheld_where_cells_are_suppressed() {
    let policy = Policy::default_policy();
    let r = build(&input(), &policy, &[], Options::default()).unwrap();
    let sw = r.swat_comparisons().unwrap();
    let t = r.protected.table("swat_outcome").unwrap();
    for c in &sw.comparisons {
        let i = t.spec.row_index(&c.arm).unwrap();
        let ci = t.spec.row_index(&sw.control).unwrap();
        let publishable = [i, ci]
            .iter()
            .all(|&k| !t.published(k, 0).is_suppressed() && !t.published(k, 1).is_suppressed());
        assert_eq!(c.stats.is_some(), publishable, "{}", c.arm);
    }
    // C-sms has 5 enrolled: suppressed, so its comparison is withheld
    assert!(sw
        .comparisons
        .iter()
        .any(|c| c.arm == "C-sms" && c.stats.is_none()));
    let stats = render::statistics_csv(&r);
    assert!(stats.contains("withheld"));
}

#[test]
fn hostile_labels_are_escaped_and_neutralised() {
    let mut inp = input();
    let up = inp.uptake.as_mut().unwrap();
    up.breakdowns[1].rows[0].group = "<script>alert(1)</script>".into();
    up.breakdowns[1].rows[1].group = "=HYPERLINK(\"http://x\",\"y\")".into();
    inp.study = "S\"><img src=x onerror=alert(1)>".into();
    let r = build(&inp, &Policy::default_policy(), &[], Options::default()).unwrap();
    let html = render::html(&r, ReportKind::Uptake);
    assert!(!html.contains("<script>") && !html.contains("<img"));
    assert!(html.contains("&lt;script&gt;"));
    let t = r.protected.table("uptake_by_registry").unwrap();
    let csv = render::table_csv(t);
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""),
        "{csv}"
    );
    assert_eq!(render::csv_text("-1+2"), "'-1+2");
    assert_eq!(render::csv_text("@SUM(A1)"), "'@SUM(A1)");
    assert_eq!(render::csv_text("plain"), "plain");
    let md = render::markdown(&r, ReportKind::Uptake);
    assert!(!md.contains("<script>"));
}

#[test]
fn bad_input_names_the_field() {
    let mut inp = input();
    inp.selection.as_mut().unwrap().cohort += 1;
    let e = build(&inp, &Policy::default_policy(), &[], Options::default()).unwrap_err();
    assert!(e.to_string().contains("selection.cohort"), "{e}");
    let mut inp = input();
    inp.swat.as_mut().unwrap().control = "nope".into();
    assert!(build(&inp, &Policy::default_policy(), &[], Options::default())
        .unwrap_err()
        .to_string()
        .contains("swat.control"));
}

#[test]
fn second_weekly_release_is_audited_against_the_first() {
    let policy = Policy::default_policy();
    let first = build(&input(), &policy, &[], Options::default())
        .unwrap()
        .release();
    let mut week2 = input();
    // a few more enrolments in one arm
    let up = week2.uptake.as_mut().unwrap();
    up.breakdowns[0].rows[1].enrolled += 3;
    up.breakdowns[0].rows[1].responded += 3;
    for b in up.breakdowns.iter_mut().skip(1) {
        b.rows[0].enrolled += 3;
        b.rows[0].responded += 3;
    }
    week2.swat.as_mut().unwrap().arms[1].enrolled += 3;
    let second = build(&week2, &policy, std::slice::from_ref(&first), Options::default()).unwrap();
    assert_eq!(second.protected.sequence, 2);
    let rep = audit(&[first, second.release()], &policy).unwrap();
    assert!(rep.passed(), "{:?}", rep.failures().collect::<Vec<_>>());
}
