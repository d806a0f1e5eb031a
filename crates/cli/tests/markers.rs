//! Issue 15: no value from an input CSV reaches stdout, stderr or any file
//! a command writes other than its intended output. Every CSV-reading
//! command gets files whose every cell is a distinctive marker (good rows,
//! broken rows, a headerless file, a wrong delimiter, an unclosed quote);
//! the test fails on any marker found outside the intended output.
//! Also the CLI regression tests of issue 15's items 1, 2, 3, 5, 6 and 7.

use crate::common;
use common::*;
use std::path::{Path, PathBuf};

const AS_OF: &str = "2026-11-21";

/// Columns every command looks for; each row carries a marker in each.
const HEADER: &[&str] = &[
    "nhs_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "postcode",
    "email",
    "ref",
    "token",
    "left",
    "right",
    "reference",
    "status",
    "reason",
    "date",
];

/// A row of markers, `n` making each distinct. NHS number and date of birth
/// are valid (so the row passes the identifier checks when `good`), and
/// still distinctive.
fn row(n: usize, good: bool) -> Vec<String> {
    let nhs = ["9991335056", "9990864950", "9990000018"][n % 3].to_string();
    let dob = format!("1961-0{}-1{}", 1 + n % 9, n % 10);
    let m = |c: &str| format!("Qz{c}Mk{n}x");
    vec![
        if good { nhs } else { format!("99913{n}QzNhs") },
        m("Given"),
        m("Family"),
        if good { dob } else { m("Dob") },
        m("Sex"),
        m("Post"),
        format!("qz{n}mk@example.org"),
        m("Ref"),
        m("Token"),
        m("Left"),
        m("Right"),
        m("Reference"),
        m("Status"),
        m("Reason"),
        m("Date"),
    ]
}

/// Every marker value the files below carry (rows 0..10, good and bad).
fn markers() -> Vec<String> {
    let mut v = Vec::new();
    for n in 0..10 {
        for good in [true, false] {
            v.extend(row(n, good));
        }
    }
    v.push("QzRaggedMk".into());
    v.push("QzUnclosedMk".into());
    v.push("QzFormulaMk".into());
    v.sort();
    v.dedup();
    v
}

/// The input files: (name, contents).
fn inputs() -> Vec<(&'static str, String)> {
    let join = |r: Vec<String>, d: &str| r.join(d) + "\n";
    let header = HEADER.join(",") + "\n";
    let mut good = header.clone();
    for n in 0..4 {
        good += &join(row(n, true), ",");
    }
    let mut broken = header.clone();
    broken += &join(row(4, true), ",");
    broken += &join(row(5, false), ",");
    broken += "QzRaggedMk,QzRaggedMk\n";
    let mut f = row(6, false);
    f[1] = "=QzFormulaMk()".into();
    broken += &join(f, ",");
    let mut headerless = String::new();
    for n in 0..3 {
        headerless += &join(row(n, true), ",");
    }
    let mut semicolon = HEADER.join(";") + "\n";
    for n in 7..9 {
        semicolon += &join(row(n, true), ";");
    }
    let mut unclosed = header.clone();
    unclosed += &join(row(1, true), ",");
    let mut u = row(2, true);
    u[1] = "\"QzUnclosedMk text".into();
    unclosed += &join(u, ",");
    for n in 3..10 {
        unclosed += &join(row(n, true), ",");
    }
    vec![
        ("good.csv", good),
        ("broken.csv", broken),
        ("headerless.csv", headerless),
        ("semicolon.csv", semicolon),
        ("unclosed.csv", unclosed.replace('\n', "\r\n")),
    ]
}

struct World {
    _tmp: tempfile::TempDir,
    master: PathBuf,
    registry: PathBuf,
    request: PathBuf,
    /// A store with invitations for study `mk-1` (for uptake and returns).
    store: PathBuf,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let master = master_key(d);
    let registry = scope_key(d, "registry:markers", "registry.key");
    let request = d.join("req.toml");
    std::fs::write(
        &request,
        "study = \"mk-1\"\nchannel = \"postal\"\ninvitations = 5\nseed = 1\nas_of = \"2026-11-21\"\nqa_seeds = 0\n[[arms]]\nname = \"A\"\ntemplate = \"t\"\n",
    )
    .unwrap();
    let store = d.join("base.sqlite");
    create_store(&store, &master);
    let o = run(&[
        "invite",
        "--store",
        store.to_str().unwrap(),
        "--key",
        master.to_str().unwrap(),
        "--cohort",
        fixtures().join("synth/cohort.csv").to_str().unwrap(),
        "--request",
        request.to_str().unwrap(),
        "--out",
        d.join("b").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    World {
        _tmp: tmp,
        master,
        registry,
        request,
        store,
    }
}

/// (label, args given input path and run dir, intended output path in dir).
type Cmd = (
    &'static str,
    fn(&World, &str, &Path) -> Vec<String>,
    Option<&'static str>,
);

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn commands() -> Vec<Cmd> {
    vec![
        (
            "pseudonymise",
            |w, f, d| {
                let v = ["pseudonymise", "--key", &s(&w.registry), "--input", f, "--output"];
                let mut v: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                v.extend([s(&d.join("out.csv")), "--as-of".into(), AS_OF.into()]);
                v
            },
            Some("out.csv"),
        ),
        (
            "noncontact add",
            |w, f, d| {
                vec![
                    "noncontact".into(),
                    "add".into(),
                    "--store".into(),
                    s(&d.join("s.sqlite")),
                    "--key".into(),
                    s(&w.master),
                    "--input".into(),
                    f.into(),
                    "--as-of".into(),
                    AS_OF.into(),
                    "--rejects".into(),
                    s(&d.join("nc.rejects.csv")),
                    "--manifest".into(),
                    s(&d.join("nc.manifest.json")),
                ]
            },
            None,
        ),
        (
            "invite --cohort",
            |w, f, d| {
                vec![
                    "invite".into(),
                    "--store".into(),
                    s(&d.join("s.sqlite")),
                    "--key".into(),
                    s(&w.master),
                    "--cohort".into(),
                    f.into(),
                    "--request".into(),
                    s(&w.request),
                    "--out".into(),
                    s(&d.join("batch")),
                ]
            },
            // The batch carries the contact details it exists to carry.
            Some("batch/invitations.csv"),
        ),
        (
            "encode",
            |w, f, d| {
                vec![
                    "encode".into(),
                    "--schema".into(),
                    s(&fixtures().join("vectors/clk_schema_blake.json")),
                    "--key".into(),
                    s(&w.registry),
                    "--input".into(),
                    f.into(),
                    "--output".into(),
                    s(&d.join("clk.csv")),
                ]
            },
            Some("clk.csv"),
        ),
        (
            "filter build",
            |_, f, d| {
                vec![
                    "filter".into(),
                    "build".into(),
                    "--tokens".into(),
                    f.into(),
                    "--fpr".into(),
                    "0.01".into(),
                    "--output".into(),
                    s(&d.join("f.tlbf")),
                ]
            },
            Some("f.tlbf"),
        ),
        (
            "link",
            |_, f, d| {
                vec![
                    "link".into(),
                    "--left".into(),
                    f.into(),
                    "--right".into(),
                    f.into(),
                    "--output".into(),
                    s(&d.join("l.csv")),
                ]
            },
            Some("l.csv"),
        ),
        (
            "evaluate",
            |_, f, _| {
                vec![
                    "evaluate".into(),
                    "--matches".into(),
                    f.into(),
                    "--truth".into(),
                    f.into(),
                ]
            },
            None,
        ),
        (
            "uptake",
            |w, f, d| {
                std::fs::copy(&w.store, d.join("s.sqlite")).unwrap();
                vec![
                    "uptake".into(),
                    "--store".into(),
                    s(&d.join("s.sqlite")),
                    "--key".into(),
                    s(&w.master),
                    "--study".into(),
                    "mk-1".into(),
                    "--input".into(),
                    f.into(),
                ]
            },
            None,
        ),
        (
            "returns",
            |w, f, d| {
                std::fs::copy(&w.store, d.join("s.sqlite")).unwrap();
                vec![
                    "returns".into(),
                    "--store".into(),
                    s(&d.join("s.sqlite")),
                    "--input".into(),
                    f.into(),
                ]
            },
            None,
        ),
    ]
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn no_marker_leaves_through_messages_or_side_files() {
    let w = world();
    let marks = markers();
    let mut leaks = Vec::new();
    let mut runs = 0;
    for (label, args, intended) in commands() {
        for (name, text) in inputs() {
            // The input lives in its own directory (sidecars beside it are
            // scanned too); the command's outputs go to `out/`.
            let run_dir = tempfile::tempdir().unwrap();
            let in_dir = run_dir.path().join("in");
            let out_dir = run_dir.path().join("out");
            std::fs::create_dir_all(&in_dir).unwrap();
            std::fs::create_dir_all(&out_dir).unwrap();
            let input = in_dir.join(name);
            std::fs::write(&input, &text).unwrap();
            let a = args(&w, &s(&input), &out_dir);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let o = run(&a);
            runs += 1;
            let mut places = vec![
                ("stdout".to_string(), o.stdout.clone()),
                ("stderr".to_string(), o.stderr.clone()),
            ];
            let mut files = Vec::new();
            walk(run_dir.path(), &mut files);
            for f in files {
                if f == input || intended.is_some_and(|i| f == out_dir.join(i)) {
                    continue;
                }
                places.push((f.display().to_string(), std::fs::read(&f).unwrap()));
            }
            for (place, bytes) in places {
                let text = String::from_utf8_lossy(&bytes);
                for m in &marks {
                    if text.contains(m.as_str()) {
                        leaks.push(format!("{label} on {name}: `{m}` in {place}"));
                    }
                }
            }
        }
    }
    assert_eq!(runs, commands().len() * inputs().len());
    assert!(leaks.is_empty(), "markers leaked:\n{}", leaks.join("\n"));
}

fn objections(n: usize, unclosed_at: Option<usize>, eol: &str) -> String {
    let nhs = ["9991335056", "9990864950", "9990000018"];
    let mut t = format!("nhs_number,date_of_birth,comment{eol}");
    for i in 0..n {
        let c = if Some(i) == unclosed_at {
            "\"Please do not contact me"
        } else {
            "ok"
        };
        t += &format!("{},1961-02-1{},{c}{eol}", nhs[i % 3], i % 10);
    }
    t
}

fn noncontact(d: &Path, master: &Path, input: &Path, extra: &[&str]) -> std::process::Output {
    let mut a = vec![
        "noncontact".to_string(),
        "add".into(),
        "--create".into(),
        "--store".into(),
        s(&d.join("s.sqlite")),
        "--key".into(),
        s(master),
        "--input".into(),
        s(input),
        "--as-of".into(),
        AS_OF.into(),
    ];
    a.extend(extra.iter().map(|x| x.to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    run(&a)
}

/// Issue 15 item 1: an unclosed quote on row 2 of 50 is an error at its
/// line, not "added 2 (of 2 rows)"; nothing is recorded.
#[test]
fn unclosed_quote_is_an_error_not_a_short_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let master = master_key(d);
    let f = d.join("objections.csv");
    std::fs::write(&f, objections(50, Some(1), "\n")).unwrap();
    let o = noncontact(d, &master, &f, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o)
            .contains("objections.csv: line 3 (record 2): a quoted field opens here and is never closed"),
        "{}",
        stderr(&o)
    );
    assert!(!stdout(&o).contains("added"), "{}", stdout(&o));
    assert!(!d.join("s.sqlite").exists(), "the store was touched");
    assert!(!stderr(&o).contains("Please"), "{}", stderr(&o));
    // pseudonymise: no output, same error.
    let key = scope_key(d, "registry:q", "r.key");
    let out = d.join("t.csv");
    let o = run(&[
        "pseudonymise",
        "--key",
        &s(&key),
        "--input",
        &s(&f),
        "--output",
        &s(&out),
        "--as-of",
        AS_OF,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("line 3 (record 2)"), "{}", stderr(&o));
    assert!(!out.exists());
    // Closed, all 50 rows are accounted for.
    std::fs::write(&f, objections(50, None, "\n")).unwrap();
    let o = noncontact(d, &master, &f, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("rejected 0 (of 50 rows)"), "{}", stdout(&o));
}

/// Issue 15 item 2: a headerless file's first row is described by column
/// numbers, never its cells (pseudonymise, noncontact add, encode).
#[test]
fn headerless_first_row_is_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let master = master_key(d);
    let key = scope_key(d, "registry:q", "r.key");
    let f = d.join("nohead.csv");
    std::fs::write(
        &f,
        "9991335056,Zebedee,Quixotic-Marker,female,Flat 9 Marker House,Chelmsford,CM3 1GS\n",
    )
    .unwrap();
    let cells = [
        "9991335056",
        "Zebedee",
        "Quixotic",
        "female",
        "Flat 9",
        "Chelmsford",
        "CM3",
    ];
    let outs = [
        run(&[
            "pseudonymise",
            "--key",
            &s(&key),
            "--input",
            &s(&f),
            "--output",
            &s(&d.join("o.csv")),
        ]),
        noncontact(d, &master, &f, &[]),
        run(&[
            "encode",
            "--schema",
            &s(&fixtures().join("vectors/clk_schema_blake.json")),
            "--key",
            &s(&key),
            "--input",
            &s(&f),
            "--output",
            &s(&d.join("c.csv")),
        ]),
    ];
    for o in outs {
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let e = stderr(&o) + &stdout(&o);
        assert!(e.contains("is the header row missing?"), "{e}");
        for c in cells {
            assert!(!e.contains(c), "{c} in {e}");
        }
    }
}

/// Issue 15 item 3: CRLF line numbers are exact in rejects and errors.
#[test]
fn crlf_line_numbers_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let master = master_key(d);
    let f = d.join("crlf.csv");
    // Line 4 has an NHS number that fails its check digit (a bad date of
    // birth alone no longer rejects an objection); line 5 is fine.
    let mut t = objections(2, None, "\r\n");
    t += "9991335057,1961-02-11,ok\r\n9990864950,1961-02-11,ok\r\n";
    std::fs::write(&f, &t).unwrap();
    let o = noncontact(d, &master, &f, &["--allow-rejects"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = std::fs::read_to_string(d.join("crlf.csv.rejects.csv")).unwrap();
    assert_eq!(r.lines().nth(1).unwrap().split(',').next(), Some("4"), "{r}");
    // Lone CR too, and errors: the unclosed quote opens on line 3.
    std::fs::write(&f, objections(5, Some(1), "\r")).unwrap();
    let o = noncontact(d, &master, &f, &["--force"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("line 3 (record 2)"), "{}", stderr(&o));
}

/// Issue 15 item 5: an endless or huge row fails fast at the record limit.
#[test]
fn unbounded_rows_fail_at_the_record_limit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = scope_key(d, "registry:q", "r.key");
    let t = std::time::Instant::now();
    let o = run(&[
        "pseudonymise",
        "--key",
        &s(&key),
        "--input",
        "/dev/zero",
        "--output",
        &s(&d.join("o.csv")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/dev/zero: line 1 (record 0): the row is longer than 1048576 bytes"),
        "{}",
        stderr(&o)
    );
    assert!(t.elapsed().as_secs() < 30);
    // --max-record-bytes: a 5000-byte row with a limit of 1000.
    let f = d.join("long.csv");
    std::fs::write(
        &f,
        format!("nhs_number,date_of_birth\n9991335056,{}\n", "x".repeat(5000)),
    )
    .unwrap();
    let o = run(&[
        "pseudonymise",
        "--key",
        &s(&key),
        "--input",
        &s(&f),
        "--output",
        &s(&d.join("o.csv")),
        "--max-record-bytes",
        "1000",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("line 2 (record 1): the row is longer than 1000 bytes"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--max-record-bytes"), "{}", stderr(&o));
    // Whole-file inputs are capped: a 2 MiB study file, a schema from a device.
    let big = d.join("study.toml");
    std::fs::write(&big, "#".repeat(2 << 20)).unwrap();
    let o = run(&[
        "study",
        "add",
        "--store",
        &s(&d.join("s.sqlite")),
        "--operator",
        "T",
        &s(&big),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("larger than its 1 MiB limit"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "encode",
        "--schema",
        "/dev/zero",
        "--key",
        &s(&key),
        "--input",
        &s(&f),
        "--output",
        &s(&d.join("c.csv")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("must be a regular file, and this is a device"),
        "{}",
        stderr(&o)
    );
}

/// Issue 15 item 6: a FIFO as key, request or cohort is refused at once
/// (it used to hang `invite` with the store locked).
#[test]
fn fifos_are_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let master = master_key(d);
    let fifo = d.join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::fs::write(d.join("req.toml"), "study = \"f-1\"\nchannel = \"postal\"\ninvitations = 5\nseed = 1\n[[arms]]\nname = \"A\"\ntemplate = \"t\"\n").unwrap();
    let cohort = fixtures().join("synth/cohort.csv");
    for (which, key, request, cohort) in [
        ("key", fifo.clone(), d.join("req.toml"), cohort.clone()),
        ("request", master.clone(), fifo.clone(), cohort.clone()),
        ("cohort", master.clone(), d.join("req.toml"), fifo.clone()),
    ] {
        let mut c = bin();
        c.args([
            "invite",
            "--store",
            &s(&d.join("s.sqlite")),
            "--key",
            &s(&key),
            "--request",
            &s(&request),
            "--cohort",
            &s(&cohort),
            "--out",
            &s(&d.join("b")),
        ]);
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        let t = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if t.elapsed().as_secs() > 20 {
                child.kill().unwrap();
                panic!("invite waited on a FIFO as {which}");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{which}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("must be a regular file, and this is a pipe (FIFO)"),
            "{which}: {}",
            stderr(&o)
        );
    }
}

/// `audit --table` on a release JSON that is a FIFO or larger than the
/// report-JSON cap is refused at once (exit 2), never waited on or held.
#[test]
fn audit_release_json_is_bounded_and_regular() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("release.json");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut c = bin();
    c.args(["audit", "--table", &s(&fifo)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let t = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed().as_secs() > 20 {
            child.kill().unwrap();
            panic!("audit waited on a FIFO release");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("pipe (FIFO)"), "{}", stderr(&o));
    // A sparse file past the 256 MiB cap: refused by its length, not read.
    let big = d.join("big.json");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len((256 << 20) + 1).unwrap();
    let o = run(&["audit", "--table", &s(&big)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// Issue 15 item 7: `noncontact add` does not replace the earlier run's
/// rejects or manifest without --force, and records nothing when refused.
#[test]
fn noncontact_sidecars_are_not_replaced_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let master = master_key(d);
    let f = d.join("obj.csv");
    std::fs::write(&f, objections(3, None, "\n") + "9991335056,QzBad,ok\n").unwrap();
    let o = noncontact(d, &master, &f, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rejects = std::fs::read(d.join("obj.csv.rejects.csv")).unwrap();
    std::fs::write(&f, objections(3, None, "\n") + "9991000127,1961-02-11,ok\n").unwrap();
    let o = noncontact(d, &master, &f, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("obj.csv.rejects.csv: already exists"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(d.join("obj.csv.rejects.csv")).unwrap(), rejects);
    let count = |d: &Path| stdout(&run(&["noncontact", "count", "--store", &s(&d.join("s.sqlite"))]));
    assert_eq!(count(d).trim(), "3");
    let o = noncontact(d, &master, &f, &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(count(d).trim(), "4");
}
