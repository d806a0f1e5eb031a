//! Reminder batches end to end on small inline cohorts: every exclusion is
//! re-applied at reminder time, references are reused, the funnel adds up.

use proptest::prelude::*;
use pseudonym::{Date, Dob, DobFormats, Key, NhsNumber, Scope, TokenKey};
use recruitment::invite::{self, BatchOptions, InviteOptions};
use recruitment::reminder::{self, BatchRef, ReminderError, ReminderOptions};
use recruitment::request;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use store::{Store, UptakeStatus};

/// The i-th valid NHS number in the 999 test block.
fn nhs(i: u32) -> String {
    let mut n = 999_200_000u64 + i as u64 * 11;
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

/// What happens to an invitee between the invitation and the reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Clean,
    Responded,
    Returned,
    Objected,
    Died,
    OptedOutOnSecondRow,
    Gone,
    NoMobile,
    Enrolled,
}

const FATES: [Fate; 9] = [
    Fate::Clean,
    Fate::Responded,
    Fate::Returned,
    Fate::Objected,
    Fate::Died,
    Fate::OptedOutOnSecondRow,
    Fate::Gone,
    Fate::NoMobile,
    Fate::Enrolled,
];

impl Fate {
    /// The reminder funnel stage the invitee lands in.
    fn stage(self) -> &'static str {
        match self {
            Fate::Clean => "reminded",
            Fate::Responded => "responded",
            Fate::Returned => "returned",
            Fate::Objected => "non_contact_list",
            Fate::Died => "deceased",
            Fate::OptedOutOnSecondRow => "national_data_opt_out",
            Fate::Gone => "not_in_cohort",
            Fate::NoMobile => "no_contact_details",
            Fate::Enrolled => "already_enrolled",
        }
    }
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

struct World {
    dir: tempfile::TempDir,
    master: Key,
    store: Store,
}

fn d(s: &str) -> Date {
    Date::parse_iso(s).unwrap()
}

impl World {
    fn new(reminders: bool) -> World {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        for (study, reminders) in [("rem", reminders), ("other", true)] {
            let end = d("2099-12-31");
            store
                .study_add(
                    store::StudyEntry {
                        study: study.into(),
                        organisation: "Example Trials Unit".into(),
                        approvals: store::Approvals {
                            ethics_reference: "24/NE/0001".into(),
                            section_251_reference: None,
                            dsa_reference: "DSA-1".into(),
                            dsa_expires: end,
                            registry_basis: store::LegalBasis::Consent,
                            enrolled_basis: store::LegalBasis::Consent,
                        },
                        routes: vec![store::OutputRoute::ServiceMailer],
                        channels: vec![store::RegisterChannel::Postal, store::RegisterChannel::Sms],
                        retain_until: end,
                        reminders,
                    },
                    "test",
                )
                .unwrap();
        }
        World {
            dir,
            master: Key::from_bytes([0x42; 32]),
            store,
        }
    }

    fn path(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }

    fn write(&self, n: &str, s: &str) -> PathBuf {
        let p = self.path(n);
        std::fs::write(&p, s).unwrap();
        p
    }

    fn invite(&mut self, study: &str, rows: &[String], n: usize, seed: u64) -> invite::InviteReport {
        let cohort = self.write(
            &format!("cohort-{study}-{seed}.csv"),
            &format!("{HEADER}\n{}\n", rows.join("\n")),
        );
        let text = format!(
            "study = \"{study}\"\nchannel = \"postal\"\ninvitations = {n}\nseed = {seed}\nas_of = \"2026-11-21\"\nqa_seeds = 1\n\
             [[arms]]\nname = \"A\"\ntemplate = \"letter-a\"\n[[arms]]\nname = \"B\"\ntemplate = \"letter-b\"\n"
        );
        let rp = self.write(&format!("inv-{study}-{seed}.toml"), &text);
        let v = request::parse(rp.to_str().unwrap(), &text, d("2026-11-21")).unwrap();
        let qa = self.write("qa.csv", QA);
        let out = self.path(&format!("inv-{study}-{seed}"));
        invite::invite(
            &mut self.store,
            &InviteOptions {
                batch: BatchOptions {
                    master: &self.master,
                    cohort: &cohort,
                    request_path: &rp,
                    request: &v,
                    out_dir: &out,
                    enrolled: None,
                    qa_seeds: Some(&qa),
                    dob_formats: DobFormats::default(),
                    today: d("2026-11-21"),
                    backdate: None,
                    clk_threshold: suppression::clk::DEFAULT_THRESHOLD,
                    manifest_options: BTreeMap::new(),
                    progress: None,
                },
                registry: None,
                registry_links: None,
            },
        )
        .unwrap()
    }

    fn remind(
        &mut self,
        rows: &[String],
        of: Option<BatchRef>,
        today: &str,
        extra: &str,
        out: &str,
    ) -> Result<reminder::ReminderReport, ReminderError> {
        let cohort = self.write(&format!("{out}.csv"), &format!("{HEADER}\n{}\n", rows.join("\n")));
        let text = format!(
            "study = \"rem\"\nchannel = \"sms\"\nseed = {}\nas_of = \"{today}\"\nqa_seeds = 2\n{extra}\
             [[arms]]\nname = \"R1\"\ntemplate = \"sms-r1\"\n[[arms]]\nname = \"R2\"\ntemplate = \"sms-r2\"\n",
            1000 + out.bytes().map(u64::from).sum::<u64>()
        );
        let text = if text.contains("[reminder]") {
            text
        } else {
            format!("{text}[reminder]\nafter_days = 14\n")
        };
        let rp = self.write(&format!("{out}.toml"), &text);
        let v = request::parse(rp.to_str().unwrap(), &text, d(today))
            .map_err(|e| ReminderError::Run(e.into()))?;
        let qa = self.write("qa.csv", QA);
        let out = self.path(out);
        reminder::remind(
            &mut self.store,
            &ReminderOptions {
                batch: BatchOptions {
                    master: &self.master,
                    cohort: &cohort,
                    request_path: &rp,
                    request: &v,
                    out_dir: &out,
                    enrolled: None,
                    qa_seeds: Some(&qa),
                    dob_formats: DobFormats::default(),
                    today: d(today),
                    backdate: None,
                    clk_threshold: suppression::clk::DEFAULT_THRESHOLD,
                    manifest_options: BTreeMap::new(),
                    progress: None,
                },
                of_batch: of,
            },
        )
    }

    fn service(&self) -> TokenKey {
        TokenKey::new(&self.master.derive(&Scope::service_store()))
    }
}

/// Rows of a batch file: `(given_name or QA, reference, template, all cells)`.
fn batch_rows(p: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(p).unwrap();
    let h = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    (h, rows)
}

fn funnel(s: &reminder::ReminderSummary) -> BTreeMap<&'static str, u64> {
    s.funnel
        .iter()
        .filter(|f| f.count > 0)
        .map(|f| (f.stage, f.count))
        .collect()
}

/// Apply the fates after the invitation; return the cohort rows at
/// reminder time.
fn apply(w: &mut World, fates: &[Fate], refs: &BTreeMap<String, String>) -> Vec<String> {
    let svc = w.service();
    let study_key = w.store.study_key(&w.master, "rem").unwrap();
    let stk = TokenKey::new(&study_key.key);
    let mut rows = Vec::new();
    w.store.begin().unwrap();
    for (i, &f) in fates.iter().enumerate() {
        let i = i as u32;
        let reference = &refs[&format!("Given{i}")];
        let inv = w.store.invitation_by_reference(reference).unwrap().unwrap();
        let n = NhsNumber::parse(&nhs(i)).unwrap();
        let b = Dob::parse(&dob(i), &DobFormats::default(), d("2026-11-21")).unwrap();
        match f {
            Fate::Responded => {
                w.store
                    .record_outcome(inv.id, UptakeStatus::ExpressedInterest, "2026-11-28", "fb")
                    .unwrap();
            }
            Fate::Returned => {
                w.store
                    .record_return(inv.id, "gone-away", "2026-11-25", "rts")
                    .unwrap();
            }
            _ => {}
        }
        match f {
            Fate::Gone => {}
            Fate::Died => rows.push(row(i, true, true, false)),
            Fate::NoMobile => rows.push(row(i, false, false, false)),
            Fate::OptedOutOnSecondRow => {
                rows.push(row(i, true, false, false));
                rows.push(row(i, true, false, true));
            }
            _ => rows.push(row(i, true, false, false)),
        }
        if f == Fate::Enrolled {
            let t = stk.token_nhs_dob(&n, &b).0;
            w.store.add_enrolled_one("rem", &t, "trial").unwrap();
        }
    }
    w.store.commit().unwrap();
    let objected: Vec<store::NonContactEntry> = fates
        .iter()
        .enumerate()
        .filter(|(_, f)| **f == Fate::Objected)
        .map(|(i, _)| store::NonContactEntry {
            nhs: svc.token_nhs(&NhsNumber::parse(&nhs(i as u32)).unwrap()).0,
            dob: None,
            dob_given: false,
        })
        .collect();
    w.store.noncontact_add(&objected, "objections").unwrap();
    rows
}

fn references(rep: &invite::InviteReport) -> BTreeMap<String, String> {
    let (_, rows) = batch_rows(&rep.batch_file);
    rows.into_iter()
        .filter(|r| r[2].starts_with("Given"))
        .map(|r| (r[2].clone(), r[0].clone()))
        .collect()
}

/// Invite everyone, apply the fates, remind: the reminded are exactly the
/// `Clean` invitees, with their invitation references, the SMS columns only,
/// the QA seeds, and a funnel in which every invitation is counted once.
fn cycle(fates: &[Fate]) {
    let mut w = World::new(true);
    let first: Vec<String> = (0..fates.len() as u32)
        .map(|i| row(i, true, false, false))
        .collect();
    let inv = w.invite("rem", &first, fates.len(), 1);
    assert_eq!(inv.summary.invited as usize, fates.len());
    let refs = references(&inv);
    let rows = apply(&mut w, fates, &refs);
    let clean: BTreeSet<String> = fates
        .iter()
        .enumerate()
        .filter(|(_, f)| **f == Fate::Clean)
        .map(|(i, _)| format!("Given{i}"))
        .collect();
    let res = w.remind(&rows, Some(BatchRef::Id(inv.batch_id)), "2026-12-10", "", "rem-1");
    let mut want: BTreeMap<&'static str, u64> = BTreeMap::new();
    for f in fates {
        *want.entry(f.stage()).or_insert(0) += 1;
    }
    if clean.is_empty() {
        match res {
            Err(ReminderError::NoneToRemind { .. }) => {
                assert!(!w.path("rem-1").join("invitations.csv").exists());
                assert_eq!(w.store.reminder_count(None).unwrap(), 0);
                return;
            }
            other => panic!("expected NoneToRemind, got {other:?}"),
        }
    }
    let rep = res.unwrap();
    assert_eq!(funnel(&rep.summary), want);
    assert_eq!(
        rep.summary.funnel.iter().map(|f| f.count).sum::<u64>(),
        fates.len() as u64
    );
    let (h, rows) = batch_rows(&rep.batch_file);
    assert_eq!(h, recruitment::Channel::Sms.columns());
    let reminded: BTreeSet<String> = rows
        .iter()
        .filter(|r| r[2].starts_with("Given"))
        .map(|r| r[2].clone())
        .collect();
    assert_eq!(reminded, clean);
    for r in rows.iter().filter(|r| r[2].starts_with("Given")) {
        assert_eq!(r[0], refs[&r[2]], "the invitation's reference is reused");
        assert!(r[1] == "sms-r1" || r[1] == "sms-r2");
        assert!(r[4].starts_with("0770090"));
    }
    let qa: Vec<&Vec<String>> = rows.iter().filter(|r| r[2] == "QA").collect();
    assert_eq!(qa.len(), 2);
    for q in qa {
        assert!(!refs.values().any(|r| *r == q[0]));
        assert!(w.store.is_qa_reference(&q[0]).unwrap());
    }
    assert_eq!(w.store.reminder_count(Some("rem")).unwrap(), clean.len() as u64);
    assert_eq!(w.store.invitation_count(Some("rem")).unwrap(), fates.len() as u64);
    let t = w.store.response_timing("rem").unwrap();
    assert_eq!(t.reminded, clean.len() as u64);
}

#[test]
fn reminder_cycle_reminds_only_those_still_eligible() {
    cycle(&FATES);
    cycle(&[Fate::Clean, Fate::Clean, Fate::Responded]);
    cycle(&[Fate::Responded, Fate::Gone]);
}

fn reasons(e: ReminderError) -> String {
    e.to_string()
}

#[test]
fn refusals_leave_nothing_written() {
    let mut w = World::new(true);
    let rows: Vec<String> = (0..6).map(|i| row(i, true, false, false)).collect();
    let inv = w.invite("rem", &rows, 6, 1);
    let other = w.invite("other", &rows, 6, 1);
    let cases: Vec<(Option<BatchRef>, &str, &str, &str)> = vec![
        (
            Some(BatchRef::Id(other.batch_id)),
            "2026-12-10",
            "",
            "batch of another study",
        ),
        (Some(BatchRef::Id(99)), "2026-12-10", "", "not in this store"),
        (None, "2026-12-10", "", "no batch to follow up"),
        (
            Some(BatchRef::Id(inv.batch_id)),
            "2026-11-30",
            "",
            "9 days before today",
        ),
        (
            Some(BatchRef::Id(inv.batch_id)),
            "2026-12-10",
            "[reminder]\nafter_days = 14\nof_batch = 2\n",
            "name different batches",
        ),
        (
            Some(BatchRef::File(w.path("nowhere/invitations.csv"))),
            "2026-12-10",
            "",
            "no batch of this store",
        ),
    ];
    for (k, (of, today, extra, needle)) in cases.into_iter().enumerate() {
        let out = format!("r{k}");
        let e = w.remind(&rows, of, today, extra, &out).unwrap_err();
        assert!(reasons(e).contains(needle), "case {k}: {needle}");
        assert!(!w.path(&out).join("invitations.csv").exists());
    }
    // A batch file edited after it was made is refused, by path and by id.
    let f = &inv.batch_file;
    let mut text = std::fs::read_to_string(f).unwrap();
    text.push('\n');
    std::fs::write(f, &text).unwrap();
    for of in [BatchRef::File(f.clone()), BatchRef::Id(inv.batch_id)] {
        let e = w
            .remind(&rows, Some(of), "2026-12-10", "", "tampered")
            .unwrap_err();
        assert!(matches!(e, ReminderError::Tampered { .. }), "{e}");
    }
    assert_eq!(w.store.reminder_count(None).unwrap(), 0);
}

#[test]
fn a_study_the_register_does_not_let_remind_is_refused() {
    let mut w = World::new(false);
    let rows: Vec<String> = (0..3).map(|i| row(i, true, false, false)).collect();
    let inv = w.invite("rem", &rows, 3, 1);
    let e = w
        .remind(&rows, Some(BatchRef::Id(inv.batch_id)), "2026-12-10", "", "r")
        .unwrap_err();
    assert!(matches!(e, ReminderError::NotPermitted { .. }), "{e}");
}

#[test]
fn max_reminders_and_the_gap_between_reminders_are_kept() {
    let mut w = World::new(true);
    let rows: Vec<String> = (0..5).map(|i| row(i, true, false, false)).collect();
    let inv = w.invite("rem", &rows, 5, 1);
    let of = || Some(BatchRef::Id(inv.batch_id));
    let first = w.remind(&rows, of(), "2026-12-10", "", "a").unwrap();
    assert_eq!(first.summary.reminded, 5);
    // One reminder per invitation: the second run has nobody to remind.
    let e = w.remind(&rows, of(), "2026-12-30", "", "b").unwrap_err();
    assert!(e.to_string().contains("max_reminders 5"), "{e}");
    // Two allowed, but not within after_days of the last one.
    let two = "[reminder]\nafter_days = 14\nmax_reminders = 2\n";
    let e = w.remind(&rows, of(), "2026-12-20", two, "c").unwrap_err();
    assert!(e.to_string().contains("reminded_recently 5"), "{e}");
    let second = w.remind(&rows, of(), "2026-12-30", two, "d").unwrap();
    assert_eq!(second.summary.reminded, 5);
    assert_eq!(w.store.reminder_count(Some("rem")).unwrap(), 10);
    // Reminders are not invitations: the frequency cap ignores them unless
    // asked to count them.
    let cap = w
        .store
        .capped_tokens_counting("2026-01-01", 3, false, None)
        .unwrap();
    assert!(cap.is_empty());
    let cap = w
        .store
        .capped_tokens_counting("2026-01-01", 3, true, None)
        .unwrap();
    assert_eq!(cap.len(), 5);
    let t = w.store.response_timing("rem").unwrap();
    assert_eq!((t.invited, t.reminded, t.reminders), (5, 5, 10));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Nobody excluded at reminder time appears in a reminder batch, and
    /// everyone not excluded does; the funnel adds up to the invitations.
    #[test]
    fn nobody_excluded_at_reminder_time_is_reminded(
        fates in proptest::collection::vec(proptest::sample::select(FATES.to_vec()), 1..10)
    ) {
        cycle(&fates);
    }
}
