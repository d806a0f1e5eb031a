//! End-to-end tests of the invitation pipeline on small inline cohorts.

use proptest::prelude::*;
use pseudonym::{Date, Dob, DobFormats, Key, NhsNumber, Scope, TokenKey};
use recruitment::invite::{self, BatchOptions, InviteOptions};
use recruitment::request;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use store::Store;

/// The i-th valid NHS number in the 999 test block.
fn nhs(i: u32) -> String {
    let mut n = 999_000_000u64 + i as u64 * 7;
    loop {
        let d: Vec<u64> = format!("{n:09}").bytes().map(|b| (b - b'0') as u64).collect();
        let s: u64 = d.iter().enumerate().map(|(k, &x)| x * (10 - k as u64)).sum();
        let c = (11 - s % 11) % 11;
        let all_same = d.iter().all(|&x| x == d[0]) && c == d[0];
        if c != 10 && !all_same {
            return format!("{n:09}{c}");
        }
        n += 1;
    }
}

#[derive(Clone, Debug)]
struct Person {
    nhs: String,
    dob: String,
    sex: &'static str,
    ethnic: &'static str,
    region: &'static str,
    flags: [bool; 5],
    postcode: &'static str,
}

impl Person {
    fn name(i: usize) -> String {
        format!("Given{i}")
    }
}

fn person(i: u32, age: u16, sex: &'static str) -> Person {
    Person {
        nhs: nhs(i),
        dob: format!("{}-03-{:02}", 2026 - age - 1, 1 + i % 28),
        sex,
        ethnic: ["A", "H", "N", "Z", "D"][i as usize % 5],
        region: ["London", "North West"][i as usize % 2],
        flags: [false; 5],
        postcode: "LS1 4AP",
    }
}

fn cohort_csv(people: &[Person]) -> String {
    let mut s = String::from(
        "nhs_number,given_name,family_name,date_of_birth,sex,ethnic_category,address_line_1,address_line_2,address_line_3,address_line_4,address_line_5,postcode,mobile,email,region,conditions,deceased,armed_forces,prison,s_flag,national_data_opt_out\n",
    );
    for (i, p) in people.iter().enumerate() {
        let f = |b: bool| if b { "1" } else { "0" };
        s.push_str(&format!(
            "{},{},Family{i},{},{},{},{i} High Street,,Leeds,,,{},0770090{:04},p{i}@example.org,{},,{},{},{},{},{}\n",
            p.nhs,
            Person::name(i),
            p.dob,
            p.sex,
            p.ethnic,
            p.postcode,
            i % 1000,
            p.region,
            f(p.flags[0]),
            f(p.flags[3]),
            f(p.flags[4]),
            f(p.flags[2]),
            f(p.flags[1]),
        ));
    }
    s
}

const QA: &str = "given_name,family_name,address_line_1,address_line_2,address_line_3,address_line_4,address_line_5,postcode,mobile,email\n\
QA,One,1 Service Road,,Leeds,,,LS1 1AA,07700900998,qa1@example.org\n\
QA,Two,2 Service Road,,Leeds,,,LS1 1AB,07700900999,qa2@example.org\n\
QA,Three,3 Service Road,,Leeds,,,LS1 1AD,07700900997,qa3@example.org\n";

fn as_of() -> Date {
    Date::new(2026, 11, 21).unwrap()
}

fn tk(master: &Key, scope: &Scope) -> TokenKey {
    TokenKey::new(&master.derive(scope))
}

fn token(k: &TokenKey, p: &Person) -> [u8; 32] {
    k.token_nhs_dob(
        &NhsNumber::parse(&p.nhs).unwrap(),
        &Dob::parse(&p.dob, &DobFormats::default(), as_of()).unwrap(),
    )
    .0
}

fn nc_entry(k: &TokenKey, p: &Person) -> store::NonContactEntry {
    store::NonContactEntry {
        nhs: k.token_nhs(&NhsNumber::parse(&p.nhs).unwrap()).0,
        dob: Some(token(k, p)),
        dob_given: true,
    }
}

/// Register `study` (registry and enrolled-list bases recorded) unless it is.
fn register(store: &mut Store, study: &str) {
    if store.study_get(study).unwrap().is_none() {
        let d = Date::new(2099, 12, 31).unwrap();
        store
            .study_add(
                store::StudyEntry {
                    study: study.to_string(),
                    organisation: "Example Trials Unit".into(),
                    approvals: store::Approvals {
                        ethics_reference: "24/NE/0001".into(),
                        section_251_reference: None,
                        dsa_reference: "DSA-1".into(),
                        dsa_expires: d,
                        registry_basis: store::LegalBasis::Consent,
                        enrolled_basis: store::LegalBasis::Consent,
                    },
                    routes: vec![store::OutputRoute::ServiceMailer],
                    channels: vec![
                        store::RegisterChannel::Postal,
                        store::RegisterChannel::Sms,
                        store::RegisterChannel::Email,
                    ],
                    retain_until: d,
                    reminders: false,
                },
                "test",
            )
            .unwrap();
    }
}

struct Setup {
    dir: tempfile::TempDir,
    master: Key,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            dir: tempfile::tempdir().unwrap(),
            master: Key::from_bytes([0x42; 32]),
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
    /// A token CSV + manifest under `scope`.
    fn token_list(&self, n: &str, scope: &str, key_scope: &str, people: &[&Person]) -> PathBuf {
        self.token_list_under(
            n,
            scope,
            &self.master.derive(&Scope::new(key_scope).unwrap()),
            people,
        )
    }
    /// A token CSV + manifest under `scope`, made with `key`.
    fn token_list_under(&self, n: &str, scope: &str, key: &Key, people: &[&Person]) -> PathBuf {
        let k = TokenKey::new(key);
        let mut s = String::from("token\n");
        for p in people {
            s.push_str(&hex::encode(token(&k, p)));
            s.push('\n');
        }
        let path = self.write(n, &s);
        let mut m = tabular::Manifest::new("pseudonymise", "test");
        m.scope = Some(scope.to_string());
        m.key_fingerprint = Some(key.fingerprint().to_string());
        m.write(&tabular::sidecar_path(&path, ".manifest.json")).unwrap();
        path
    }
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        store: &mut Store,
        cohort: &Path,
        req: &str,
        out: &str,
        registry: Option<&Path>,
        enrolled: Option<&Path>,
    ) -> Result<recruitment::InviteReport, recruitment::InviteError> {
        let rp = self.write(&format!("{out}.toml"), req);
        let v = request::parse(rp.to_str().unwrap(), req, as_of())?;
        register(store, &v.request.study);
        let qa = self.write("qa.csv", QA);
        invite::invite(
            store,
            &InviteOptions {
                batch: BatchOptions {
                    master: &self.master,
                    cohort,
                    request_path: &rp,
                    request: &v,
                    out_dir: &self.path(out),
                    enrolled,
                    qa_seeds: Some(&qa),
                    dob_formats: DobFormats::default(),
                    today: pseudonym::Date::new(2026, 11, 21).unwrap(),
                    backdate: None,
                    clk_threshold: suppression::clk::DEFAULT_THRESHOLD,
                    manifest_options: BTreeMap::new(),
                    progress: None,
                },
                registry,
                registry_links: None,
            },
        )
    }
}

fn read_batch(p: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(p).unwrap();
    let h = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    (h, rows)
}

const REQ: &str = r#"
study = "galleri-2"
channel = "postal"
invitations = 12
seed = 7
as_of = "2026-11-21"
[criteria]
min_age = 50
max_age = 77
[quotas]
by = ["sex"]
[[quotas.stratum]]
sex = "female"
count = 8
[[quotas.stratum]]
sex = "male"
count = 4
[[arms]]
name = "A"
template = "letter-a"
[[arms]]
name = "B"
template = "letter-b"
"#;

fn population(n: u32) -> Vec<Person> {
    (0..n)
        .map(|i| {
            person(
                i,
                40 + (i % 45) as u16,
                if i % 2 == 0 { "female" } else { "male" },
            )
        })
        .collect()
}

#[test]
fn batch_is_minimised_quotas_met_and_qa_recorded_apart() {
    let s = Setup::new();
    let people = population(200);
    let cohort = s.write("cohort.csv", &cohort_csv(&people));
    let mut store = Store::open(&s.path("store.sqlite")).unwrap();
    let rep = s.run(&mut store, &cohort, REQ, "out", None, None).unwrap();
    let (h, rows) = read_batch(&rep.batch_file);
    assert_eq!(h, recruitment::Channel::Postal.columns());
    assert_eq!(rows.len(), 12 + 2);
    let qa_rows: Vec<_> = rows.iter().filter(|r| r[2] == "QA").collect();
    assert_eq!(qa_rows.len(), 2);
    // References are distinct UUID v4s.
    let refs: BTreeSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(refs.len(), 14);
    for r in &refs {
        assert_eq!(r.len(), 36);
        assert_eq!(&r[14..15], "4");
        assert!(matches!(&r[19..20], "8" | "9" | "a" | "b"), "{r}");
    }
    // Quotas met exactly.
    let by_sex = |sex: &str| {
        rows.iter()
            .filter(|r| r[2] != "QA")
            .filter(|r| {
                let i: usize = r[2].trim_start_matches("Given").parse().unwrap();
                people[i].sex == sex
            })
            .count()
    };
    assert_eq!((by_sex("female"), by_sex("male")), (8, 4));
    let st = &rep.summary.strata;
    assert!(st.iter().all(|x| x.shortfall == 0));
    // Funnel adds up to the cohort.
    assert_eq!(rep.summary.funnel.iter().map(|f| f.count).sum::<u64>(), 200);
    assert_eq!(rep.summary.funnel.last().unwrap().remaining, 0);
    assert_eq!(store.invitation_count(Some("galleri-2")).unwrap(), 12);
    assert_eq!(store.qa_seed_count(Some("galleri-2")).unwrap(), 2);
    // The selection summary (counts only) is kept with the batch for reports.
    let sums = store.batch_summaries("galleri-2").unwrap();
    let j: serde_json::Value = serde_json::from_str(&sums[0].2).unwrap();
    assert_eq!(j["invited"], 12);
    assert_eq!(j["funnel"].as_array().unwrap().len(), 16);
    // Arms balanced within strata.
    for x in st {
        let a = x.arms["A"] as i64;
        let b = x.arms["B"] as i64;
        assert!((a - b).abs() <= 1, "{x:?}");
    }
    // No NHS number, DOB or name in the store (file bytes, WAL included).
    drop(store);
    let mut bytes = std::fs::read(s.path("store.sqlite")).unwrap();
    if let Ok(w) = std::fs::read(s.path("store.sqlite-wal")) {
        bytes.extend(w);
    }
    let hay = String::from_utf8_lossy(&bytes);
    for p in &people {
        assert!(!hay.contains(&p.nhs), "NHS number in store");
        assert!(!hay.contains(&p.dob), "DOB in store");
    }
    assert!(!hay.contains("Given1") && !hay.contains("High Street") && !hay.contains("@example.org"));
    // And none in the batch either.
    let batch = std::fs::read_to_string(&rep.batch_file).unwrap();
    for p in &people {
        assert!(!batch.contains(&p.nhs) && !batch.contains(&p.dob));
    }
    // Outputs beside the batch.
    for f in [
        invite::MANIFEST,
        invite::SUMMARY_JSON,
        invite::SUMMARY_MD,
        invite::REJECTS,
    ] {
        assert!(s.path("out").join(f).exists(), "{f}");
    }
}

#[test]
fn same_request_seed_and_store_give_the_same_batch() {
    let s = Setup::new();
    let cohort = s.write("cohort.csv", &cohort_csv(&population(150)));
    {
        let _ = Store::open(&s.path("a.sqlite")).unwrap();
    }
    std::fs::copy(s.path("a.sqlite"), s.path("b.sqlite")).unwrap();
    let mut a = Store::open(&s.path("a.sqlite")).unwrap();
    let ra = s.run(&mut a, &cohort, REQ, "outa", None, None).unwrap();
    let mut b = Store::open(&s.path("b.sqlite")).unwrap();
    let rb = s.run(&mut b, &cohort, REQ, "outb", None, None).unwrap();
    assert_eq!(
        std::fs::read(&ra.batch_file).unwrap(),
        std::fs::read(&rb.batch_file).unwrap()
    );
    // A different seed selects differently.
    let rc = s
        .run(
            &mut b,
            &cohort,
            &REQ.replace("seed = 7", "seed = 8"),
            "outc",
            None,
            None,
        )
        .unwrap();
    assert_ne!(
        std::fs::read(&ra.batch_file).unwrap(),
        std::fs::read(&rc.batch_file).unwrap()
    );
    // The same seed again on the same store is refused, not duplicated.
    let e = s.run(&mut a, &cohort, REQ, "outd", None, None).unwrap_err();
    assert!(matches!(e, recruitment::InviteError::AlreadyRun { .. }), "{e}");
    // People invited with seed 7 are not invited again by seed 8 (already invited).
    let refs_a: BTreeSet<String> = read_batch(&ra.batch_file)
        .1
        .into_iter()
        .map(|r| r[2].clone())
        .collect();
    let refs_c: BTreeSet<String> = read_batch(&rc.batch_file)
        .1
        .into_iter()
        .map(|r| r[2].clone())
        .collect();
    assert!(refs_a.intersection(&refs_c).all(|n| n == "QA"));
}

#[test]
fn shortfall_reported_not_filled_unless_allowed() {
    let s = Setup::new();
    // Only 3 eligible men.
    let mut people: Vec<Person> = (0..40).map(|i| person(i, 60, "female")).collect();
    people.extend((40..43).map(|i| person(i, 60, "male")));
    let cohort = s.write("cohort.csv", &cohort_csv(&people));
    let mut store = Store::open(&s.path("s.sqlite")).unwrap();
    let rep = s.run(&mut store, &cohort, REQ, "o1", None, None).unwrap();
    let male = rep
        .summary
        .strata
        .iter()
        .find(|x| x.stratum == "sex=male")
        .unwrap();
    assert_eq!((male.selected, male.shortfall), (3, 1));
    assert_eq!(rep.summary.invited, 11);
    let fill = REQ
        .replace("by = [\"sex\"]", "by = [\"sex\"]\nallow_fill = true")
        .replace("seed = 7", "seed = 9");
    let rep = s.run(&mut store, &cohort, &fill, "o2", None, None).unwrap();
    // 11 people were invited already by seed 7: the pool is 32 women, 0 men.
    let female = rep
        .summary
        .strata
        .iter()
        .find(|x| x.stratum == "sex=female")
        .unwrap();
    assert_eq!(female.fill, 4);
    assert_eq!(rep.summary.invited, 12);
}

#[test]
fn registry_volunteers_first_and_foreign_key_refused() {
    let s = Setup::new();
    let people = population(120);
    let cohort = s.write("cohort.csv", &cohort_csv(&people));
    // Volunteers: eligible women 50-77 at indices divisible by 10.
    let vols: Vec<&Person> = people
        .iter()
        .enumerate()
        .filter(|(i, p)| i % 10 == 0 && p.sex == "female")
        .map(|(_, p)| p)
        .collect();
    let reg = s.token_list("registry.csv", "registry:bpor", "registry:bpor", &vols);
    let mut store = Store::open(&s.path("s.sqlite")).unwrap();
    let rep = s.run(&mut store, &cohort, REQ, "o1", Some(&reg), None).unwrap();
    let female = rep
        .summary
        .strata
        .iter()
        .find(|x| x.stratum == "sex=female")
        .unwrap();
    let eligible_vols = vols
        .iter()
        .filter(|p| {
            let age = Date::parse_iso(&p.dob).unwrap().years_until(as_of());
            (50..=77).contains(&age)
        })
        .count() as u32;
    assert_eq!(female.registry_available, eligible_vols as u64);
    assert_eq!(female.registry_selected, eligible_vols.min(8));
    // A registry file made with another master key is refused, naming both fingerprints.
    let other = Setup {
        dir: tempfile::tempdir().unwrap(),
        master: Key::from_bytes([7; 32]),
    };
    let foreign = other.token_list("registry.csv", "registry:bpor", "registry:bpor", &vols);
    let e = s
        .run(
            &mut store,
            &cohort,
            &REQ.replace("seed = 7", "seed = 5"),
            "o2",
            Some(&foreign),
            None,
        )
        .unwrap_err()
        .to_string();
    let theirs = other
        .master
        .derive(&Scope::new("registry:bpor").unwrap())
        .fingerprint()
        .to_string();
    let ours = s
        .master
        .derive(&Scope::new("registry:bpor").unwrap())
        .fingerprint()
        .to_string();
    assert!(e.contains(&theirs) && e.contains(&ours), "{e}");
    // An enrolled list for another study is refused.
    let wrong = s.token_list("enrolled.csv", "trial:other", "trial:other", &vols);
    let e = s
        .run(
            &mut store,
            &cohort,
            &REQ.replace("seed = 7", "seed = 6"),
            "o3",
            None,
            Some(&wrong),
        )
        .unwrap_err();
    assert!(e.to_string().contains("trial:other"), "{e}");
}

#[test]
fn bad_rows_are_counted_rejects_with_line_numbers() {
    let s = Setup::new();
    let people = population(30);
    let mut text = cohort_csv(&people);
    let good = nhs(500);
    let last = (good.as_bytes()[9] - b'0' + 1) % 10;
    let bad_nhs = format!("{}{last}", &good[..9]);
    text.push_str(&format!(
        "{bad_nhs},X,Y,1960-01-01,female,A,1 Road,,,,,LS1 1AA,,,London,,0,0,0,0,0\n"
    ));
    text.push_str(&format!(
        "{},X,Y,1960-13-01,female,A,1 Road,,,,,LS1 1AA,,,London,,0,0,0,0,0\n",
        nhs(501)
    ));
    text.push_str(&format!(
        "{},X,Y,1960-01-01,female,A,1 Road,,,,,LS1 1AA,,,London,,0,maybe,0,0,0\n",
        nhs(502)
    ));
    text.push_str("short,row\n");
    // The first person again: a duplicate, rejected (never invited twice).
    text.push_str(text.lines().nth(1).unwrap().to_string().as_str());
    text.push('\n');
    let cohort = s.write("cohort.csv", &text);
    let mut store = Store::open(&s.path("s.sqlite")).unwrap();
    let rep = s
        .run(
            &mut store,
            &cohort,
            &REQ.replace("count = 8", "count = 2")
                .replace("count = 4", "count = 1")
                .replace("invitations = 12", "invitations = 3"),
            "o",
            None,
            None,
        )
        .unwrap();
    let rejects = std::fs::read_to_string(s.path("o").join(invite::REJECTS)).unwrap();
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines[0], "line,column,reason");
    assert!(lines[1].starts_with("32,nhs_number,nhs_"), "{rejects}");
    assert!(lines[2].starts_with("33,date_of_birth,dob_"), "{rejects}");
    assert_eq!(lines[3], "34,armed_forces,bad_flag");
    assert_eq!(lines[4], "35,,ragged_row");
    // Issue 14: duplicates are decided per person. A second clean row of an
    // eligible person is rejected as a duplicate; a second row of a person
    // who is not eligible is counted as not eligible like the first.
    if let Some(l) = lines.get(5) {
        assert_eq!(*l, "36,nhs_number,duplicate_person");
    }
    assert!(!rejects.contains(&bad_nhs));
    assert_eq!(rep.summary.funnel[0].count, lines.len() as u64 - 1);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("o").join(invite::MANIFEST)).unwrap()).unwrap();
    assert_eq!(m["rows"]["in"], 35);
    assert_eq!(m["rows"]["rejected"], lines.len() as u64 - 1);
}

/// Per person: age, female, flags, list membership bits.
type Spec = Vec<(u16, bool, [bool; 5], u8)>;

fn arb_case() -> impl Strategy<Value = (Spec, u32, u64, u32, usize)> {
    (
        proptest::collection::vec(
            (
                30u16..90,
                any::<bool>(),
                proptest::array::uniform5(proptest::bool::weighted(0.1)),
                0u8..8,
            ),
            5..60,
        ),
        1u32..30,
        0u64..i64::MAX as u64,
        1u32..3,
        0usize..3,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    /// Nobody on the non-contact list, the enrolled list, with an exclusion
    /// flag, or over the frequency cap is ever invited.
    #[test]
    fn excluded_people_are_never_invited((spec, n, seed, cap, channel) in arb_case()) {
        let s = Setup::new();
        let people: Vec<Person> = spec
            .iter()
            .enumerate()
            .map(|(i, &(age, female, flags, _))| Person {
                flags,
                ..person(i as u32, age, if female { "female" } else { "male" })
            })
            .collect();
        // lists: bit 0 non-contact, bit 1 enrolled, bit 2 prior invitations (cap).
        let nc: Vec<&Person> = people.iter().zip(&spec).filter(|(_, s)| s.3 & 1 != 0).map(|(p, _)| p).collect();
        let en: Vec<&Person> = people.iter().zip(&spec).filter(|(_, s)| s.3 & 2 != 0).map(|(p, _)| p).collect();
        let capped: Vec<&Person> = people.iter().zip(&spec).filter(|(_, s)| s.3 & 4 != 0).map(|(p, _)| p).collect();
        let cohort = s.write("cohort.csv", &cohort_csv(&people));
        let mut store = Store::open(&s.path("s.sqlite")).unwrap();
        let svc = tk(&s.master, &Scope::service_store());
        store.noncontact_add(&nc.iter().map(|p| nc_entry(&svc, p)).collect::<Vec<_>>(), "test").unwrap();
        for k in 0..cap {
            let hist: Vec<store::Invitation> = capped.iter().enumerate().map(|(j, p)| store::Invitation {
                reference: format!("hist-{k}-{j}"),
                position: j as u32 + 1,
                service_token: token(&svc, p),
                study_token: [0; 32],
                arm: "A".into(), template: "t".into(), registry: false, stratum: "all".into(),
                age_band: "x".into(), sex: "x".into(), ethnic_group: "x".into(), region: "x".into(),
            }).collect();
            store.load_history(&format!("old{k}"), 1, "2026-10-01", &hist).unwrap();
        }
        register(&mut store, "galleri-2");
        let study_key = store.study_key(&s.master, "galleri-2").unwrap().key;
        let enrolled = s.token_list_under("enrolled.csv", "trial:galleri-2", &study_key, &en);
        let req = format!(
            "study = \"galleri-2\"\nchannel = \"{}\"\ninvitations = {n}\nseed = {seed}\nas_of = \"2026-11-21\"\n\
             [criteria]\nmin_age = 50\nmax_age = 77\n[frequency_cap]\nmax_invitations = {cap}\nwithin_days = 365\n\
             [quotas]\nby = [\"sex\"]\nproportional = true\n[[arms]]\nname = \"A\"\ntemplate = \"a\"\n",
            ["postal", "sms", "email"][channel]
        );
        let rep = s.run(&mut store, &cohort, &req, "out", None, Some(&enrolled)).unwrap();
        let (_, rows) = read_batch(&rep.batch_file);
        let mut invited = 0;
        for r in rows.iter().filter(|r| r[2] != "QA") {
            invited += 1;
            let i: usize = r[2].trim_start_matches("Given").parse().unwrap();
            let p = &people[i];
            let age = Date::parse_iso(&p.dob).unwrap().years_until(as_of());
            prop_assert!((50..=77).contains(&age));
            prop_assert!(!p.flags.iter().any(|&f| f), "flagged person invited");
            prop_assert!(spec[i].3 == 0, "listed person invited: {}", spec[i].3);
        }
        prop_assert!(invited <= n as usize);
        prop_assert_eq!(rep.summary.funnel.iter().map(|f| f.count).sum::<u64>(), people.len() as u64);
        // Invited = min(n, eligible after every exclusion).
        let eligible = people.iter().zip(&spec).filter(|(p, sp)| {
            let age = Date::parse_iso(&p.dob).unwrap().years_until(as_of());
            (50..=77).contains(&age) && !p.flags.iter().any(|&f| f) && sp.3 == 0
        }).count();
        // Proportional quotas over the pool: everyone requested can be served.
        prop_assert_eq!(invited, eligible.min(n as usize));
    }
}
