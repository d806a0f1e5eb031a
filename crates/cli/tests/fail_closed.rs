//! Issue 14: suppression fails closed — nobody who objected or is excluded
//! is invited, whatever the lists look like. Each test is one bullet of the
//! issue's first list, asserting the corrected behaviour.

use crate::common;
use common::*;
use proptest::prelude::*;
use std::path::Path;

/// The i-th valid NHS number in the 999 test block.
fn nhs(i: u32) -> String {
    let mut n = 999_100_000u64 + i as u64 * 13;
    loop {
        let d: Vec<u64> = format!("{n:09}").bytes().map(|b| (b - b'0') as u64).collect();
        let s: u64 = d.iter().enumerate().map(|(k, &x)| x * (10 - k as u64)).sum();
        let c = (11 - s % 11) % 11;
        if c != 10 {
            return format!("{n:09}{c}");
        }
        n += 1;
    }
}

const HEADER: &str = "nhs_number,given_name,family_name,date_of_birth,sex,ethnic_category,address_line_1,address_line_2,address_line_3,address_line_4,address_line_5,postcode,region,deceased,national_data_opt_out,s_flag,armed_forces,prison";

/// A cohort row for person `i`; `flags` = deceased, NDOP, S-flag, armed forces, prison.
fn row(i: u32, region: &str, flags: [bool; 5]) -> String {
    let f: Vec<&str> = flags.iter().map(|&b| if b { "1" } else { "0" }).collect();
    format!(
        "{},Given{i},Family{i},{},female,A,{i} High Street,,Leeds,,,LS1 {}AB,{region},{}",
        nhs(i),
        dob(i),
        i % 10,
        f.join(",")
    )
}

fn dob(i: u32) -> String {
    format!("19{:02}-{:02}-{:02}", 40 + i % 50, 1 + i % 12, 1 + i % 28)
}

fn request(dir: &Path, name: &str, study: &str, as_of: &str, extra: &str) -> String {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "study = \"{study}\"\nchannel = \"postal\"\ninvitations = 10000\nseed = 7\nas_of = \"{as_of}\"\nqa_seeds = 0\n{extra}\
             [[arms]]\nname = \"A\"\ntemplate = \"a\"\n"
        ),
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

fn invite(dir: &Path, cohort: &str, req: &str, out: &str, more: &[&str]) -> std::process::Output {
    let store = dir.join("s.sqlite");
    let key = dir.join("master.key");
    if !store.exists() {
        create_store(&store, &key);
    }
    let outp = dir.join(out);
    let mut a = vec![
        "invite",
        "--store",
        store.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--cohort",
        cohort,
        "--request",
        req,
        "--out",
        outp.to_str().unwrap(),
    ];
    a.extend_from_slice(more);
    run(&a)
}

/// Given names in the batch (`Given<i>` → i).
fn invited(dir: &Path, out: &str) -> Vec<u32> {
    let mut r = csv::Reader::from_path(dir.join(out).join("invitations.csv")).unwrap();
    let mut v: Vec<u32> = r
        .records()
        .map(|x| x.unwrap()[2].trim_start_matches("Given").parse().unwrap())
        .collect();
    v.sort();
    v
}

fn summary(dir: &Path, out: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(out).join("selection-summary.json")).unwrap())
        .unwrap()
}

fn funnel(s: &serde_json::Value, stage: &str) -> u64 {
    s["funnel"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["stage"] == stage)
        .unwrap_or_else(|| panic!("no stage {stage}"))["count"]
        .as_u64()
        .unwrap()
}

fn noncontact(dir: &Path, input: &str, more: &[&str]) -> std::process::Output {
    let store = dir.join("s.sqlite");
    let key = dir.join("master.key");
    let mut a = vec![
        "noncontact",
        "add",
        "--create",
        "--store",
        store.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--input",
        input,
        "--as-of",
        "2026-11-21",
    ];
    a.extend_from_slice(more);
    run(&a)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn cohort(dir: &Path, rows: &[String]) -> String {
    write(dir, "cohort.csv", &format!("{HEADER}\n{}\n", rows.join("\n")))
}

/// Render an NHS number in a messy but unambiguous form.
fn messy_nhs(n: &str, form: usize) -> String {
    let full = |base: u32| {
        n.chars()
            .map(|c| char::from_u32(base + c.to_digit(10).unwrap()).unwrap())
            .collect::<String>()
    };
    match form % 7 {
        0 => format!("{} {} {}", &n[..3], &n[3..6], &n[6..]).replace(' ', "\u{00A0}"),
        1 => format!("{}\u{200B}{}", &n[..5], &n[5..]),
        2 => full(0xFF10),
        3 => full(0x0660),
        4 => format!("'{n}"),
        5 => format!("\u{2007}{n}\u{3000}"),
        _ => n.to_string(),
    }
}

/// Render a DOB (ISO) in a messy form, or a wrong or unreadable one.
fn messy_dob(iso: &str, form: usize) -> String {
    let (y, m, d) = (&iso[..4], &iso[5..7], &iso[8..10]);
    match form % 8 {
        0 => format!("{d}.{m}.{y}"),
        1 => format!("{d}-{m}-{y}"),
        2 => format!("{iso}T00:00:00Z"),
        3 => format!("{y}/{m}/{d}"),
        4 => format!("{y}-{m}-{:02}", (d.parse::<u32>().unwrap() % 28) + 1), // a day out
        5 => format!("{y}-{d}-{m}"),                                         // day/month swapped
        6 => "not a date".into(),
        _ => String::new(),
    }
}

/// Bullet 1: messy objections are recorded; the run exits 1 when any row
/// was rejected (and 0 with --allow-rejects); none of the objectors is invited.
#[test]
fn messy_objections_are_kept_and_rejects_fail_loudly() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    master_key(dir);
    let mut obj = String::from("nhs_number,date_of_birth\n");
    for i in 0..12u32 {
        obj.push_str(&format!(
            "{},{}\n",
            messy_nhs(&nhs(i), i as usize),
            messy_dob(&dob(i), i as usize)
        ));
    }
    obj.push_str("12345,1980-01-01\n"); // no usable NHS number, nothing else to match on
    let input = write(dir, "objections.csv", &obj);
    let o = noncontact(dir, &input, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("added 12, already present 0, rejected 1 (of 13 rows)"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("1 of 13 rows were rejected (nhs_format 1)"),
        "{}",
        stderr(&o)
    );
    assert!(std::fs::read_to_string(dir.join("objections.csv.rejects.csv"))
        .unwrap()
        .contains("14,nhs_number,nhs_format"));
    let o = noncontact(dir, &input, &["--allow-rejects", "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("added 0, already present 12"),
        "{}",
        stdout(&o)
    );
    let rows: Vec<String> = (0..16).map(|i| row(i, "London", [false; 5])).collect();
    let c = cohort(dir, &rows);
    let req = request(dir, "r.toml", "fc", "2026-11-21", "");
    let o = invite(dir, &c, &req, "b1", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(invited(dir, "b1"), vec![12, 13, 14, 15]);
    assert_eq!(funnel(&summary(dir, "b1"), "non_contact_list"), 12);
}

/// Bullet 2: an objection whose DOB is a day out or day/month swapped
/// still suppresses the person (the match is on the NHS number alone).
#[test]
fn a_wrong_dob_on_an_objection_still_suppresses() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    master_key(dir);
    let obj = format!(
        "nhs_number,date_of_birth\n{},{}\n{},{}\n",
        nhs(1),
        messy_dob(&dob(1), 4),
        nhs(2),
        messy_dob(&dob(2), 5)
    );
    let o = noncontact(dir, &write(dir, "o.csv", &obj), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c = cohort(
        dir,
        &(0..4).map(|i| row(i, "London", [false; 5])).collect::<Vec<_>>(),
    );
    let o = invite(dir, &c, &request(dir, "r.toml", "fc", "2026-11-21", ""), "b", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(invited(dir, "b"), vec![0, 3]);
}

/// Bullet 3: a second row of a person carrying an exclusion excludes the
/// person; the first row is counted as duplicate_person_excluded.
#[test]
fn an_exclusion_on_any_row_of_a_person_applies() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    master_key(dir);
    let mut rows: Vec<String> = (0..4).map(|i| row(i, "London", [false; 5])).collect();
    rows.push(row(1, "London", [false, true, false, false, false])); // NDOP on a second row
    rows.push(row(2, "London", [true, false, false, false, false])); // deceased on a second row
    rows.push(row(3, "London", [false; 5])); // a clean duplicate
    let c = cohort(dir, &rows);
    let o = invite(dir, &c, &request(dir, "r.toml", "fc", "2026-11-21", ""), "b", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(invited(dir, "b"), vec![0, 3]);
    let s = summary(dir, "b");
    assert_eq!(funnel(&s, "duplicate_person_excluded"), 2);
    assert_eq!(funnel(&s, "national_data_opt_out"), 1);
    assert_eq!(funnel(&s, "deceased"), 1);
    assert_eq!(funnel(&s, "rejected"), 1);
    let total: u64 = s["funnel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 7);
}

/// Bullet 4: as_of far from today is refused without --backdate; the
/// invitation date is the clock date, so a backdated batch still counts
/// towards the frequency cap.
#[test]
fn invitations_are_dated_by_the_clock_and_backdating_is_explicit() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    master_key(dir);
    let c = cohort(
        dir,
        &(0..5).map(|i| row(i, "London", [false; 5])).collect::<Vec<_>>(),
    );
    let cap = "[frequency_cap]\nmax_invitations = 1\nwithin_days = 365\n";
    let old = request(dir, "old.toml", "fc-a", "2024-01-01", cap);
    let o = invite(dir, &c, &old, "b1", &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--backdate"), "{}", stderr(&o));
    let o = invite(
        dir,
        &c,
        &old,
        "b1",
        &["--backdate", "re-run of a lost January batch"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(dir, "b1");
    assert_eq!(s["invited_on"], "2026-11-21");
    assert_eq!(s["backdate_reason"], "re-run of a lost January batch");
    let m = std::fs::read_to_string(dir.join("b1/invitations.csv.manifest.json")).unwrap();
    assert!(m.contains("re-run of a lost January batch"));
    // a second study minutes later: everyone is over the cap
    let o = invite(
        dir,
        &c,
        &request(dir, "new.toml", "fc-b", "2026-11-21", cap),
        "b2",
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(invited(dir, "b2").is_empty());
    assert_eq!(funnel(&summary(dir, "b2"), "frequency_cap"), 5);
}

/// Bullet 5: a registry file naming another scope than the request's is
/// refused, naming both.
#[test]
fn registry_scope_is_bound_to_the_request() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    master_key(dir);
    let other = scope_key(dir, "registry:other", "other.key");
    let vol = write(
        dir,
        "vol.csv",
        &format!("nhs_number,date_of_birth\n{},{}\n", nhs(0), dob(0)),
    );
    let toks = dir.join("vol.tokens.csv");
    let o = run(&[
        "pseudonymise",
        "--key",
        other.to_str().unwrap(),
        "--input",
        &vol,
        "--output",
        toks.to_str().unwrap(),
        "--as-of",
        "2026-11-21",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = cohort(dir, &[row(0, "London", [false; 5])]);
    let req = request(
        dir,
        "r.toml",
        "fc",
        "2026-11-21",
        "[registry]\nprioritise = true\nscope = \"registry:bpor\"\n",
    );
    // (an unregistered study may not use --registry at all; register it)
    let study = write(
        dir,
        "study.toml",
        "study = \"fc\"\norganisation = \"Example\"\nroutes = [\"service-mailer\"]\nchannels = [\"postal\"]\nretain_until = \"2099-12-31\"\n\
         [approvals]\nethics_reference = \"24/NE/0001\"\ndsa_reference = \"DSA-1\"\ndsa_expires = \"2099-12-31\"\n\
         registry_basis = \"consent\"\nenrolled_basis = \"consent\"\n",
    );
    let store = dir.join("s.sqlite");
    let o = run(&[
        "study",
        "add",
        "--store",
        store.to_str().unwrap(),
        "--operator",
        "T",
        &study,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = invite(dir, &c, &req, "b", &["--registry", toks.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("registry:other") && e.contains("registry:bpor"), "{e}");
}

/// Bullet 6: a region outside the fixed vocabulary (a postcode in the
/// column) becomes Unknown, is counted, and never reaches the store.
#[test]
fn regions_come_from_a_fixed_vocabulary() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    master_key(dir);
    let c = cohort(
        dir,
        &[
            row(0, "B25 0LG", [false; 5]),
            row(1, " north  west ", [false; 5]),
            row(2, "", [false; 5]),
        ],
    );
    let o = invite(
        dir,
        &c,
        &request(
            dir,
            "r.toml",
            "fc",
            "2026-11-21",
            "[quotas]\nby = [\"region\"]\nproportional = true\n",
        ),
        "b",
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(dir, "b");
    assert_eq!(s["region_unknown"], 2);
    let text = serde_json::to_string(&s).unwrap();
    assert!(!text.contains("B25"), "{text}");
    let labels: Vec<&str> = s["strata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["stratum"].as_str().unwrap())
        .collect();
    assert!(
        labels
            .iter()
            .all(|l| l.contains("Unknown") || l.contains("North West")),
        "{labels:?}"
    );
    let db = std::fs::read(dir.join("s.sqlite")).unwrap();
    assert!(
        !db.windows(3).any(|w| w == b"B25"),
        "a postcode reached the store"
    );
}

/// Bullet 7: the README's service steps, verbatim.
#[test]
fn readme_service_steps_work_verbatim() {
    let readme = std::fs::read_to_string(fixtures().join("../README.md")).unwrap();
    let service = readme
        .split("## For the service")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let cmds: Vec<String> = service
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with("trialink keys ") || c.starts_with("trialink noncontact "))
        .map(str::to_string)
        .collect();
    assert!(cmds.len() >= 3, "{cmds:?}");
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(
        dir.join("objections.csv"),
        format!("nhs_number,date_of_birth\n{},{}\n", nhs(0), dob(0)),
    )
    .unwrap();
    for c in &cmds {
        if c.contains("--store service.sqlite --out") {
            continue; // a registered study's key: covered by the study tests
        }
        if c.starts_with("trialink noncontact ") && !dir.join("service.sqlite").exists() {
            // step 2 (`study add`, covered by the study tests) made the store
            create_store(&dir.join("service.sqlite"), &dir.join("master.key"));
        }
        let args: Vec<&str> = c.split_whitespace().skip(1).collect();
        let o = bin().current_dir(dir).args(&args).output().unwrap();
        assert!(o.status.success(), "`{c}` failed: {}", stderr(&o));
    }
    assert!(dir.join("master.key").exists() && dir.join("service.sqlite").exists());
}

/// Objections without a usable NHS number are kept as CLKs and suppress a
/// cohort member who matches at the low threshold; the summary counts them.
#[test]
fn objections_without_an_nhs_number_suppress_by_clk() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    master_key(dir);
    let obj = format!(
        "nhs_number,given_name,family_name,date_of_birth,postcode\n,given1,NGUYEN,{},ls1 1ab\n",
        messy_dob(&dob(1), 0)
    );
    let o = noncontact(dir, &write(dir, "o.csv", &obj), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("1 objections without a usable NHS number were kept as CLKs"));
    let families = ["Okafor", "Nguyen", "Kowalski", "Ahmed"];
    let rows: Vec<String> = (0..4)
        .map(|i| {
            row(i, "London", [false; 5])
                .replace(&format!(",Family{i},"), &format!(",{},", families[i as usize]))
        })
        .collect();
    let c = cohort(dir, &rows);
    let o = invite(dir, &c, &request(dir, "r.toml", "fc", "2026-11-21", ""), "b", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(invited(dir, "b"), vec![0, 2, 3]);
    let s = summary(dir, "b");
    assert_eq!(s["suppressed_by_clk"], 1);
    assert_eq!(funnel(&s, "non_contact_clk"), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]
    /// Over generated cohorts (with duplicate rows carrying conflicting
    /// flags) and objection lists in every messy form: nobody whose NHS
    /// number is on the non-contact list or who carries an exclusion on any
    /// row is invited, everyone else is, and the funnel adds up.
    #[test]
    fn nobody_excluded_is_ever_invited(
        people in proptest::collection::vec((proptest::array::uniform5(proptest::bool::weighted(0.1)), 0u8..4, 0usize..8, 0usize..8), 4..30),
    ) {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        master_key(dir);
        let mut obj = String::from("nhs_number,date_of_birth\n");
        let mut rows = Vec::new();
        let mut excluded = std::collections::BTreeSet::new();
        for (i, (flags, kind, nf, df)) in people.iter().enumerate() {
            let i = i as u32;
            // kind: 0 clean, 1 objector, 2 a duplicate row with the flags, 3 both rows clean
            if *kind == 1 {
                obj.push_str(&format!("{},{}\n", messy_nhs(&nhs(i), *nf), messy_dob(&dob(i), *df)));
                excluded.insert(i);
            }
            if *kind == 2 {
                rows.push(row(i, "London", [false; 5]));
                if flags.iter().any(|&f| f) { excluded.insert(i); }
            } else if flags.iter().any(|&f| f) {
                excluded.insert(i);
            }
            rows.push(row(i, "London", *flags));
            if *kind == 3 { rows.push(row(i, "london", [false; 5])); }
        }
        let o = noncontact(dir, &write(dir, "o.csv", &obj), &[]);
        prop_assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let c = cohort(dir, &rows);
        let o = invite(dir, &c, &request(dir, "r.toml", "fc", "2026-11-21", ""), "b", &[]);
        prop_assert!(o.status.success(), "{}", stderr(&o));
        let got = invited(dir, "b");
        let want: Vec<u32> = (0..people.len() as u32).filter(|i| !excluded.contains(i)).collect();
        prop_assert_eq!(got, want);
        let s = summary(dir, "b");
        let total: u64 = s["funnel"].as_array().unwrap().iter().map(|f| f["count"].as_u64().unwrap()).sum();
        prop_assert_eq!(total, rows.len() as u64);
    }
}

/// `synth --messy-objections` writes every objection's NHS number and DOB in
/// a messy form (Unicode spaces and digits, a leading `'`, other date
/// forms): `noncontact add` takes every row, and no objector is invited.
#[test]
fn synth_messy_objections_are_all_recorded_and_nobody_on_them_is_invited() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let pop = dir.join("pop");
    let o = run(&[
        "synth",
        "--people",
        "1500",
        "--seed",
        "14",
        "--objection-fraction",
        "0.05",
        "--list-error-rate",
        "0",
        "--list-outsider-fraction",
        "0",
        "--messy-objections",
        "--out",
        pop.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let objections = std::fs::read_to_string(pop.join("objections.csv")).unwrap();
    let rows = objections.lines().count() - 1;
    assert!(rows > 40, "{rows} objections");
    // The file really is messy: not every NHS cell is ten ASCII digits.
    let messy = objections
        .lines()
        .skip(1)
        .filter(|l| {
            let nhs = l.split(',').next().unwrap().trim_matches('"');
            !(nhs.len() == 10 && nhs.bytes().all(|b| b.is_ascii_digit()))
        })
        .count();
    assert!(messy * 2 > rows, "only {messy} of {rows} rows are messy");
    master_key(dir);
    let o = noncontact(dir, pop.join("objections.csv").to_str().unwrap(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "added {rows}, already present 0, rejected 0 (of {rows} rows)"
        )),
        "{}",
        stdout(&o)
    );
    // Who objected, by the digits of their NHS number (any script).
    let digits = |s: &str| -> String {
        s.chars()
            .filter_map(|c| match c as u32 {
                0x30..=0x39 => Some(c as u32 - 0x30),
                0xff10..=0xff19 => Some(c as u32 - 0xff10),
                0x0660..=0x0669 => Some(c as u32 - 0x0660),
                _ => None,
            })
            .map(|d| char::from_digit(d, 10).unwrap())
            .collect()
    };
    let objectors: std::collections::BTreeSet<String> = objections
        .lines()
        .skip(1)
        .map(|l| digits(l.split(',').next().unwrap()))
        .collect();
    let mut objector_people = std::collections::BTreeSet::new();
    let mut c = csv::Reader::from_path(pop.join("cohort.csv")).unwrap();
    let head = c.headers().unwrap().clone();
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let (cn, cg, cf, cp) = (
        col("nhs_number"),
        col("given_name"),
        col("family_name"),
        col("postcode"),
    );
    for r in c.records() {
        let r = r.unwrap();
        if objectors.contains(&r[cn]) {
            objector_people.insert(format!("{}|{}|{}", &r[cg], &r[cf], &r[cp]));
        }
    }
    assert_eq!(
        objector_people.len(),
        objectors.len(),
        "every objector is a cohort member"
    );
    let req = request(dir, "req.toml", "messy-1", "2026-11-21", "");
    let o = invite(dir, pop.join("cohort.csv").to_str().unwrap(), &req, "batch", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut b = csv::Reader::from_path(dir.join("batch").join("invitations.csv")).unwrap();
    let bh = b.headers().unwrap().clone();
    let bcol = |n: &str| bh.iter().position(|h| h == n).unwrap();
    let (bg, bf, bp) = (bcol("given_name"), bcol("family_name"), bcol("postcode"));
    let mut invited = 0;
    for r in b.records() {
        let r = r.unwrap();
        invited += 1;
        assert!(
            !objector_people.contains(&format!("{}|{}|{}", &r[bg], &r[bf], &r[bp])),
            "an objector was invited"
        );
    }
    assert!(invited > 500, "only {invited} invited: the test proves nothing");
}
