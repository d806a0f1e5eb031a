//! Retention and destruction: study keys with a destroyable
//! secret, and the purge of a study's person-level data.
//!
//! # Study keys
//!
//! A study's tokens are HMACs under its study key. Scope keys derive from
//! the master key alone (docs/formats.md, scope derivation), so whoever holds the master key could
//! re-derive a study's key forever, and "destroying" it would mean nothing.
//! For a study registered before any of its data reached the store,
//! [`Store::study_add`](crate::Store::study_add) draws a 32-byte secret from
//! the operating system's generator and keeps it in the store; the study key
//! is then
//!
//! ```text
//! study_key = HKDF-SHA256(salt = "trialink-v1", ikm = key_scope,
//!                         info = "trialink-study-key-v1" || 0x00 || secret)
//! key_scope = HKDF-SHA256(salt = "trialink-v1", ikm = master,
//!                         info = "scope:trial:" || study)   (docs/formats.md)
//! ```
//!
//! The trial receives it as an ordinary key file (`trialink keys derive
//! --store`), so what crosses the boundary is unchanged. [`Store::study_key`]
//! gives it; a study without a secret (unregistered, or registered after its
//! first data) keeps `key_scope`, and its purge says that its key could not
//! be destroyed.
//!
//! # Purge
//!
//! [`Store::study_purge`] — after the register's retention date, or before it
//! with an override reason that is recorded — deletes, in one transaction,
//! the study's batches (and their file records and selection summaries),
//! invitations (tokens, references, demographics), QA seeds, outcomes and
//! their history, returns and enrolments, and its key secret; closes its
//! register entry if open; and writes an append-only purge record (who,
//! when, why, how many rows of each kind). The published releases stay, as
//! published. The store runs with `secure_delete`, so deleted rows are
//! overwritten with zeros in the database file, and the write-ahead log is
//! checkpointed and truncated after the purge, so no copy of a deleted page
//! stays in it. A purged study id cannot be registered, invited, or given
//! uptake again.

use crate::{now_utc, Result, Store, StoreError};
use pseudonym::{Date, Key, Scope};
use rusqlite::{params, OptionalExtension};

/// The HKDF info label of a study key (see the module docs).
const STUDY_KEY_INFO: &[u8] = b"trialink-study-key-v1";

/// A study's key and how it was derived.
pub struct StudyKey {
    /// The key tokens of `trial:<study>` are made under.
    pub key: Key,
    /// The scope, `trial:<study>`.
    pub scope: Scope,
    /// Whether it includes a secret the store holds (and a purge destroys).
    pub destroyable: bool,
}

impl std::fmt::Debug for StudyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StudyKey")
            .field("scope", &self.scope.as_str())
            .field("fingerprint", &self.key.fingerprint().to_string())
            .field("destroyable", &self.destroyable)
            .finish()
    }
}

/// What a purge removed, as recorded in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeRecord {
    /// The study id.
    pub study: String,
    /// When (UTC, RFC 3339).
    pub purged: String,
    /// Who.
    pub operator: String,
    /// The register's retention date (none for an unregistered study).
    pub retain_until: Option<String>,
    /// The override reason, when purged before the retention date (or with
    /// no retention date).
    pub override_reason: Option<String>,
    /// Whether the study's key secret was destroyed (false: the study had
    /// none, its key derives from the master key alone).
    pub key_destroyed: bool,
    /// Batches deleted.
    pub batches: u64,
    /// Invitations deleted.
    pub invitations: u64,
    /// QA seed records deleted.
    pub qa_seeds: u64,
    /// Current outcomes deleted.
    pub outcomes: u64,
    /// Outcome history rows deleted.
    pub outcome_history: u64,
    /// Returns deleted.
    pub returns: u64,
    /// Enrolments deleted.
    pub enrolled: u64,
    /// Published releases kept.
    pub releases_kept: u64,
}

fn derive_study_key(master: &Key, scope: &Scope, secret: &[u8; 32]) -> Key {
    let scope_key = master.derive(scope);
    let mut info = zeroize::Zeroizing::new(Vec::with_capacity(STUDY_KEY_INFO.len() + 33));
    info.extend_from_slice(STUDY_KEY_INFO);
    info.push(0);
    info.extend_from_slice(secret);
    scope_key.derive_info(&info)
}

impl Store {
    /// The purge record of a study, if it was purged.
    pub fn study_purge_record(&self, study: &str) -> Result<Option<PurgeRecord>> {
        self.connection()
            .query_row(
                "SELECT study, purged, operator, retain_until, override_reason, key_destroyed, batches,
                        invitations, qa_seeds, outcomes, outcome_history, returns, enrolled, releases_kept
                 FROM study_purges WHERE study = ?1",
                params![study],
                |r| {
                    let n = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
                    Ok(PurgeRecord {
                        study: r.get(0)?,
                        purged: r.get(1)?,
                        operator: r.get(2)?,
                        retain_until: r.get(3)?,
                        override_reason: r.get(4)?,
                        key_destroyed: r.get::<_, i64>(5)? == 1,
                        batches: n(6)?,
                        invitations: n(7)?,
                        qa_seeds: n(8)?,
                        outcomes: n(9)?,
                        outcome_history: n(10)?,
                        returns: n(11)?,
                        enrolled: n(12)?,
                        releases_kept: n(13)?,
                    })
                },
            )
            .optional()
            .map_err(|e| crate::sql(self.path(), e))
    }

    /// Refuse a purged study.
    pub fn check_not_purged(&self, study: &str) -> Result<()> {
        match self.study_purge_record(study)? {
            Some(p) => Err(StoreError::StudyPurged {
                study: study.to_string(),
                purged: p.purged,
            }),
            None => Ok(()),
        }
    }

    /// The fingerprint of the study key its batches were made under, as
    /// recorded with its first batch (safe to show; `None` before any batch).
    pub fn study_key_fingerprint(&self, study: &str) -> Result<Option<String>> {
        self.connection()
            .query_row(
                "SELECT scope_fingerprint FROM studies WHERE study = ?1",
                params![study],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map(|fp| fp.filter(|f| f.len() == 16 && f.bytes().all(|b| b.is_ascii_hexdigit())))
            .map_err(|e| crate::sql(self.path(), e))
    }

    /// Whether the store holds a key secret for the study.
    pub fn study_has_secret(&self, study: &str) -> Result<bool> {
        self.connection()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM study_secrets WHERE study = ?1)",
                params![study],
                |r| r.get::<_, bool>(0),
            )
            .map_err(|e| crate::sql(self.path(), e))
    }

    /// Whether any person-level data of the study is in the store already
    /// (a batch or an enrolment).
    pub(crate) fn study_has_data(&self, study: &str) -> Result<bool> {
        self.connection()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM studies WHERE study = ?1)
                     OR EXISTS (SELECT 1 FROM enrolled WHERE study = ?1)",
                params![study],
                |r| r.get::<_, bool>(0),
            )
            .map_err(|e| crate::sql(self.path(), e))
    }

    /// Draw and keep a fresh key secret for a study (OS random generator).
    pub(crate) fn create_study_secret(&mut self, study: &str) -> Result<()> {
        let fresh = Key::generate().map_err(|_| StoreError::Random)?;
        self.connection()
            .execute(
                "INSERT INTO study_secrets (study, secret, created) VALUES (?1, ?2, ?3)",
                params![study, &fresh.expose_secret()[..], now_utc()],
            )
            .map_err(|e| crate::sql(self.path(), e))?;
        Ok(())
    }

    /// The key of `trial:<study>`: with the study's secret when the store
    /// holds one, else the master key's scope derivation. A purged study
    /// is refused.
    pub fn study_key(&self, master: &Key, study: &str) -> Result<StudyKey> {
        self.check_not_purged(study)?;
        let scope = Scope::trial(study).map_err(|_| StoreError::InvalidEntry {
            field: "study",
            expected: "a study id (lowercase letters, digits and `:._-`, at most 64 characters)",
        })?;
        let secret: Option<Vec<u8>> = self
            .connection()
            .query_row(
                "SELECT secret FROM study_secrets WHERE study = ?1",
                params![study],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| crate::sql(self.path(), e))?;
        Ok(match secret {
            Some(v) => {
                let v = zeroize::Zeroizing::new(v);
                let mut s = zeroize::Zeroizing::new([0u8; 32]);
                if v.len() != 32 {
                    return Err(StoreError::InvalidEntry {
                        field: "study_secrets.secret",
                        expected: "32 bytes",
                    });
                }
                s.copy_from_slice(&v);
                StudyKey {
                    key: derive_study_key(master, &scope, &s),
                    scope,
                    destroyable: true,
                }
            }
            None => StudyKey {
                key: master.derive(&scope),
                scope,
                destroyable: false,
            },
        })
    }

    /// Purge a study (see the module docs). `today` is compared with the
    /// register's retention date; before it (or for a study with no
    /// register entry, hence no retention date) `override_reason` is
    /// required and recorded.
    pub fn study_purge(
        &mut self,
        study: &str,
        operator: &str,
        today: Date,
        override_reason: Option<&str>,
    ) -> Result<PurgeRecord> {
        crate::register::check_operator(operator)?;
        self.check_not_purged(study)?;
        let reason = override_reason.map(str::trim).filter(|r| !r.is_empty());
        if let Some(r) = reason {
            if r.len() > 500 || r.chars().any(char::is_control) {
                return Err(StoreError::InvalidEntry {
                    field: "override reason",
                    expected: "one line of at most 500 characters",
                });
            }
        }
        let entry = self.study_get(study)?;
        let retain_until = entry.as_ref().map(|e| e.entry.retain_until);
        match retain_until {
            Some(d) if today > d => {}
            Some(d) if reason.is_none() => {
                return Err(StoreError::RetentionNotReached {
                    study: study.to_string(),
                    retain_until: d,
                })
            }
            None if reason.is_none() => {
                if !self.study_has_data(study)? {
                    return Err(StoreError::StudyNotRegistered {
                        study: study.to_string(),
                    });
                }
                return Err(StoreError::NoRetentionDate {
                    study: study.to_string(),
                });
            }
            _ => {}
        }
        // Only a reason that was needed is recorded as an override.
        let reason = match retain_until {
            Some(d) if today > d => None,
            _ => reason,
        };
        self.connection()
            .execute_batch("PRAGMA secure_delete = ON;")
            .map_err(|e| crate::sql(self.path(), e))?;
        self.begin()?;
        let r = self.purge_rows(study, operator, retain_until, reason, entry.is_some());
        match r {
            Ok(rec) => {
                self.commit()?;
                // Push the zeroed pages into the database file and empty the
                // write-ahead log, so no deleted row survives in it.
                self.connection()
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                    .map_err(|e| crate::sql(self.path(), e))?;
                Ok(rec)
            }
            Err(e) => {
                let _ = self.rollback();
                Err(e)
            }
        }
    }

    fn purge_rows(
        &mut self,
        study: &str,
        operator: &str,
        retain_until: Option<Date>,
        reason: Option<&str>,
        registered: bool,
    ) -> Result<PurgeRecord> {
        if registered
            && self
                .study_get(study)?
                .is_some_and(|e| e.status == crate::StudyStatus::Open)
        {
            self.study_close(study, operator)?;
        }
        let path = self.path().to_path_buf();
        let c = self.connection();
        let ex = |q: &str| -> Result<u64> {
            c.execute(q, params![study])
                .map(|n| n as u64)
                .map_err(|e| crate::sql(&path, e))
        };
        let inv = "(SELECT id FROM invitations WHERE study = ?1)";
        ex("DELETE FROM reminders WHERE study = ?1")?;
        let outcome_history = ex(&format!(
            "DELETE FROM outcome_history WHERE invitation_id IN {inv}"
        ))?;
        let outcomes = ex(&format!("DELETE FROM outcomes WHERE invitation_id IN {inv}"))?;
        let returns = ex(&format!("DELETE FROM returns WHERE invitation_id IN {inv}"))?;
        let invitations = ex("DELETE FROM invitations WHERE study = ?1")?;
        let qa_seeds = ex("DELETE FROM qa_seeds WHERE study = ?1")?;
        ex("DELETE FROM batch_files WHERE batch_id IN (SELECT batch_id FROM batches WHERE study = ?1)")?;
        let batches = ex("DELETE FROM batches WHERE study = ?1")?;
        let enrolled = ex("DELETE FROM enrolled WHERE study = ?1")?;
        let key_destroyed = ex("DELETE FROM study_secrets WHERE study = ?1")? > 0;
        let releases_kept: i64 = c
            .query_row(
                "SELECT count(*) FROM releases WHERE study = ?1",
                params![study],
                |r| r.get(0),
            )
            .map_err(|e| crate::sql(&path, e))?;
        let rec = PurgeRecord {
            study: study.to_string(),
            purged: now_utc(),
            operator: operator.to_string(),
            retain_until: retain_until.map(|d| d.to_string()),
            override_reason: reason.map(str::to_string),
            key_destroyed,
            batches,
            invitations,
            qa_seeds,
            outcomes,
            outcome_history,
            returns,
            enrolled,
            releases_kept: releases_kept as u64,
        };
        c.execute(
            "INSERT INTO study_purges (study, purged, operator, retain_until, override_reason, key_destroyed,
                 batches, invitations, qa_seeds, outcomes, outcome_history, returns, enrolled, releases_kept)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                rec.study,
                rec.purged,
                rec.operator,
                rec.retain_until,
                rec.override_reason,
                rec.key_destroyed as i64,
                rec.batches as i64,
                rec.invitations as i64,
                rec.qa_seeds as i64,
                rec.outcomes as i64,
                rec.outcome_history as i64,
                rec.returns as i64,
                rec.enrolled as i64,
                rec.releases_kept as i64,
            ],
        )
        .map_err(|e| crate::sql(&path, e))?;
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    use crate::register::{Approvals, LegalBasis, OutputRoute, RegisterChannel, StudyEntry};
    use crate::*;
    use pseudonym::{Date, Key, Scope};

    fn d(s: &str) -> Date {
        Date::parse_iso(s).unwrap()
    }

    fn entry(study: &str, retain_until: &str) -> StudyEntry {
        StudyEntry {
            study: study.to_string(),
            organisation: "Example Trials Unit".into(),
            approvals: Approvals {
                ethics_reference: "24/NE/0001".into(),
                section_251_reference: None,
                dsa_reference: "DSA-0001".into(),
                dsa_expires: d("2099-03-31"),
                registry_basis: LegalBasis::Consent,
                enrolled_basis: LegalBasis::Consent,
            },
            routes: vec![OutputRoute::ServiceMailer],
            channels: vec![RegisterChannel::Postal],
            retain_until: d(retain_until),
            reminders: false,
        }
    }

    fn tok(seed: u8, i: u32) -> TokenBytes {
        let mut t = [seed; 32];
        t[..4].copy_from_slice(&i.to_be_bytes());
        t
    }

    /// A store with studies `a` (purged in the tests) and `b` (kept), each
    /// with a committed batch of 20 invitations, outcomes, returns,
    /// enrolments and a release.
    fn populated(dir: &std::path::Path) -> Store {
        let mut s = Store::open(&dir.join("s.sqlite")).unwrap();
        for (k, study) in ["a", "b"].iter().enumerate() {
            s.study_add(entry(study, "2020-01-01"), "alice").unwrap();
            s.ensure_study(study, "fp").unwrap();
            let invs: Vec<Invitation> = (0..20u32)
                .map(|i| Invitation {
                    reference: format!("ref-{study}-{i:04}"),
                    position: i + 1,
                    service_token: tok(0x10 + k as u8, i),
                    study_token: tok(0x20 + k as u8, i),
                    arm: "A".into(),
                    template: "t".into(),
                    registry: i % 2 == 0,
                    stratum: "all".into(),
                    age_band: "50-54".into(),
                    sex: "female".into(),
                    ethnic_group: "White".into(),
                    region: "London".into(),
                })
                .collect();
            let qa = vec![QaSeed {
                reference: format!("qa-{study}"),
                position: 21,
                label: "qa seed 1".into(),
            }];
            let temp = dir.join(format!(".{study}.tmp"));
            std::fs::write(&temp, format!("batch {study}")).unwrap();
            let files = vec![StagedFile {
                temp,
                final_path: dir.join(format!("{study}.csv")),
                primary: true,
            }];
            let id = s
                .stage_batch(&NewBatch {
                    study,
                    seed: 1,
                    request_digest: "r",
                    channel: "postal",
                    route: "service-mailer",
                    as_of: "2026-11-21",
                    invited_on: "2026-11-21",
                    backdate_reason: None,
                    files: &files,
                    invitations: &invs,
                    qa_seeds: &qa,
                    summary_json: "{}",
                })
                .unwrap();
            s.publish_batch(id).unwrap();
            for i in 0..10u32 {
                let f = s
                    .invitation_by_reference(&format!("ref-{study}-{i:04}"))
                    .unwrap()
                    .unwrap();
                s.record_outcome(
                    f.id,
                    crate::UptakeStatus::ExpressedInterest,
                    "2026-11-25",
                    "feedback.csv",
                )
                .unwrap();
                if i < 3 {
                    s.record_return(f.id, "gone_away", "2026-11-24", "returns.csv")
                        .unwrap();
                }
            }
            s.add_enrolled(
                study,
                &[tok(0x30 + k as u8, 1), tok(0x30 + k as u8, 2)],
                "enrolled.csv",
            )
            .unwrap();
            s.log_release(study, "report-release", "nhs-hes", "{\"published\":true}")
                .unwrap();
        }
        s
    }

    fn count(s: &Store, table: &str, study: &str) -> i64 {
        s.connection()
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE study = ?1"),
                [study],
                |r| r.get(0),
            )
            .unwrap()
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn registered_study_key_has_a_secret_and_differs_from_the_master_derivation() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let master = Key::from_bytes([7; 32]);
        let plain = master.derive(&Scope::trial("x").unwrap());
        let before = s.study_key(&master, "x").unwrap();
        assert!(!before.destroyable);
        assert!(before.key.ct_eq(&plain));
        s.study_add(entry("x", "2099-01-01"), "alice").unwrap();
        let k1 = s.study_key(&master, "x").unwrap();
        let k2 = s.study_key(&master, "x").unwrap();
        assert!(k1.destroyable);
        assert!(k1.key.ct_eq(&k2.key), "the study key is stable");
        assert!(!k1.key.ct_eq(&plain), "the secret changes the key");
        assert!(!format!("{k1:?}").contains(&hex::encode(k1.key.expose_secret())));
        // Another store registering the same id draws another secret.
        let dir2 = tempfile::tempdir().unwrap();
        let mut s2 = Store::open(&dir2.path().join("s.sqlite")).unwrap();
        s2.study_add(entry("x", "2099-01-01"), "alice").unwrap();
        assert!(!s2.study_key(&master, "x").unwrap().key.ct_eq(&k1.key));
    }

    #[test]
    fn a_study_registered_after_its_first_data_keeps_the_plain_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        s.add_enrolled("late", &[tok(1, 1)], "e.csv").unwrap();
        s.study_add(entry("late", "2099-01-01"), "alice").unwrap();
        assert!(!s.study_has_secret("late").unwrap());
        let master = Key::from_bytes([7; 32]);
        let k = s.study_key(&master, "late").unwrap();
        assert!(!k.destroyable);
        assert!(k.key.ct_eq(&master.derive(&Scope::trial("late").unwrap())));
    }

    #[test]
    fn purge_before_retention_needs_an_override_and_records_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        s.study_add(entry("x", "2030-06-30"), "alice").unwrap();
        let e = s.study_purge("x", "bob", d("2030-06-30"), None).unwrap_err();
        assert!(matches!(e, StoreError::RetentionNotReached { .. }), "{e}");
        let e = s
            .study_purge("x", "bob", d("2030-01-01"), Some("   "))
            .unwrap_err();
        assert!(
            matches!(e, StoreError::RetentionNotReached { .. }),
            "a blank reason is no reason: {e}"
        );
        assert!(s.study_purge_record("x").unwrap().is_none());
        let r = s
            .study_purge("x", "bob", d("2030-01-01"), Some("DPO ticket 12"))
            .unwrap();
        assert_eq!(r.override_reason.as_deref(), Some("DPO ticket 12"));
        assert_eq!(r.retain_until.as_deref(), Some("2030-06-30"));
        assert!(r.key_destroyed);
        assert_eq!(s.study_purge_record("x").unwrap(), Some(r));
        // Closed in the register, with the close in its history.
        assert_eq!(s.study_get("x").unwrap().unwrap().status, StudyStatus::Closed);
        assert_eq!(s.study_history("x").unwrap().len(), 2);
    }

    #[test]
    fn purge_after_retention_needs_no_override_and_an_unknown_study_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        s.study_add(entry("x", "2030-06-30"), "alice").unwrap();
        let r = s
            .study_purge("x", "bob", d("2030-07-01"), Some("not needed"))
            .unwrap();
        assert_eq!(
            r.override_reason, None,
            "a reason is recorded as an override only when one was needed"
        );
        let e = s.study_purge("nobody", "bob", d("2030-07-01"), None).unwrap_err();
        assert!(matches!(e, StoreError::StudyNotRegistered { .. }), "{e}");
        let e = s.study_purge("x", "bob", d("2030-07-02"), None).unwrap_err();
        assert!(matches!(e, StoreError::StudyPurged { .. }), "{e}");
        let e = s.study_purge("x", "", d("2030-07-02"), None).unwrap_err();
        assert!(matches!(e, StoreError::InvalidEntry { .. }), "{e}");
    }

    #[test]
    fn purge_leaves_nothing_joinable_and_keeps_releases_and_the_other_study() {
        let dir = tempfile::tempdir().unwrap();
        let master = Key::from_bytes([9; 32]);
        let p = dir.path().join("s.sqlite");
        let mut s = populated(dir.path());
        let key_before = s.study_key(&master, "a").unwrap().key;
        let releases_before = s.releases("a", "report-release").unwrap();
        let r = s.study_purge("a", "carol", d("2026-11-21"), None).unwrap();
        assert_eq!(
            (
                r.batches,
                r.invitations,
                r.qa_seeds,
                r.outcomes,
                r.outcome_history,
                r.returns,
                r.enrolled
            ),
            (1, 20, 1, 10, 10, 3, 2)
        );
        assert!(r.key_destroyed);
        assert_eq!(r.releases_kept, 1);
        for t in ["invitations", "qa_seeds", "batches", "enrolled", "study_secrets"] {
            assert_eq!(count(&s, t, "a"), 0, "{t}");
            assert!(count(&s, t, "b") > 0, "{t} of the other study kept");
        }
        let orphans: i64 = s
            .connection()
            .query_row(
                "SELECT (SELECT count(*) FROM outcomes) + (SELECT count(*) FROM outcome_history)
                      + (SELECT count(*) FROM returns)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            orphans,
            10 + 10 + 3,
            "only study b's outcomes, history and returns remain"
        );
        assert_eq!(s.releases("a", "report-release").unwrap(), releases_before);
        // The key cannot be had again, nor the id reused.
        assert!(matches!(
            s.study_key(&master, "a"),
            Err(StoreError::StudyPurged { .. })
        ));
        assert!(matches!(
            s.study_add(entry("a", "2099-01-01"), "dave"),
            Err(StoreError::StudyPurged { .. })
        ));
        assert!(s.study_key(&master, "b").unwrap().destroyable);
        // Nothing of study a's people is left in the file or its WAL: no
        // token, reference, or key secret (secure_delete + WAL truncation).
        drop(s);
        let mut bytes = std::fs::read(&p).unwrap();
        if let Ok(w) = std::fs::read(dir.path().join("s.sqlite-wal")) {
            bytes.extend(w);
        }
        for i in 0..20u32 {
            assert!(
                !contains(&bytes, &tok(0x10, i)),
                "service token {i} of study a left"
            );
            assert!(
                !contains(&bytes, &tok(0x20, i)),
                "study token {i} of study a left"
            );
            assert!(
                !contains(&bytes, format!("ref-a-{i:04}").as_bytes()),
                "reference {i} left"
            );
            assert!(
                contains(&bytes, &tok(0x21, i)),
                "study b's tokens are still there (scan sanity)"
            );
        }
        assert!(!contains(&bytes, &tok(0x30, 1)) && !contains(&bytes, &tok(0x30, 2)));
        assert!(!contains(&bytes, &key_before.expose_secret()[..]));
        // The purge record is append-only.
        let s = Store::open(&p).unwrap();
        assert!(s
            .connection()
            .execute("UPDATE study_purges SET operator = 'x'", [])
            .is_err());
        assert!(s.connection().execute("DELETE FROM study_purges", []).is_err());
    }
}
