//! `trialink invite --reminder-of`: a whole reminder cycle through the CLI
//! (invite → feedback and returns → objections, a death, an enrolment →
//! reminder batch), and every refusal: exit 2, nothing written.

use crate::common;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The i-th valid NHS number in the 999 test block.
fn nhs(i: u32) -> String {
    let mut n = 999_400_000u64 + i as u64 * 19;
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

fn dob(i: u32) -> String {
    format!("19{:02}-{:02}-{:02}", 50 + i % 20, 1 + i % 12, 1 + i % 28)
}

const HEADER: &str = "nhs_number,given_name,family_name,date_of_birth,sex,address_line_1,address_line_2,address_line_3,address_line_4,address_line_5,postcode,mobile,region,deceased,national_data_opt_out,s_flag,armed_forces,prison";

fn row(i: u32, mobile: bool, deceased: bool, ndop: bool) -> String {
    let f = |b: bool| if b { "1" } else { "0" };
    format!(
        "{},Given{i},Family{i},{},female,{i} High Street,,Leeds,,,LS1 4AP,{},London,{},{},0,0,0",
        nhs(i),
        dob(i),
        if mobile {
            format!("0770090{i:04}")
        } else {
            String::new()
        },
        f(deceased),
        f(ndop)
    )
}

const QA: &str = "given_name,family_name,address_line_1,address_line_2,address_line_3,address_line_4,address_line_5,postcode,mobile\n\
QA,One,1 Service Road,,Leeds,,,LS1 1AA,07700900998\n\
QA,Two,2 Service Road,,Leeds,,,LS1 1AB,07700900999\n";

fn entry(study: &str, reminders: bool) -> String {
    format!(
        "study = \"{study}\"\norganisation = \"Example Trials Unit\"\nroutes = [\"service-mailer\"]\n\
         channels = [\"postal\", \"sms\"]\nretain_until = \"2099-12-31\"\nreminders = {reminders}\n[approvals]\n\
         ethics_reference = \"24/NE/0001\"\ndsa_reference = \"DSA-1\"\ndsa_expires = \"2099-12-31\"\n\
         registry_basis = \"consent\"\nenrolled_basis = \"consent\"\n"
    )
}

struct W {
    _d: tempfile::TempDir,
    dir: PathBuf,
}

impl W {
    fn new() -> W {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_path_buf();
        master_key(&dir);
        let w = W { _d: d, dir };
        w.write("qa.csv", QA);
        for (study, rem) in [("rem-1", true), ("other", true), ("norem", false)] {
            let e = w.write(&format!("{study}.toml"), &entry(study, rem));
            let o = run(&[
                "study",
                "add",
                "--store",
                &w.s("s.sqlite"),
                "--operator",
                "alice",
                &e,
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
        }
        w
    }
    fn s(&self, n: &str) -> String {
        self.dir.join(n).to_str().unwrap().to_string()
    }
    fn write(&self, n: &str, text: &str) -> String {
        std::fs::write(self.dir.join(n), text).unwrap();
        self.s(n)
    }
    fn cohort(&self, n: &str, rows: &[String]) -> String {
        self.write(n, &format!("{HEADER}\n{}\n", rows.join("\n")))
    }
    fn invite(&self, study: &str, cohort: &str, n: usize, seed: u64, out: &str) -> std::process::Output {
        let req = self.write(
            &format!("{out}.toml"),
            &format!(
                "study = \"{study}\"\nchannel = \"postal\"\ninvitations = {n}\nseed = {seed}\nas_of = \"2026-11-21\"\n\
                 qa_seeds = 2\n[[arms]]\nname = \"A\"\ntemplate = \"letter-a\"\n"
            ),
        );
        self.cmd(
            &[
                "invite",
                "--cohort",
                cohort,
                "--request",
                &req,
                "--out",
                &self.s(out),
            ],
            &[],
        )
    }
    /// A reminder run on `today` with `[reminder]` `table`.
    #[allow(clippy::too_many_arguments)]
    fn remind(
        &self,
        study: &str,
        cohort: &str,
        table: &str,
        today: &str,
        seed: u64,
        out: &str,
        more: &[&str],
    ) -> std::process::Output {
        let req = self.write(
            &format!("{out}.toml"),
            &format!(
                "study = \"{study}\"\nchannel = \"sms\"\nseed = {seed}\nas_of = \"{today}\"\nqa_seeds = 2\n\
                 [reminder]\n{table}\n[[arms]]\nname = \"R1\"\ntemplate = \"sms-r1\"\n[[arms]]\nname = \"R2\"\ntemplate = \"sms-r2\"\n"
            ),
        );
        let mut a = vec!["invite", "--cohort", cohort, "--request", &req, "--out"];
        let o = self.s(out);
        a.push(&o);
        a.extend_from_slice(&["--today", today]);
        self.cmd(&a, more)
    }
    fn cmd(&self, args: &[&str], more: &[&str]) -> std::process::Output {
        let (store, key, qa) = (self.s("s.sqlite"), self.s("master.key"), self.s("qa.csv"));
        let mut a: Vec<&str> = args.to_vec();
        a.extend_from_slice(&["--store", &store, "--key", &key, "--qa-seeds", &qa]);
        a.extend_from_slice(more);
        run(&a)
    }
    fn rows(&self, out: &str) -> (Vec<String>, Vec<Vec<String>>) {
        let mut r = csv::Reader::from_path(self.dir.join(out).join("invitations.csv")).unwrap();
        let h = r.headers().unwrap().iter().map(str::to_string).collect();
        let rows = r
            .records()
            .map(|x| x.unwrap().iter().map(str::to_string).collect())
            .collect();
        (h, rows)
    }
    fn summary(&self, out: &str) -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.dir.join(out).join("selection-summary.json")).unwrap(),
        )
        .unwrap()
    }
    fn store(&self) -> store::Store {
        store::Store::open(&self.dir.join("s.sqlite")).unwrap()
    }
}

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "exit {:?}: {}", o.status.code(), stderr(o));
    stdout(o)
}

/// References of the invitees, by given name.
fn references(w: &W, out: &str) -> BTreeMap<String, String> {
    w.rows(out)
        .1
        .into_iter()
        .filter(|r| r[2].starts_with("Given"))
        .map(|r| (r[2].clone(), r[0].clone()))
        .collect()
}

/// The cycle: 16 invited; then 0 and 1 respond (1 consents: enrolled),
/// 2 and 3 are returned, 4 objects, 5 dies, 6 is on the trial's enrolled
/// list, 7 leaves the cohort, 8 gains a second row with an opt-out, 9 has
/// no mobile. Reminded: exactly 10..16, by SMS, with their invitation
/// references; QA seeds present; funnel adds up.
fn cycle(w: &W) -> BTreeMap<String, String> {
    let first: Vec<String> = (0..16).map(|i| row(i, true, false, false)).collect();
    ok(&w.invite("rem-1", &w.cohort("c1.csv", &first), 16, 1, "b1"));
    let refs = references(w, "b1");
    assert_eq!(refs.len(), 16);
    let fb = w.write(
        "fb.csv",
        &format!(
            "reference,status,date\n{},expressed_interest,2026-11-28\n{},consented,2026-11-29\n",
            refs["Given0"], refs["Given1"]
        ),
    );
    ok(&run(&[
        "uptake",
        "--store",
        &w.s("s.sqlite"),
        "--key",
        &w.s("master.key"),
        "--study",
        "rem-1",
        "--input",
        &fb,
    ]));
    let rts = w.write(
        "rts.csv",
        &format!(
            "reference,reason,date\n{},gone_away,2026-11-25\n{},refused,2026-11-26\n",
            refs["Given2"], refs["Given3"]
        ),
    );
    ok(&run(&["returns", "--store", &w.s("s.sqlite"), "--input", &rts]));
    let obj = w.write(
        "obj.csv",
        &format!("nhs_number,date_of_birth\n{},{}\n", nhs(4), dob(4)),
    );
    ok(&run(&[
        "noncontact",
        "add",
        "--store",
        &w.s("s.sqlite"),
        "--key",
        &w.s("master.key"),
        "--input",
        &obj,
        "--as-of",
        "2026-11-21",
    ]));
    // The trial's enrolled list, under its study key.
    let tk = w.s("trial.key");
    ok(&run(&[
        "keys",
        "derive",
        "--from",
        &w.s("master.key"),
        "--scope",
        "trial:rem-1",
        "--store",
        &w.s("s.sqlite"),
        "--out",
        &tk,
    ]));
    let en = w.write(
        "enrolled.csv",
        &format!("nhs_number,date_of_birth\n{},{}\n", nhs(6), dob(6)),
    );
    ok(&run(&[
        "pseudonymise",
        "--key",
        &tk,
        "--input",
        &en,
        "--output",
        &w.s("enrolled.tokens.csv"),
        "--as-of",
        "2026-11-21",
    ]));
    let mut now: Vec<String> = Vec::new();
    for i in 0..16 {
        match i {
            5 => now.push(row(i, true, true, false)),
            7 => {}
            8 => {
                now.push(row(i, true, false, false));
                now.push(row(i, true, false, true));
            }
            9 => now.push(row(i, false, false, false)),
            _ => now.push(row(i, true, false, false)),
        }
    }
    w.cohort("c2.csv", &now);
    refs
}

#[test]
fn a_reminder_cycle_reminds_only_those_still_to_be_reminded() {
    let w = W::new();
    let refs = cycle(&w);
    let o = w.remind(
        "rem-1",
        &w.s("c2.csv"),
        "after_days = 14",
        "2026-12-10",
        2,
        "r1",
        &["--reminder-of", "1", "--enrolled", &w.s("enrolled.tokens.csv")],
    );
    let out = ok(&o);
    assert!(
        out.contains(
            "reminder batch 2 for study rem-1: 6 reminders of batch 1 (16 invitations) + 2 QA seeds"
        ),
        "{out}"
    );
    let (h, rows) = w.rows("r1");
    assert_eq!(
        h,
        ["reference", "template", "given_name", "family_name", "mobile"]
    );
    let reminded: BTreeSet<String> = rows
        .iter()
        .filter(|r| r[2].starts_with("Given"))
        .map(|r| r[2].clone())
        .collect();
    let want: BTreeSet<String> = (10..16).map(|i| format!("Given{i}")).collect();
    assert_eq!(reminded, want);
    for r in rows.iter().filter(|r| r[2].starts_with("Given")) {
        assert_eq!(r[0], refs[&r[2]], "reference reused");
        assert!(r[1] == "sms-r1" || r[1] == "sms-r2");
        assert!(r[4].starts_with("0770090") && r[4].len() == 11);
    }
    let qa: Vec<&Vec<String>> = rows.iter().filter(|r| r[2] == "QA").collect();
    assert_eq!(qa.len(), 2);
    assert!(qa.iter().all(|q| !refs.values().any(|r| *r == q[0])));
    // The funnel: every invitation once, by reason.
    let s = w.summary("r1");
    let f: BTreeMap<String, u64> = s["funnel"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["count"].as_u64().unwrap() > 0)
        .map(|x| {
            (
                x["stage"].as_str().unwrap().to_string(),
                x["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let expect: BTreeMap<String, u64> = [
        ("responded", 2),
        ("returned", 2),
        ("not_in_cohort", 1),
        ("deceased", 1),
        ("no_contact_details", 1),
        ("non_contact_list", 1),
        ("already_enrolled", 1),
        ("national_data_opt_out", 1),
        ("reminded", 6),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(f, expect);
    assert_eq!(f.values().sum::<u64>(), s["invitations"].as_u64().unwrap());
    // Cohort rows are accounted for too.
    let rows_in = s["cohort_rows"].as_u64().unwrap();
    let cf: u64 = s["cohort_funnel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["count"].as_u64().unwrap())
        .sum();
    assert_eq!((rows_in, cf), (16, 16));
    // Store: reminders apart from invitations; feedback by a reused
    // reference still matches the invitation.
    let st = w.store();
    assert_eq!(st.invitation_count(Some("rem-1")).unwrap(), 16);
    assert_eq!(st.reminder_count(Some("rem-1")).unwrap(), 6);
    drop(st);
    let fb = w.write(
        "fb2.csv",
        &format!(
            "reference,status,date\n{},expressed_interest,2026-12-12\n",
            refs["Given10"]
        ),
    );
    let o = ok(&run(&[
        "uptake",
        "--store",
        &w.s("s.sqlite"),
        "--key",
        &w.s("master.key"),
        "--study",
        "rem-1",
        "--input",
        &fb,
    ]));
    assert!(o.contains("matched by reference 1"), "{o}");
    let t = w.store().response_timing("rem-1").unwrap();
    assert_eq!(
        (
            t.responded_after_invitation,
            t.responded_after_reminder,
            t.reminded
        ),
        (2, 1, 6)
    );
    // The manifest names the batch followed up and accounts for every row.
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.dir.join("r1/invitations.csv.manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["extra"]["reminder_of"], 1);
    assert_eq!(m["rows"]["in"], 16);
}

/// Refused runs: exit 2, a message naming the problem, no output directory,
/// no reminder recorded.
#[test]
fn refusals_are_exit_2_and_write_nothing() {
    let w = W::new();
    cycle(&w);
    let rows: Vec<String> = (0..4).map(|i| row(i, true, false, false)).collect();
    ok(&w.invite("other", &w.cohort("co.csv", &rows), 4, 1, "bo"));
    ok(&w.invite("norem", &w.cohort("cn.csv", &rows), 4, 1, "bn"));
    let c2 = w.s("c2.csv");
    let cases: Vec<(&str, &str, &str, Vec<&str>, &str)> = vec![
        (
            "rem-1",
            "after_days = 14",
            "2026-12-10",
            vec!["--reminder-of", "2"],
            "another study",
        ),
        (
            "rem-1",
            "after_days = 14",
            "2026-12-10",
            vec!["--reminder-of", "99"],
            "not in this store",
        ),
        (
            "rem-1",
            "after_days = 14",
            "2026-11-30",
            vec!["--reminder-of", "1"],
            "9 days before today",
        ),
        (
            "norem",
            "after_days = 14",
            "2026-12-10",
            vec!["--reminder-of", "3"],
            "does not permit reminders",
        ),
        (
            "rem-1",
            "after_days = 14\nof_batch = 2",
            "2026-12-10",
            vec!["--reminder-of", "1"],
            "name different batches",
        ),
        (
            "rem-1",
            "after_days = 0",
            "2026-12-10",
            vec!["--reminder-of", "1"],
            "reminder.after_days",
        ),
        (
            "rem-1",
            "after_days = 14",
            "2026-12-10",
            vec!["--reminder-of", "1", "--registry", "x.csv"],
            "registry prioritisation does not apply",
        ),
    ];
    for (k, (study, table, today, more, needle)) in cases.into_iter().enumerate() {
        let out = format!("x{k}");
        let o = w.remind(study, &c2, table, today, 50 + k as u64, &out, &more);
        assert_error(&o, needle, &[&nhs(10), "Given10"]);
        assert!(!w.dir.join(&out).exists(), "case {k} left {out}");
    }
    // A cohort problem (no mobile column for an SMS reminder) stops the run.
    let bad = w.write(
        "bad.csv",
        &std::fs::read_to_string(w.dir.join("c2.csv"))
            .unwrap()
            .replace(",mobile,", ",phone,"),
    );
    let o = w.remind(
        "rem-1",
        &bad,
        "after_days = 14",
        "2026-12-10",
        70,
        "x-bad",
        &["--reminder-of", "1"],
    );
    assert_error(&o, "mobile", &[&nhs(10)]);
    assert!(!w.dir.join("x-bad").exists());
    // A batch file edited after it was made: refused by path and by id.
    let f = w.dir.join("b1/invitations.csv");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, text.replacen("Given12", "Given21", 1)).unwrap();
    for (k, by) in [f.to_str().unwrap().to_string(), "1".to_string()]
        .iter()
        .enumerate()
    {
        let out = format!("t{k}");
        let o = w.remind(
            "rem-1",
            &c2,
            "after_days = 14",
            "2026-12-10",
            80 + k as u64,
            &out,
            &["--reminder-of", by],
        );
        assert_error(&o, "differs from the digest recorded", &[]);
        assert!(!w.dir.join(&out).exists());
    }
    std::fs::write(&f, text).unwrap();
    assert_eq!(w.store().reminder_count(None).unwrap(), 0);
}

/// One reminder per invitation by default; a second needs max_reminders = 2
/// and after_days since the first.
#[test]
fn max_reminders_is_kept_and_counted_exactly() {
    let w = W::new();
    let rows: Vec<String> = (20..24).map(|i| row(i, true, false, false)).collect();
    let c = w.cohort("c.csv", &rows);
    ok(&w.invite("rem-1", &c, 4, 1, "b1"));
    let by_dir = w.s("b1");
    ok(&w.remind(
        "rem-1",
        &c,
        "after_days = 14",
        "2026-12-10",
        2,
        "r1",
        &["--reminder-of", &by_dir],
    ));
    let o = w.remind(
        "rem-1",
        &c,
        "after_days = 14",
        "2026-12-30",
        3,
        "r2",
        &["--reminder-of", "1"],
    );
    assert_error(&o, "max_reminders 4", &[]);
    let o = w.remind(
        "rem-1",
        &c,
        "after_days = 14\nmax_reminders = 2",
        "2026-12-20",
        4,
        "r3",
        &["--reminder-of", "1"],
    );
    assert_error(&o, "reminded_recently 4", &[]);
    ok(&w.remind(
        "rem-1",
        &c,
        "after_days = 14\nmax_reminders = 2",
        "2026-12-30",
        5,
        "r4",
        &["--reminder-of", "1"],
    ));
    assert_eq!(w.store().reminder_count(Some("rem-1")).unwrap(), 8);
    // A reminder batch is not followed up itself.
    let o = w.remind(
        "rem-1",
        &c,
        "after_days = 14\nmax_reminders = 3",
        "2027-02-01",
        6,
        "r5",
        &["--reminder-of", "2"],
    );
    assert_error(&o, "is a reminder batch", &[]);
}
