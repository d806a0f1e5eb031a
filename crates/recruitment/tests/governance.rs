//! Route gating against the study register: a route, channel,
//! expired agreement or missing basis the register refuses stops `invite`
//! before any file is written; a permitted route makes the batch.

use pseudonym::{Date, DobFormats, Key};
use recruitment::invite::{self, BatchOptions, InviteOptions};
use recruitment::{request, InviteError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use store::{Approvals, LegalBasis, OutputRoute, RegisterChannel, RouteRefusal, Store, StudyEntry};

/// The i-th valid NHS number in the 999 test block.
fn nhs(i: u32) -> String {
    let mut n = 999_000_000u64 + i as u64 * 7;
    loop {
        let d: Vec<u64> = format!("{n:09}").bytes().map(|b| (b - b'0') as u64).collect();
        let s: u64 = d.iter().enumerate().map(|(k, &x)| x * (10 - k as u64)).sum();
        let c = (11 - s % 11) % 11;
        if c != 10 && !d.iter().all(|&x| x == d[0]) {
            return format!("{n:09}{c}");
        }
        n += 1;
    }
}

fn cohort(dir: &Path) -> PathBuf {
    let mut s = String::from(
        "nhs_number,given_name,family_name,date_of_birth,sex,ethnic_category,address_line_1,address_line_2,address_line_3,address_line_4,address_line_5,postcode,mobile,email,region,conditions,deceased,armed_forces,prison,s_flag,national_data_opt_out\n",
    );
    for i in 0..30u32 {
        s.push_str(&format!(
            "{},Given{i},Family{i},1960-03-{:02},female,A,{i} High Street,,Leeds,,,LS1 4AP,0770090{:04},p{i}@example.org,London,,0,0,0,0,0\n",
            if i % 3 == 0 {
                let n = nhs(i);
                format!("{} {} {}", &n[..3], &n[3..6], &n[6..])
            } else {
                nhs(i)
            },
            1 + i % 28,
            i
        ));
    }
    let p = dir.join("cohort.csv");
    std::fs::write(&p, s).unwrap();
    p
}

fn entry(routes: &[OutputRoute]) -> StudyEntry {
    StudyEntry {
        study: "gov-1".into(),
        organisation: "Example Trials Unit".into(),
        approvals: Approvals {
            ethics_reference: "24/NE/0001".into(),
            section_251_reference: None,
            dsa_reference: "DSA-0001".into(),
            dsa_expires: Date::new(2099, 12, 31).unwrap(),
            registry_basis: LegalBasis::None,
            enrolled_basis: LegalBasis::None,
        },
        routes: routes.to_vec(),
        channels: vec![RegisterChannel::Postal],
        retain_until: Date::new(2099, 12, 31).unwrap(),
        reminders: false,
    }
}

const REQ: &str = "study = \"gov-1\"\nchannel = \"postal\"\ninvitations = 5\nseed = 1\nas_of = \"2026-11-21\"\nqa_seeds = 0\n[[arms]]\nname = \"A\"\ntemplate = \"t\"\n";

struct T {
    dir: tempfile::TempDir,
    store: Store,
    master: Key,
    cohort: PathBuf,
}

impl T {
    fn new() -> T {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let cohort = cohort(dir.path());
        T {
            dir,
            store,
            master: Key::from_bytes([0x42; 32]),
            cohort,
        }
    }

    /// Run invite with `route` (None: no `route` key) into `out`;
    /// `enrolled` passes an (unread when refused) enrolled-list path.
    fn run(
        &mut self,
        route: Option<&str>,
        out: &str,
        enrolled: Option<&Path>,
    ) -> Result<recruitment::InviteReport, InviteError> {
        let text = match route {
            Some(r) => format!("route = \"{r}\"\n{REQ}"),
            None => REQ.to_string(),
        };
        let rp = self.dir.path().join(format!("{out}.toml"));
        std::fs::write(&rp, &text).unwrap();
        let v = request::parse(rp.to_str().unwrap(), &text, Date::new(2026, 11, 21).unwrap())?;
        invite::invite(
            &mut self.store,
            &InviteOptions {
                batch: BatchOptions {
                    master: &self.master,
                    cohort: &self.cohort,
                    request_path: &rp,
                    request: &v,
                    out_dir: &self.dir.path().join(out),
                    enrolled,
                    qa_seeds: None,
                    dob_formats: DobFormats::default(),
                    today: pseudonym::Date::new(2026, 11, 21).unwrap(),
                    backdate: None,
                    clk_threshold: suppression::clk::DEFAULT_THRESHOLD,
                    manifest_options: BTreeMap::new(),
                    progress: None,
                },
                registry: None,
                registry_links: None,
            },
        )
    }

    /// Assert nothing was written for `out` and no batch was recorded.
    fn nothing_written(&self, out: &str) {
        assert!(!self.dir.path().join(out).exists(), "{out} was created");
        assert!(self.store.batches().unwrap().is_empty());
    }
}

#[test]
fn unregistered_study_keeps_the_service_mailer_only() {
    let mut t = T::new();
    for r in ["org-provider", "organisation", "nhs-notification"] {
        let e = t.run(Some(r), r, None).unwrap_err();
        assert!(matches!(e, InviteError::NotRegistered { .. }), "{r}: {e}");
        assert!(e.to_string().contains(r), "{e}");
        t.nothing_written(r);
    }
    // No register entry, no recorded basis: no enrolled list (it is refused
    // before the list is read: the path does not even exist).
    let e = t
        .run(None, "en", Some(Path::new("/nonexistent/enrolled.csv")))
        .unwrap_err();
    assert!(matches!(e, InviteError::UnregisteredProcessing { .. }), "{e}");
    assert!(e.to_string().contains("enrolled-list suppression"), "{e}");
    t.nothing_written("en");
    let rep = t.run(None, "ok", None).unwrap();
    assert_eq!(rep.summary.invited, 5);
}

#[test]
fn register_refusals_come_before_any_file() {
    let mut t = T::new();
    t.store
        .study_add(
            entry(&[OutputRoute::ServiceMailer, OutputRoute::Organisation]),
            "alice",
        )
        .unwrap();
    // Route not permitted.
    let e = t.run(Some("org-provider"), "a", None).unwrap_err();
    assert!(
        matches!(e, InviteError::Route(RouteRefusal::RouteNotPermitted { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("org-provider"), "{e}");
    t.nothing_written("a");
    // Route 4 permitted but no section 251 support or consent.
    let e = t.run(Some("organisation"), "b", None).unwrap_err();
    assert!(
        matches!(e, InviteError::Route(RouteRefusal::NoSection251 { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("section 251"), "{e}");
    t.nothing_written("b");
    // Enrolled-list suppression without a basis (the file is never read).
    let missing = t.dir.path().join("enrolled-not-there.csv");
    let e = t.run(None, "c", Some(&missing)).unwrap_err();
    let text = format!("route = \"service-mailer\"\n{REQ}");
    let v = request::parse("r.toml", &text, Date::new(2026, 11, 21).unwrap()).unwrap();
    let today = Date::new(2026, 11, 21).unwrap();
    let reg = invite::check_governance(&t.store, &v, true, false, today).unwrap_err();
    assert!(
        matches!(
            reg,
            InviteError::NoBasis {
                key: "approvals.registry_basis",
                ..
            }
        ),
        "{reg}"
    );
    assert!(reg.to_string().contains("registry prioritisation"), "{reg}");
    invite::check_governance(&t.store, &v, false, false, today).unwrap();
    assert!(
        matches!(
            e,
            InviteError::NoBasis {
                key: "approvals.enrolled_basis",
                ..
            }
        ),
        "{e}"
    );
    t.nothing_written("c");

    // Expired agreement.
    let mut expired = entry(&[OutputRoute::ServiceMailer, OutputRoute::Organisation]);
    expired.approvals.dsa_expires = Date::new(2020, 1, 31).unwrap();
    t.store.study_update(expired, "bob").unwrap();
    let e = t.run(None, "d", None).unwrap_err();
    assert!(
        matches!(e, InviteError::Route(RouteRefusal::DsaExpired { .. })),
        "{e}"
    );
    assert!(
        e.to_string().contains("DSA-0001") && e.to_string().contains("2020-01-31"),
        "{e}"
    );
    t.nothing_written("d");

    // With section 251 support and an agreement in date, route 4 runs and
    // writes the channel's batch.
    let mut ok = entry(&[OutputRoute::ServiceMailer, OutputRoute::Organisation]);
    ok.approvals.section_251_reference = Some("24/CAG/0002".into());
    t.store.study_update(ok, "carol").unwrap();
    let rep = t.run(Some("organisation"), "e", None).unwrap();
    assert_eq!(rep.summary.invited, 5);
    let batch = std::fs::read_to_string(&rep.batch_file).unwrap();
    assert_eq!(
        batch.lines().next().unwrap(),
        recruitment::Channel::Postal.columns().join(",")
    );
    let manifest = rep.batch_file.with_file_name("invitations.csv.manifest.json");
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    assert_eq!(m["extra"]["route"], "organisation");
    assert_eq!(t.store.batches().unwrap().len(), 1);

    // A closed study makes no more batches.
    t.store.study_close("gov-1", "dave").unwrap();
    let e = t.run(None, "f", None).unwrap_err();
    assert!(
        matches!(e, InviteError::Route(RouteRefusal::Closed { .. })),
        "{e}"
    );
    assert!(!t.dir.path().join("f").exists());
}

#[test]
fn channel_not_permitted_is_refused_before_any_file() {
    let mut t = T::new();
    let mut e = entry(&[OutputRoute::NhsNotification]);
    e.channels = vec![RegisterChannel::Email];
    t.store.study_add(e, "alice").unwrap();
    let err = t.run(Some("nhs-notification"), "a", None).unwrap_err();
    assert!(
        matches!(err, InviteError::Route(RouteRefusal::ChannelNotPermitted { .. })),
        "{err}"
    );
    t.nothing_written("a");
}

/// Every route's batch holds exactly its data: route 1 the reference, the
/// template and the NHS number (normal form) and nothing else; routes 2–4
/// the channel's contact fields and no NHS number.
#[test]
fn each_route_batch_holds_exactly_its_data() {
    let mut t = T::new();
    let mut e = entry(&OutputRoute::ALL);
    e.approvals.section_251_reference = Some("CAG 1-02(a)/2026".into());
    t.store.study_add(e, "alice").unwrap();
    let valid: Vec<String> = (0..30).map(nhs).collect();
    for (k, route) in OutputRoute::ALL.iter().enumerate() {
        let out = format!("r{}", route.number());
        let text = format!("route = \"{route}\"\nstudy = \"gov-1\"\nchannel = \"postal\"\ninvitations = 5\nseed = {}\nas_of = \"2026-11-21\"\nqa_seeds = 0\nreinvite = true\n[[arms]]\nname = \"A\"\ntemplate = \"t\"\n", k + 10);
        let rp = t.dir.path().join(format!("{out}.toml"));
        std::fs::write(&rp, &text).unwrap();
        let v = request::parse(rp.to_str().unwrap(), &text, Date::new(2026, 11, 21).unwrap()).unwrap();
        let rep = invite::invite(
            &mut t.store,
            &InviteOptions {
                batch: BatchOptions {
                    master: &t.master,
                    cohort: &t.cohort,
                    request_path: &rp,
                    request: &v,
                    out_dir: &t.dir.path().join(&out),
                    enrolled: None,
                    qa_seeds: None,
                    dob_formats: DobFormats::default(),
                    today: pseudonym::Date::new(2026, 11, 21).unwrap(),
                    backdate: None,
                    clk_threshold: suppression::clk::DEFAULT_THRESHOLD,
                    manifest_options: BTreeMap::new(),
                    progress: None,
                },
                registry: None,
                registry_links: None,
            },
        )
        .unwrap();
        assert_eq!(rep.summary.invited, 5, "{route}");
        assert_eq!(rep.summary.route, route.name());
        let text = std::fs::read_to_string(&rep.batch_file).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), 5);
        if *route == OutputRoute::NhsNotification {
            assert_eq!(header, "reference,template,nhs_number");
            for r in &rows {
                assert_eq!(r.len(), 3);
                assert!(
                    valid.contains(&r[2].to_string()),
                    "not a cohort NHS number in normal form"
                );
            }
            for word in [
                "Given",
                "Family",
                "High Street",
                "LS1",
                "07700",
                "example.org",
                "1960-",
            ] {
                assert!(!text.contains(word), "route 1 batch carries {word}");
            }
        } else {
            assert_eq!(
                header,
                "reference,template,given_name,family_name,address_line_1,address_line_2,address_line_3,address_line_4,address_line_5,postcode"
            );
            for r in &rows {
                assert!(
                    !valid.iter().any(|n| r.contains(&n.as_str())),
                    "{route} batch carries an NHS number"
                );
                assert!(!r.iter().any(|c| c.contains("example.org") || c.contains("07700")));
            }
        }
    }
}
