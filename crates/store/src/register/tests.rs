use super::*;
use crate::schema;
use crate::Store;
use proptest::prelude::*;

fn d(s: &str) -> Date {
    Date::parse_iso(s).unwrap()
}

fn entry(study: &str) -> StudyEntry {
    StudyEntry {
        study: study.to_string(),
        organisation: "Example Trials Unit".into(),
        approvals: Approvals {
            ethics_reference: "24/NE/0001".into(),
            section_251_reference: None,
            dsa_reference: "DSA-0001".into(),
            dsa_expires: d("2027-03-31"),
            registry_basis: LegalBasis::Consent,
            enrolled_basis: LegalBasis::None,
        },
        routes: vec![
            OutputRoute::ServiceMailer,
            OutputRoute::NhsNotification,
            OutputRoute::ServiceMailer,
        ],
        channels: vec![RegisterChannel::Email, RegisterChannel::Postal],
        retain_until: d("2032-12-31"),
        reminders: false,
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("s.sqlite")).unwrap();
    (dir, s)
}

#[test]
fn add_get_list_update_close_and_history() {
    let (_d, mut s) = open();
    let r1 = s.study_add(entry("b-2"), "alice").unwrap();
    assert_eq!(r1.version, 1);
    assert_eq!(r1.status, StudyStatus::Open);
    // Canonical order, no repeats.
    assert_eq!(
        r1.entry.routes,
        vec![OutputRoute::NhsNotification, OutputRoute::ServiceMailer]
    );
    assert_eq!(
        r1.entry.channels,
        vec![RegisterChannel::Postal, RegisterChannel::Email]
    );
    assert_eq!(s.study_get("b-2").unwrap(), Some(r1.clone()));
    s.study_add(entry("a-1"), "alice").unwrap();
    let ids: Vec<_> = s
        .study_list()
        .unwrap()
        .into_iter()
        .map(|r| r.entry.study)
        .collect();
    assert_eq!(ids, ["a-1", "b-2"]);

    let mut e = entry("b-2");
    e.approvals.section_251_reference = Some("24/CAG/0002".into());
    e.routes.push(OutputRoute::Organisation);
    let r2 = s.study_update(e.clone(), "bob").unwrap();
    assert_eq!(r2.version, 2);
    let r3 = s.study_close("b-2", "carol").unwrap();
    assert_eq!((r3.version, r3.status), (3, StudyStatus::Closed));
    assert_eq!(s.study_get("b-2").unwrap(), Some(r3.clone()));

    let h = s.study_history("b-2").unwrap();
    let summary: Vec<_> = h
        .iter()
        .map(|x| (x.action, x.record.version, x.record.operator.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (HistoryAction::Add, 1, "alice"),
            (HistoryAction::Update, 2, "bob"),
            (HistoryAction::Close, 3, "carol")
        ]
    );
    assert_eq!(h[0].record, r1);
    assert_eq!(h[1].record, r2);
    assert_eq!(h[2].record, r3);
    assert!(h.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(s.study_history("a-1").unwrap().len(), 1);
    assert!(s.study_history("nope").unwrap().is_empty());
}

#[test]
fn refusals() {
    let (_d, mut s) = open();
    s.study_add(entry("s1"), "alice").unwrap();
    assert!(matches!(
        s.study_add(entry("s1"), "alice"),
        Err(StoreError::StudyRegistered { .. })
    ));
    assert!(matches!(
        s.study_update(entry("s9"), "alice"),
        Err(StoreError::StudyNotRegistered { .. })
    ));
    assert!(matches!(
        s.study_close("s9", "alice"),
        Err(StoreError::StudyNotRegistered { .. })
    ));
    assert!(matches!(
        s.study_update(entry("s1"), ""),
        Err(StoreError::InvalidEntry {
            field: "operator",
            ..
        })
    ));
    s.study_close("s1", "alice").unwrap();
    assert!(matches!(
        s.study_close("s1", "alice"),
        Err(StoreError::StudyClosed { .. })
    ));
    assert!(matches!(
        s.study_update(entry("s1"), "alice"),
        Err(StoreError::StudyClosed { .. })
    ));
    // Refused changes leave no history.
    assert_eq!(s.study_history("s1").unwrap().len(), 2);
}

#[test]
fn invalid_entries_name_the_field() {
    let (_d, mut s) = open();
    type Mutate = Box<dyn Fn(&mut StudyEntry)>;
    let cases: Vec<(&str, Mutate)> = vec![
        ("study", Box::new(|e| e.study = "has space".into())),
        ("study", Box::new(|e| e.study = String::new())),
        ("study", Box::new(|e| e.study = "Trial-1".into())),
        ("organisation", Box::new(|e| e.organisation = " x".into())),
        (
            "approvals.ethics_reference",
            Box::new(|e| e.approvals.ethics_reference.clear()),
        ),
        (
            "approvals.dsa_reference",
            Box::new(|e| e.approvals.dsa_reference = "a\nb".into()),
        ),
        (
            "approvals.section_251_reference",
            Box::new(|e| e.approvals.section_251_reference = Some(String::new())),
        ),
        (
            "approvals.registry_basis",
            Box::new(|e| e.approvals.registry_basis = LegalBasis::Section251),
        ),
        (
            "approvals.enrolled_basis",
            Box::new(|e| e.approvals.enrolled_basis = LegalBasis::Section251),
        ),
        ("routes", Box::new(|e| e.routes.clear())),
        ("channels", Box::new(|e| e.channels.clear())),
    ];
    for (field, f) in cases {
        let mut e = entry("s1");
        f(&mut e);
        match s.study_add(e, "alice") {
            Err(StoreError::InvalidEntry { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(s.study_list().unwrap().is_empty());
    // Section 251 basis is fine with a reference.
    let mut e = entry("s1");
    e.approvals.section_251_reference = Some("24/CAG/0002".into());
    e.approvals.enrolled_basis = LegalBasis::Section251;
    s.study_add(e, "alice").unwrap();
}

#[test]
fn history_is_append_only_and_complete_even_through_sql() {
    let (_d, mut s) = open();
    s.study_add(entry("s1"), "alice").unwrap();
    let c = s.connection();
    for q in [
        "UPDATE study_register_history SET operator = 'mallory'",
        "DELETE FROM study_register_history",
        "DELETE FROM study_register",
        "UPDATE study_register SET organisation = 'X'",
        "UPDATE study_register SET study = 's2', version = version + 1",
        "INSERT INTO study_register SELECT 's3', organisation, ethics_reference, section_251_reference,
         dsa_reference, dsa_expires, registry_basis, enrolled_basis, routes, channels, retain_until,
         status, 7, changed, operator FROM study_register",
    ] {
        let err = c.execute_batch(q).unwrap_err().to_string();
        assert!(err.contains("study_register"), "{q}: {err}");
    }
    // A change made with plain SQL is still recorded.
    c.execute_batch("UPDATE study_register SET organisation = 'Other', version = 2, operator = 'sql'")
        .unwrap();
    let h = s.study_history("s1").unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1].action, HistoryAction::Update);
    assert_eq!(h[1].record.entry.organisation, "Other");
    assert_eq!(h[0].record.operator, "alice");
}

#[test]
fn version_2_store_is_migrated_to_the_register() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.sqlite");
    {
        let c = rusqlite::Connection::open(&p).unwrap();
        c.execute_batch(schema::MIGRATIONS[0]).unwrap();
        c.execute_batch(schema::MIGRATIONS[1]).unwrap();
        c.execute_batch("PRAGMA user_version = 2").unwrap();
        c.execute(
            "INSERT INTO studies (study, created, scope_fingerprint) VALUES ('x', 'now', 'fp')",
            [],
        )
        .unwrap();
    }
    let mut s = Store::open(&p).unwrap();
    assert_eq!(s.schema_version().unwrap(), crate::SCHEMA_VERSION);
    assert!(s.study_exists("x").unwrap());
    assert!(s.study_list().unwrap().is_empty());
    s.study_add(entry("x"), "alice").unwrap();
    drop(s);
    let s = Store::open(&p).unwrap();
    assert_eq!(s.study_history("x").unwrap().len(), 1);
}

#[test]
fn route_checks() {
    let (_d, mut s) = open();
    let today = d("2026-11-21");
    let mut e = entry("s1");
    e.approvals.registry_basis = LegalBasis::None;
    e.routes = OutputRoute::ALL.to_vec();
    let r = s.study_add(e, "alice").unwrap();
    let ok = |route| r.check_route(route, RegisterChannel::Postal, today);
    assert_eq!(ok(OutputRoute::NhsNotification), Ok(()));
    assert_eq!(ok(OutputRoute::ServiceMailer), Ok(()));
    for route in [OutputRoute::OrgProvider, OutputRoute::Organisation] {
        assert!(matches!(ok(route), Err(RouteRefusal::NoSection251 { .. })));
    }
    assert!(matches!(
        r.check_route(OutputRoute::ServiceMailer, RegisterChannel::Sms, today),
        Err(RouteRefusal::ChannelNotPermitted { .. })
    ));
    // In force through its expiry day, not after.
    assert_eq!(
        r.check_route(
            OutputRoute::ServiceMailer,
            RegisterChannel::Postal,
            d("2027-03-31")
        ),
        Ok(())
    );
    let msg = r
        .check_route(
            OutputRoute::ServiceMailer,
            RegisterChannel::Postal,
            d("2027-04-01"),
        )
        .unwrap_err()
        .to_string();
    assert!(msg.contains("DSA-0001") && msg.contains("2027-03-31"), "{msg}");

    let mut e = entry("s1");
    e.approvals.registry_basis = LegalBasis::None;
    e.approvals.section_251_reference = Some("24/CAG/0002".into());
    e.routes = vec![OutputRoute::Organisation];
    let r = s.study_update(e, "bob").unwrap();
    assert_eq!(
        r.check_route(OutputRoute::Organisation, RegisterChannel::Email, today),
        Ok(())
    );
    let msg = r
        .check_route(OutputRoute::ServiceMailer, RegisterChannel::Email, today)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("service-mailer") && msg.contains("permitted: organisation"),
        "{msg}"
    );
    let r = s.study_close("s1", "carol").unwrap();
    assert!(matches!(
        r.check_route(OutputRoute::Organisation, RegisterChannel::Email, today),
        Err(RouteRefusal::Closed { .. })
    ));
}

#[test]
fn names_round_trip() {
    for r in OutputRoute::ALL {
        assert_eq!(r.name().parse::<OutputRoute>(), Ok(r));
    }
    assert_eq!(OutputRoute::ALL.map(OutputRoute::number), [1, 2, 3, 4]);
    for c in RegisterChannel::ALL {
        assert_eq!(c.name().parse::<RegisterChannel>(), Ok(c));
    }
    for b in LegalBasis::ALL {
        assert_eq!(b.name().parse::<LegalBasis>(), Ok(b));
    }
    assert!("Service-Mailer".parse::<OutputRoute>().is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Whatever sequence of changes is tried, the history holds exactly
    /// the successful ones, in order, and its last row is the entry.
    #[test]
    fn history_matches_successful_changes(ops in prop::collection::vec(0u8..4, 1..12)) {
        let (_d, mut s) = open();
        let mut ok = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let who = format!("op{i}");
            let res = match op {
                0 => s.study_add(entry("s1"), &who),
                1 => {
                    let mut e = entry("s1");
                    e.organisation = format!("Org {i}");
                    s.study_update(e, &who)
                }
                2 => s.study_close("s1", &who),
                _ => s.study_add(entry("s1"), ""),
            };
            if let Ok(r) = res {
                ok.push(r);
            }
        }
        let h: Vec<_> = s.study_history("s1").unwrap().into_iter().map(|x| x.record).collect();
        prop_assert_eq!(&h, &ok);
        prop_assert_eq!(s.study_get("s1").unwrap(), ok.last().cloned());
        for (i, r) in h.iter().enumerate() {
            prop_assert_eq!(r.version, i as i64 + 1);
        }
    }
}

#[test]
fn changed_keys_name_what_differs_in_file_order() {
    let (_d, mut s) = open();
    let a = s.study_add(entry("t-1"), "alice").unwrap();
    let mut e = entry("t-1");
    e.reminders = true;
    e.organisation = "Another Unit".into();
    let b = s.study_update(e, "bob").unwrap();
    assert_eq!(b.changed_keys(&a), ["organisation", "reminders"]);
    assert!(b.changed_keys(&b).is_empty());
    assert!(s.study_get("t-1").unwrap().unwrap().entry.reminders);
}

#[test]
fn show_and_list_describe_the_entry_its_key_and_its_history() {
    let (dir, mut s) = open();
    s.study_add(entry("t-1"), "alice").unwrap();
    let mut e = entry("t-1");
    e.reminders = true;
    s.study_update(e, "bob").unwrap();
    let t = s.study_show("t-1").unwrap();
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines[0], "study                  t-1");
    assert!(lines[2].starts_with("version                2 ("), "{t}");
    assert!(lines[2].ends_with(" by bob)"), "{t}");
    assert!(t.contains("\nsection_251_reference  (none)\n"), "{t}");
    assert!(t.contains("\nreminders              yes\n"), "{t}");
    assert!(
        t.contains("\nstudy key              includes a secret held in the store"),
        "{t}"
    );
    assert!(t.contains("history (2 changes, append-only):\n"), "{t}");
    assert!(lines[lines.len() - 2].contains("\tadd\t"), "{t}");
    assert!(lines[lines.len() - 2].ends_with("\t-"), "{t}");
    assert!(lines[lines.len() - 1].ends_with("\treminders"), "{t}");
    assert!(matches!(
        s.study_show("nope"),
        Err(StoreError::StudyNotRegistered { .. })
    ));

    let list = s.study_list_table().unwrap();
    let rows: Vec<&str> = list.lines().collect();
    assert_eq!(
        rows[0],
        "study\tstatus\tversion\tdsa_expires\tretain_until\troutes\torganisation"
    );
    assert_eq!(rows.len(), 2);
    assert!(
        rows[1].starts_with("t-1\topen\t2\t2027-03-31\t2032-12-31\t"),
        "{list}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "study = 1\n").unwrap();
    let e = crate::register_file::read_entry(&bad).unwrap_err();
    assert!(
        matches!(e, crate::register_file::RegisterFileError::Parse { line: 1, .. }),
        "{e}"
    );
    let e = crate::register_file::read_entry(&dir.path().join("missing.toml")).unwrap_err();
    assert!(e.to_string().starts_with("reading "), "{e}");
    assert!(matches!(e, crate::register_file::RegisterFileError::Read { .. }));
}
