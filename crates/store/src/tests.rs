use super::*;
use crate::reminders::{ReminderArm, ResponseTiming};

fn tok(i: u32) -> TokenBytes {
    let mut t = [0u8; 32];
    t[..4].copy_from_slice(&i.to_be_bytes());
    t[31] = 0xa5;
    t
}

fn inv(i: u32) -> Invitation {
    Invitation {
        reference: format!("00000000-0000-4000-8000-{i:012}"),
        position: i,
        service_token: tok(i),
        study_token: tok(i + 1_000_000),
        service_nhs_token: Some(tok(i + 2_000_000)),
        study_nhs_token: Some(tok(i + 3_000_000)),
        arm: "A".into(),
        template: "letter-a".into(),
        registry: false,
        stratum: "50-54|female".into(),
        age_band: "50-54".into(),
        sex: "female".into(),
        ethnic_group: "White".into(),
        region: "London".into(),
    }
}

fn staged(dir: &Path, name: &str, content: &str) -> Vec<StagedFile> {
    let temp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&temp, content).unwrap();
    let stemp = dir.join(format!(".{name}.summary.tmp"));
    std::fs::write(&stemp, "summary").unwrap();
    vec![
        StagedFile {
            temp,
            final_path: dir.join(name),
            primary: true,
        },
        StagedFile {
            temp: stemp,
            final_path: dir.join(format!("{name}.summary.json")),
            primary: false,
        },
    ]
}

fn batch<'a>(files: &'a [StagedFile], invs: &'a [Invitation], qa: &'a [QaSeed], seed: u64) -> NewBatch<'a> {
    NewBatch {
        study: "galleri-2",
        seed,
        request_digest: "r",
        channel: "postal",
        route: "service-mailer",
        as_of: "2026-11-21",
        invited_on: "2026-11-21",
        backdate_reason: None,
        files,
        invitations: invs,
        qa_seeds: qa,
        summary_json: "{\"invited\": 1}",
    }
}

#[test]
fn creates_and_reopens_at_current_version() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("s.sqlite");
    {
        let s = Store::open(&p).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let mode: String = s
            .connection()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o077, 0);
    }
    let s = Store::open(&p).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn newer_schema_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("s.sqlite");
    {
        let c = Connection::open(&p).unwrap();
        c.execute_batch("PRAGMA user_version = 99").unwrap();
    }
    match Store::open(&p) {
        Err(StoreError::NewerSchema {
            found: 99, supported, ..
        }) => assert_eq!(supported, SCHEMA_VERSION),
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

#[test]
fn second_process_is_refused_while_open() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("s.sqlite");
    let _a = Store::open(&p).unwrap();
    match Store::open(&p) {
        Err(StoreError::Busy { .. }) => {}
        other => panic!("expected Busy, got {other:?}"),
    }
}

#[test]
fn noncontact_add_is_idempotent() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(&d.path().join("s.sqlite")).unwrap();
    let e = |i: u32| NonContactEntry {
        nhs: tok(i),
        dob: None,
        dob_given: false,
    };
    let c = s.noncontact_add(&[e(1), e(2), e(2)], "test").unwrap();
    assert_eq!(
        c,
        AddCounts {
            added: 2,
            already_present: 1
        }
    );
    let c = s.noncontact_add(&[e(2), e(3)], "test").unwrap();
    assert_eq!(
        c,
        AddCounts {
            added: 1,
            already_present: 1
        }
    );
    assert_eq!(s.noncontact_count().unwrap(), 3);
    assert_eq!(s.noncontact_tokens().unwrap(), vec![tok(1), tok(2), tok(3)]);
    let c = s
        .noncontact_add_clks(&[vec![1, 2], vec![1, 2], vec![3]], "test")
        .unwrap();
    assert_eq!(
        c,
        AddCounts {
            added: 2,
            already_present: 1
        }
    );
    assert_eq!(s.noncontact_count().unwrap(), 5);
    assert_eq!(s.noncontact_clks().unwrap().len(), 2);
}

/// A store from before schema version 5 holds `token_nhs_dob` entries: the
/// migration keeps them (as `nhs_dob`, still matched), counts them as not
/// re-keyed, and an ingest that records the same person's `token_nhs` with
/// that `token_nhs_dob` beside it retires the count.
#[test]
fn migration_keeps_legacy_noncontact_entries_until_rekeyed() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("v4.sqlite");
    {
        let c = rusqlite::Connection::open(&p).unwrap();
        for m in &crate::schema::MIGRATIONS[..4] {
            c.execute_batch(m).unwrap();
        }
        c.execute_batch("PRAGMA user_version = 4").unwrap();
        for i in [7u32, 8] {
            c.execute(
                "INSERT INTO noncontact (token, added, source) VALUES (?1, '2026-01-01', 'old')",
                rusqlite::params![&tok(i)[..]],
            )
            .unwrap();
        }
    }
    let mut s = Store::open(&p).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(s.noncontact_legacy_count().unwrap(), 2);
    assert_eq!(s.noncontact_legacy_tokens().unwrap(), vec![tok(7), tok(8)]);
    assert!(s.noncontact_tokens().unwrap().is_empty());
    assert_eq!(s.noncontact_count().unwrap(), 2);
    s.noncontact_add(
        &[NonContactEntry {
            nhs: tok(1),
            dob: Some(tok(7)),
            dob_given: true,
        }],
        "again",
    )
    .unwrap();
    assert_eq!(s.noncontact_legacy_tokens().unwrap(), vec![tok(8)]);
    assert_eq!(s.noncontact_count().unwrap(), 2);
}

#[test]
fn stage_publish_and_duplicate_refused() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(&d.path().join("s.sqlite")).unwrap();
    s.ensure_study("galleri-2", "aaaa").unwrap();
    let files = staged(d.path(), "b.csv", "ref\n1\n");
    let invs = vec![inv(1), inv(2)];
    let qa = vec![QaSeed {
        reference: "qa-1".into(),
        position: 3,
        label: "row 1".into(),
    }];
    let id = s.stage_batch(&batch(&files, &invs, &qa, 7)).unwrap();
    assert_eq!(s.find_batch("galleri-2", 7).unwrap().unwrap().state, "pending");
    s.publish_batch(id).unwrap();
    let b = s.find_batch("galleri-2", 7).unwrap().unwrap();
    assert_eq!(b.state, "committed");
    assert_eq!((b.invitations, b.qa_seeds), (2, 1));
    assert!(d.path().join("b.csv").exists());
    assert!(d.path().join("b.csv.summary.json").exists());
    assert!(!files[0].temp.exists());
    assert_eq!(
        s.invitation_count(None).unwrap(),
        2,
        "QA seeds are not invitations"
    );
    assert_eq!(s.qa_seed_count(Some("galleri-2")).unwrap(), 1);
    assert!(s.is_qa_reference("qa-1").unwrap());
    let files2 = staged(d.path(), "c.csv", "x");
    assert!(matches!(
        s.stage_batch(&batch(&files2, &[], &[], 7)),
        Err(StoreError::DuplicateBatch { .. })
    ));
    assert!(matches!(s.publish_batch(id), Err(StoreError::NotPending { .. })));
}

#[test]
fn study_key_mismatch_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(&d.path().join("s.sqlite")).unwrap();
    s.ensure_study("x", "1111").unwrap();
    s.ensure_study("x", "1111").unwrap();
    assert!(matches!(
        s.ensure_study("x", "2222"),
        Err(StoreError::StudyKeyMismatch { .. })
    ));
}

#[test]
fn reconcile_rolls_back_when_file_missing_and_forward_when_present() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("s.sqlite");
    let (back, fwd);
    {
        let mut s = Store::open(&p).unwrap();
        s.ensure_study("galleri-2", "aaaa").unwrap();
        // Killed after staging, before any rename: rolled back.
        let f1 = staged(d.path(), "one.csv", "1");
        back = s.stage_batch(&batch(&f1, &[inv(1)], &[], 1)).unwrap();
        // Killed after the primary rename, before the state update: forward.
        let f2 = staged(d.path(), "two.csv", "2");
        fwd = s.stage_batch(&batch(&f2, &[inv(2)], &[], 2)).unwrap();
        std::fs::rename(&f2[0].temp, &f2[0].final_path).unwrap();
    }
    let s = Store::open(&p).unwrap();
    assert_eq!(s.reconciled().rolled_back, vec![back]);
    assert_eq!(s.reconciled().rolled_forward, vec![fwd]);
    assert!(s.find_batch("galleri-2", 1).unwrap().is_none());
    assert_eq!(s.find_batch("galleri-2", 2).unwrap().unwrap().state, "committed");
    assert!(!d.path().join("one.csv").exists());
    assert!(!d.path().join(".one.csv.tmp").exists());
    assert!(!d.path().join("one.csv.summary.json").exists());
    assert!(d.path().join("two.csv").exists());
    assert!(d.path().join("two.csv.summary.json").exists());
    assert_eq!(s.invitation_count(None).unwrap(), 1);
}

#[test]
fn capped_tokens_counts_within_window_across_studies() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(&d.path().join("s.sqlite")).unwrap();
    // token 1 invited three times (two recent), token 2 once recently.
    s.load_history("a", 1, "2026-01-01", &[inv(1)]).unwrap();
    s.load_history(
        "b",
        1,
        "2026-10-01",
        &[Invitation {
            reference: "r2".into(),
            ..inv(1)
        }],
    )
    .unwrap();
    s.load_history(
        "c",
        1,
        "2026-11-01",
        &[
            Invitation {
                reference: "r3".into(),
                ..inv(1)
            },
            inv(2),
        ],
    )
    .unwrap();
    assert_eq!(s.capped_tokens("2026-06-01", 2).unwrap(), vec![tok(1)]);
    assert_eq!(s.capped_tokens("2025-06-01", 3).unwrap(), vec![tok(1)]);
    assert_eq!(s.capped_tokens("2026-06-01", 1).unwrap(), vec![tok(1), tok(2)]);
    assert!(s.capped_tokens("2026-11-02", 1).unwrap().is_empty());
}

#[test]
fn outcomes_keep_history_and_later_status_supersedes() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(&d.path().join("s.sqlite")).unwrap();
    s.load_history("galleri-2", 1, "2026-01-01", &[inv(1)]).unwrap();
    let id = s.invitation_by_reference(&inv(1).reference).unwrap().unwrap().id;
    assert_eq!(
        s.record_outcome(id, UptakeStatus::Consented, "2026-02-01", "f")
            .unwrap(),
        OutcomeEffect::Current
    );
    assert_eq!(
        s.record_outcome(id, UptakeStatus::Consented, "2026-02-01", "f")
            .unwrap(),
        OutcomeEffect::AlreadyRecorded
    );
    assert_eq!(
        s.record_outcome(id, UptakeStatus::ExpressedInterest, "2026-01-15", "f")
            .unwrap(),
        OutcomeEffect::HistoryOnly
    );
    assert_eq!(
        s.record_outcome(id, UptakeStatus::Withdrawn, "2026-03-01", "f")
            .unwrap(),
        OutcomeEffect::Current
    );
    let cur: String = s
        .connection()
        .query_row(
            "SELECT status FROM outcomes WHERE invitation_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(cur, "withdrawn");
    let hist: i64 = s
        .connection()
        .query_row(
            "SELECT count(*) FROM outcome_history WHERE invitation_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(hist, 3);
    assert_eq!(
        s.record_return(id, "gone-away", "2026-02-02", "f").unwrap(),
        ReturnEffect::Recorded
    );
    assert_eq!(
        s.record_return(id, "gone-away", "2026-02-02", "f").unwrap(),
        ReturnEffect::AlreadyRecorded
    );
    let by_tok = s
        .invitation_by_study_token("galleri-2", &tok(1_000_001))
        .unwrap()
        .unwrap();
    assert_eq!(by_tok.id, id);
    assert!(s
        .invitation_by_study_token("other", &tok(1_000_001))
        .unwrap()
        .is_none());
}

#[test]
fn releases_are_logged() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(&d.path().join("s.sqlite")).unwrap();
    s.log_release("x", "uptake", "nhs-hes", "a,b\n1,2\n").unwrap();
    s.log_release("x", "uptake", "nhs-hes", "a,b\n1,3\n").unwrap();
    let r = s.releases("x", "uptake").unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].2, "a,b\n1,3\n");
}

#[test]
fn now_is_iso() {
    let n = now_utc();
    assert_eq!(n.len(), 20);
    assert!(n.ends_with('Z'));
}

#[test]
fn uptake_detail_by_arm_registry_stratum() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(&d.path().join("s.sqlite")).unwrap();
    let mut b = inv(2);
    b.arm = "B".into();
    b.registry = true;
    s.load_history("x", 1, "2026-01-01", &[inv(1), b, inv(3)])
        .unwrap();
    let id1 = s.invitation_by_reference(&inv(1).reference).unwrap().unwrap().id;
    let id2 = s.invitation_by_reference(&inv(2).reference).unwrap().unwrap().id;
    let id3 = s.invitation_by_reference(&inv(3).reference).unwrap().unwrap().id;
    s.record_outcome(id1, UptakeStatus::ExpressedInterest, "2026-02-01", "f")
        .unwrap();
    s.record_outcome(id1, UptakeStatus::Consented, "2026-02-02", "f")
        .unwrap();
    s.record_outcome(id1, UptakeStatus::Withdrawn, "2026-02-03", "f")
        .unwrap();
    s.record_outcome(id2, UptakeStatus::Randomised, "2026-02-01", "f")
        .unwrap();
    s.record_return(id3, "gone-away", "2026-01-10", "f").unwrap();
    let f = s.uptake_detail("x").unwrap();
    assert_eq!(f.len(), 2);
    let a = &f[0];
    assert_eq!(
        (a.arm.as_str(), a.registry, a.invited, a.returned, a.delivered()),
        ("A", false, 2, 1, 1)
    );
    assert_eq!((a.responded, a.consented, a.enrolled, a.withdrawn), (1, 1, 0, 1));
    let b = &f[1];
    assert_eq!(
        (
            b.arm.as_str(),
            b.registry,
            b.invited,
            b.responded,
            b.consented,
            b.enrolled
        ),
        ("B", true, 1, 1, 1, 1)
    );
    assert!(s.uptake_detail("other").unwrap().is_empty());
}

#[test]
fn version_1_store_is_migrated() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("s.sqlite");
    {
        let c = Connection::open(&p).unwrap();
        c.execute_batch(schema::MIGRATIONS[0]).unwrap();
        c.execute_batch("PRAGMA user_version = 1").unwrap();
        c.execute(
            "INSERT INTO studies (study, created, scope_fingerprint) VALUES ('x', 'now', 'fp')",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO batches (study, state, seed, request_digest, channel, as_of, created, invitations,
             qa_seeds, file_path, file_digest) VALUES ('x', 'committed', 1, 'r', 'postal', '2026-01-01', 'now', 0, 0, '', '')",
            [],
        )
        .unwrap();
    }
    let s = Store::open(&p).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        s.batch_summaries("x").unwrap(),
        vec![(1, "2026-01-01".to_string(), "{}".to_string())]
    );
}

#[test]
fn summaries_and_returns_by_reason() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(&d.path().join("s.sqlite")).unwrap();
    s.ensure_study("galleri-2", "aaaa").unwrap();
    let files = staged(d.path(), "b.csv", "x");
    let invs = vec![inv(1), inv(2), inv(3)];
    let id = s.stage_batch(&batch(&files, &invs, &[], 3)).unwrap();
    s.publish_batch(id).unwrap();
    assert_eq!(s.batch_summaries("galleri-2").unwrap()[0].2, "{\"invited\": 1}");
    for (i, r) in [(1, "gone_away"), (2, "gone_away"), (3, "refused")] {
        let f = s.invitation_by_reference(&inv(i).reference).unwrap().unwrap();
        s.record_return(f.id, r, "2026-12-01", "t").unwrap();
    }
    assert_eq!(
        s.returns_by_reason("galleri-2").unwrap(),
        vec![("gone_away".to_string(), 2), ("refused".to_string(), 1)]
    );
}

/// A reminder cycle at the store level: candidates carry their responses,
/// returns and reminders; a reminder batch keeps the invitation's reference
/// (feedback by reference still finds the invitation), is counted apart from
/// invitations, and is rolled back with its batch.
#[test]
fn reminder_cycle_in_the_store() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(&d.path().join("s.sqlite")).unwrap();
    s.ensure_study("galleri-2", "aaaa").unwrap();
    let files = staged(d.path(), "b.csv", "x");
    let invs: Vec<Invitation> = (1..=5).map(inv).collect();
    let id = s.stage_batch(&batch(&files, &invs, &[], 3)).unwrap();
    s.publish_batch(id).unwrap();
    let found = |s: &Store, i: u32| s.invitation_by_reference(&inv(i).reference).unwrap().unwrap().id;
    let (i1, i2) = (found(&s, 1), found(&s, 2));
    s.record_outcome(i1, UptakeStatus::ExpressedInterest, "2026-11-25", "f")
        .unwrap();
    s.record_return(i2, "gone_away", "2026-11-24", "r").unwrap();

    let c = s.reminder_candidates(id).unwrap();
    assert_eq!(c.len(), 5);
    assert_eq!(
        c.iter()
            .map(|c| (c.responded, c.returned, c.reminders))
            .collect::<Vec<_>>(),
        vec![
            (true, false, 0),
            (false, true, 0),
            (false, false, 0),
            (false, false, 0),
            (false, false, 0)
        ]
    );
    assert_eq!(c[2].reference, inv(3).reference);
    assert_eq!(c[2].service_token, inv(3).service_token);

    // Remind 3, 4 and 5 by SMS, with a QA seed.
    let rfiles = staged(d.path(), "r.csv", "reminders");
    let reminders: Vec<Reminder> = c[2..]
        .iter()
        .enumerate()
        .map(|(k, c)| Reminder {
            invitation_id: c.invitation_id,
            position: k as u32 + 1,
            arm: if k % 2 == 0 { "R1" } else { "R2" }.into(),
            template: "sms".into(),
        })
        .collect();
    let qa = vec![QaSeed {
        reference: "00000000-0000-4000-8000-999999999999".into(),
        position: 4,
        label: "qa seed 1".into(),
    }];
    let mut b = batch(&rfiles, &[], &qa, 4);
    b.channel = "sms";
    b.invited_on = "2026-12-10";
    let rid = s
        .stage_reminder_batch(&NewReminderBatch {
            batch: b,
            of_batch: id,
            reminders: &reminders,
        })
        .unwrap();
    s.publish_batch(rid).unwrap();
    let info = s.batch(rid).unwrap().unwrap();
    assert_eq!(
        (info.kind, info.reminder_of, info.reminders, info.invitations),
        (BatchKind::Reminder, Some(id), 3, 0)
    );
    assert_eq!(s.batch(id).unwrap().unwrap().kind, BatchKind::Invitation);
    assert_eq!(s.invitation_count(Some("galleri-2")).unwrap(), 5);
    assert_eq!(s.reminder_count(Some("galleri-2")).unwrap(), 3);
    assert!(s.is_qa_reference("00000000-0000-4000-8000-999999999999").unwrap());
    // Only invitation batches' summaries are read as invitation summaries.
    assert_eq!(s.batch_summaries("galleri-2").unwrap().len(), 1);
    let c = s.reminder_candidates(id).unwrap();
    assert_eq!(c[3].reminders, 1);
    assert_eq!(c[3].last_reminded.as_deref(), Some("2026-12-10"));

    // Feedback after the reminder, by the reused reference.
    let i3 = found(&s, 3);
    s.record_outcome(i3, UptakeStatus::Randomised, "2026-12-12", "f")
        .unwrap();
    let t = s.response_timing("galleri-2").unwrap();
    assert_eq!(
        t,
        ResponseTiming {
            invited: 5,
            reminded: 3,
            reminders: 3,
            responded_after_invitation: 1,
            responded_after_reminder: 1,
            not_responded: 3,
        }
    );
    let arms = s.reminder_arms("galleri-2").unwrap();
    assert_eq!(
        arms,
        vec![
            ReminderArm {
                arm: "R1".into(),
                reminded: 2,
                responded_after: 1,
                enrolled_after: 1
            },
            ReminderArm {
                arm: "R2".into(),
                reminded: 1,
                responded_after: 0,
                enrolled_after: 0
            }
        ]
    );
    let days = s.recruitment_by_day("galleri-2").unwrap();
    let day = |d: &str| days.iter().find(|x| x.date == d).cloned().unwrap();
    assert_eq!(day("2026-11-21").invited, 5);
    assert_eq!(day("2026-11-25").responded, 1);
    assert_eq!(day("2026-12-10").reminded, 3);
    assert_eq!((day("2026-12-12").responded, day("2026-12-12").enrolled), (1, 1));
    let detail = s.uptake_detail("galleri-2").unwrap();
    assert_eq!(detail.iter().map(|x| x.reminded).sum::<u64>(), 3);

    // The cap counts reminders only when asked, and can leave a batch out.
    assert!(s
        .capped_tokens_counting("2026-01-01", 2, false, None)
        .unwrap()
        .is_empty());
    assert_eq!(
        s.capped_tokens_counting("2026-01-01", 2, true, None)
            .unwrap()
            .len(),
        3
    );
    assert!(s
        .capped_tokens_counting("2026-01-01", 1, false, Some(id))
        .unwrap()
        .is_empty());

    // A reminder batch that never reached its file is rolled back with its
    // reminders.
    let lost = staged(d.path(), "lost.csv", "y");
    let mut b = batch(&lost, &[], &[], 5);
    b.invited_on = "2026-12-24";
    let gone = s
        .stage_reminder_batch(&NewReminderBatch {
            batch: b,
            of_batch: id,
            reminders: &reminders[..1],
        })
        .unwrap();
    std::fs::remove_file(&lost[0].temp).unwrap();
    drop(s);
    let s = Store::open(&d.path().join("s.sqlite")).unwrap();
    assert_eq!(s.reconciled().rolled_back, vec![gone]);
    assert_eq!(s.reminder_count(None).unwrap(), 3);
}

#[test]
fn version_6_store_is_migrated_with_invitation_batches() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("s.sqlite");
    {
        let c = Connection::open(&p).unwrap();
        for m in &schema::MIGRATIONS[..6] {
            c.execute_batch(m).unwrap();
        }
        c.execute_batch("PRAGMA user_version = 6").unwrap();
        c.execute(
            "INSERT INTO studies (study, created, scope_fingerprint) VALUES ('x', 'now', 'fp')",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO batches (study, state, seed, request_digest, channel, as_of, created, invitations,
             qa_seeds, file_path, file_digest) VALUES ('x', 'committed', 1, 'r', 'postal', '2026-01-01', 'now', 0, 0, '', '')",
            [],
        )
        .unwrap();
    }
    let s = Store::open(&p).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    let b = s.batch(1).unwrap().unwrap();
    assert_eq!(
        (b.kind, b.reminder_of, b.reminders),
        (BatchKind::Invitation, None, 0)
    );
    assert_eq!(s.reminder_count(None).unwrap(), 0);
}

/// Invitations made before schema version 8 have no NHS-number tokens: they
/// stay readable and keep matching on NHS number + DOB; new ones match on
/// the NHS number alone too.
#[test]
fn version_7_invitations_keep_matching_on_nhs_dob() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("s.sqlite");
    {
        let c = Connection::open(&p).unwrap();
        for m in &schema::MIGRATIONS[..7] {
            c.execute_batch(m).unwrap();
        }
        c.execute_batch("PRAGMA user_version = 7").unwrap();
    }
    let mut s = Store::open(&p).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    let old = Invitation {
        service_nhs_token: None,
        study_nhs_token: None,
        ..inv(1)
    };
    s.load_history("galleri-2", 1, "2026-11-01", &[old, inv(2)])
        .unwrap();
    // by NHS+DOB: both
    assert!(s
        .invitation_by_study_token("galleri-2", &tok(1_000_001))
        .unwrap()
        .is_some());
    assert!(s
        .invitation_by_study_token("galleri-2", &tok(1_000_002))
        .unwrap()
        .is_some());
    // by NHS number alone: only the new one
    assert!(s
        .invitation_by_study_nhs_token("galleri-2", &tok(3_000_001))
        .unwrap()
        .is_none());
    let f = s
        .invitation_by_study_nhs_token("galleri-2", &tok(3_000_002))
        .unwrap()
        .unwrap();
    assert_eq!(f.study_token, tok(1_000_002));
    assert!(s
        .invitation_by_study_nhs_token("other", &tok(3_000_002))
        .unwrap()
        .is_none());
    assert_eq!(
        s.invited_study_nhs_tokens("galleri-2").unwrap(),
        vec![tok(3_000_002)]
    );
    assert_eq!(
        s.invited_study_tokens("galleri-2").unwrap(),
        vec![tok(1_000_001), tok(1_000_002)]
    );
    // the cap by person counts only invitations that carry the person
    assert_eq!(
        s.capped_nhs_tokens("2026-01-01", 1).unwrap(),
        vec![tok(2_000_002)]
    );
    assert_eq!(s.capped_tokens("2026-01-01", 1).unwrap(), vec![tok(1), tok(2)]);
}
