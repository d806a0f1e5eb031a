//! `trialink study` integration tests: the study register and its
//! append-only history.

use crate::common;
use common::*;
use std::path::Path;

fn example() -> String {
    std::fs::read_to_string(fixtures().join("studies/example.toml")).unwrap()
}

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "exit {:?}: {}", o.status.code(), stderr(o));
    stdout(o)
}

#[test]
fn add_show_list_update_close_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s.sqlite");
    let s = p(&store);
    let ex = fixtures().join("studies/example.toml");
    let o = run(&["study", "add", "--store", s, "--operator", "alice", p(&ex)]);
    assert!(ok(&o).contains("study trial-001: added by alice"));

    let second = d.join("second.toml");
    std::fs::write(
        &second,
        example()
            .replace("trial-001", "trial-000")
            .replace("Example Clinical Trials Unit", "Second Unit"),
    )
    .unwrap();
    ok(&run(&[
        "study",
        "add",
        "--store",
        s,
        "--operator",
        "alice",
        p(&second),
    ]));

    let listed = ok(&run(&["study", "list", "--store", s]));
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    assert!(lines[0].starts_with("study\tstatus"));
    assert_eq!(
        lines[1],
        "trial-000\topen\t1\t2027-03-31\t2032-12-31\tnhs-notification,service-mailer\tSecond Unit"
    );
    assert!(lines[2].starts_with("trial-001\topen\t1\t"));

    // Update: add section 251 support and route 4.
    let updated = d.join("updated.toml");
    std::fs::write(
        &updated,
        example()
            .replace("# section_251_reference = ", "section_251_reference = ")
            .replace(
                "routes = [\"service-mailer\", \"nhs-notification\"]",
                "routes = [\"service-mailer\", \"organisation\"]",
            ),
    )
    .unwrap();
    ok(&run(&[
        "study",
        "update",
        "--store",
        s,
        "--operator",
        "bob",
        p(&updated),
    ]));
    let o = run(&["study", "close", "--store", s, "--operator", "carol", "trial-001"]);
    assert!(ok(&o).contains("closed by carol"));

    let shown = ok(&run(&["study", "show", "--store", s, "trial-001"]));
    for want in [
        "study                  trial-001",
        "status                 closed",
        "section_251_reference  24/CAG/0002",
        "routes                 service-mailer (2), organisation (4)",
        "channels               postal, email",
        "dsa_expires            2027-03-31",
        "history (3 changes, append-only):",
    ] {
        assert!(shown.contains(want), "lacks {want:?}:\n{shown}");
    }
    let hist: Vec<Vec<&str>> = shown
        .lines()
        .skip_while(|l| !l.starts_with("history"))
        .skip(2)
        .map(|l| l.trim().split('\t').collect())
        .collect();
    assert_eq!(hist.len(), 3, "{shown}");
    let cols = |i: usize| (hist[i][1], hist[i][2], hist[i][4], hist[i][5], hist[i][6]);
    assert_eq!(cols(0), ("1", "add", "alice", "open", "-"));
    assert_eq!(
        cols(1),
        (
            "2",
            "update",
            "bob",
            "open",
            "approvals.section_251_reference,routes"
        )
    );
    assert_eq!(cols(2), ("3", "close", "carol", "closed", "status"));

    // A closed study cannot change.
    let o = run(&["study", "update", "--store", s, "--operator", "bob", p(&updated)]);
    assert_error(&o, "closed", &[]);
    let o = run(&["study", "close", "--store", s, "--operator", "bob", "trial-001"]);
    assert_error(&o, "closed", &[]);
    let again = ok(&run(&["study", "show", "--store", s, "trial-001"]));
    assert_eq!(again, shown, "a refused change altered the entry or its history");
}

#[test]
fn history_cannot_be_edited_through_the_tool() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s.sqlite");
    let s = p(&store);
    let ex = fixtures().join("studies/example.toml");
    ok(&run(&[
        "study",
        "add",
        "--store",
        s,
        "--operator",
        "alice",
        p(&ex),
    ]));
    let before = ok(&run(&["study", "show", "--store", s, "trial-001"]));

    // Adding again does not overwrite the entry or its history.
    let o = run(&["study", "add", "--store", s, "--operator", "mallory", p(&ex)]);
    assert_error(&o, "already in the register", &[]);
    // Changes need an operator; an empty one is refused.
    let o = run(&["study", "close", "--store", s, "trial-001"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--operator"), "{}", stderr(&o));
    let o = run(&["study", "close", "--store", s, "--operator", "", "trial-001"]);
    assert_error(&o, "operator", &[]);
    // There is no subcommand that edits or deletes history.
    for sub in ["delete", "edit", "history", "purge-history"] {
        let o = run(&["study", sub, "--store", s, "trial-001"]);
        assert_eq!(o.status.code(), Some(2), "{sub}: {}", stderr(&o));
    }
    // Unknown studies are errors, not empty output.
    let o = run(&["study", "show", "--store", s, "nope"]);
    assert_error(&o, "nope is not in the register", &[]);
    let o = run(&["study", "close", "--store", s, "--operator", "bob", "nope"]);
    assert_error(&o, "not in the register", &[]);

    let after = ok(&run(&["study", "show", "--store", s, "trial-001"]));
    assert_eq!(after, before);
    assert!(after.contains("history (1 changes, append-only):"));
}

#[test]
fn bad_toml_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s.sqlite");
    let s = p(&store);
    let f = d.join("bad.toml");
    for (bad, key) in [
        (
            example().replace("[approvals]", "colour = \"red\"\n[approvals]"),
            "colour",
        ),
        (
            example().replace("dsa_expires = \"2027-03-31\"\n", ""),
            "dsa_expires",
        ),
        (
            example().replace("\"nhs-notification\"]", "\"pigeon\"]"),
            "routes[2]",
        ),
        (
            example().replace("dsa_expires = \"2027-03-31\"", "dsa_expires = \"2027-02-30\""),
            "approvals.dsa_expires",
        ),
        (
            example().replace("registry_basis = \"consent\"", "registry_basis = \"section-251\""),
            "approvals.registry_basis",
        ),
        (
            example().replace("channels = [\"postal\", \"email\"]", "channels = []"),
            "channels",
        ),
        ("study = [\n".to_string(), "bad.toml:"),
    ] {
        std::fs::write(&f, &bad).unwrap();
        let o = run(&["study", "add", "--store", s, "--operator", "alice", p(&f)]);
        assert_error(&o, key, &[]);
        assert!(stderr(&o).contains("bad.toml"), "{}", stderr(&o));
    }
    // Nothing was created by the refused adds.
    assert!(!store.exists(), "a refused add created the store");
    let o = run(&[
        "study",
        "add",
        "--store",
        s,
        "--operator",
        "alice",
        p(&d.join("missing.toml")),
    ]);
    assert_error(&o, "missing.toml", &[]);
}

#[test]
fn invite_refuses_a_route_the_register_does_not_permit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s.sqlite");
    let s = p(&store);
    let key = master_key(d);
    let ex = fixtures().join("studies/example.toml");
    ok(&run(&[
        "study",
        "add",
        "--store",
        s,
        "--operator",
        "alice",
        p(&ex),
    ]));
    let req = d.join("req.toml");
    std::fs::write(
        &req,
        "study = \"trial-001\"\nroute = \"organisation\"\nchannel = \"postal\"\ninvitations = 5\nseed = 1\nas_of = \"2026-11-21\"\nqa_seeds = 0\n[[arms]]\nname = \"A\"\ntemplate = \"t\"\n",
    )
    .unwrap();
    let out = d.join("out");
    let o = run(&[
        "invite",
        "--store",
        s,
        "--key",
        p(&key),
        "--cohort",
        p(&d.join("cohort.csv")),
        "--request",
        p(&req),
        "--out",
        p(&out),
    ]);
    assert_error(&o, "does not permit output route organisation", &[]);
    assert!(
        stderr(&o).contains("permitted: nhs-notification,service-mailer"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists(), "a refused invite wrote {}", out.display());
}

/// Route 1 (the NHS notification service) through the CLI: the batch holds
/// the reference, the template and the NHS number, and nothing else.
#[test]
fn route_1_batch_is_reference_template_and_nhs_number_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s.sqlite");
    let s = p(&store);
    let key = master_key(d);
    ok(&run(&[
        "synth",
        "--people",
        "2000",
        "--seed",
        "3",
        "--as-of",
        "2026-11-21",
        "--out",
        p(&d.join("synth")),
    ]));
    // The fixture's agreement expires in 2027: a test must not expire with it.
    let ex = d.join("study.toml");
    std::fs::write(
        &ex,
        std::fs::read_to_string(fixtures().join("studies/example.toml"))
            .unwrap()
            .replace("dsa_expires = \"2027-03-31\"", "dsa_expires = \"2099-12-31\""),
    )
    .unwrap();
    ok(&run(&[
        "study",
        "add",
        "--store",
        s,
        "--operator",
        "alice",
        p(&ex),
    ]));
    let req = d.join("req.toml");
    std::fs::write(
        &req,
        "study = \"trial-001\"\nroute = \"nhs-notification\"\nchannel = \"postal\"\ninvitations = 50\nseed = 1\nas_of = \"2026-11-21\"\nqa_seeds = 0\n[[arms]]\nname = \"A\"\ntemplate = \"nhs-app-a\"\n",
    )
    .unwrap();
    let out = d.join("out");
    let o = ok(&run(&[
        "invite",
        "--store",
        s,
        "--key",
        p(&key),
        "--cohort",
        p(&d.join("synth/cohort.csv")),
        "--request",
        p(&req),
        "--out",
        p(&out),
    ]));
    assert!(o.contains("route nhs-notification"), "{o}");
    let text = std::fs::read_to_string(out.join("invitations.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("reference,template,nhs_number"));
    let cohort = std::fs::read_to_string(d.join("synth/cohort.csv")).unwrap();
    let mut n = 0;
    for l in lines {
        let cells: Vec<&str> = l.split(',').collect();
        assert_eq!(cells.len(), 3);
        assert_eq!(cells[1], "nhs-app-a");
        assert!(
            cells[2].len() == 10
                && cells[2].bytes().all(|b| b.is_ascii_digit())
                && cells[2].starts_with("999"),
            "an NHS number in normal form from the test range"
        );
        assert!(cohort.contains(cells[2]), "the NHS number comes from the cohort");
        n += 1;
    }
    assert_eq!(n, 50);
    // No name, address, postcode, phone or email of anyone in the cohort.
    let mut r = csv::Reader::from_path(d.join("synth/cohort.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let cols: Vec<usize> = [
        "family_name",
        "address_line_1",
        "postcode",
        "mobile",
        "email",
        "date_of_birth",
    ]
    .iter()
    .map(|c| h.iter().position(|x| x == *c).unwrap())
    .collect();
    for rec in r.records() {
        let rec = rec.unwrap();
        for &c in &cols {
            let v = &rec[c];
            if v.len() >= 4 {
                assert!(!text.contains(v), "route 1 batch carries a contact detail or DOB");
            }
        }
    }
    let summary = std::fs::read_to_string(out.join("selection-summary.json")).unwrap();
    assert!(summary.contains("\"route\": \"nhs-notification\""), "{summary}");
}
