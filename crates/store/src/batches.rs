//! Invitation batches and their files, recorded and published atomically
//! (see the crate docs), and bulk history for benchmarks.

use crate::{
    file_sha256, now_utc, remove_if_exists, rename_synced, sql, Result, Store, StoreError, TokenBytes,
};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use std::path::PathBuf;

/// One invitation to record. Carries tokens and coarse labels only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The invitation reference (UUID) printed on the letter/message.
    pub reference: String,
    /// 1-based row position in the batch file.
    pub position: u32,
    /// `token_nhs_dob` under `service:store`.
    pub service_token: TokenBytes,
    /// `token_nhs_dob` under `trial:<study>`.
    pub study_token: TokenBytes,
    /// `token_nhs` (the NHS number alone) under `service:store`: the person,
    /// for the frequency cap (`None` only in history loaded without it).
    pub service_nhs_token: Option<TokenBytes>,
    /// `token_nhs` under `trial:<study>`: the person, for "already invited"
    /// and uptake feedback by `nhs_token`.
    pub study_nhs_token: Option<TokenBytes>,
    /// SWAT arm name.
    pub arm: String,
    /// Letter/SMS/email template of the arm.
    pub template: String,
    /// Whether the person matched the registry volunteers.
    pub registry: bool,
    /// The quota stratum label.
    pub stratum: String,
    /// Age band at the as-of date, e.g. `50-54`.
    pub age_band: String,
    /// `male|female|other|unknown`.
    pub sex: String,
    /// ONS ethnic group or `Not stated`.
    pub ethnic_group: String,
    /// Region.
    pub region: String,
}

/// A QA seed sent with a batch (an internal address; never an invitation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QaSeed {
    /// Its reference.
    pub reference: String,
    /// 1-based row position in the batch file.
    pub position: u32,
    /// A label for the seed (e.g. its row in the QA seeds file).
    pub label: String,
}

/// A file staged for a batch: written and fsynced at `temp`, to be renamed
/// to `final_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    /// Where it was written.
    pub temp: PathBuf,
    /// Where it goes.
    pub final_path: PathBuf,
    /// The batch file itself (renamed last; its presence decides a pending
    /// batch's fate on reconcile).
    pub primary: bool,
}

/// A batch to record.
#[derive(Debug, Clone)]
pub struct NewBatch<'a> {
    /// Study id.
    pub study: &'a str,
    /// The request's seed.
    pub seed: u64,
    /// Digest of the request file.
    pub request_digest: &'a str,
    /// `postal|sms|email`.
    pub channel: &'a str,
    /// The output route (`nhs-notification`, `service-mailer`, …).
    pub route: &'a str,
    /// As-of date `YYYY-MM-DD` (the date ages are computed at).
    pub as_of: &'a str,
    /// The clock date the batch is made on, `YYYY-MM-DD`: the invitation
    /// date recorded for every invitation (the frequency cap counts it).
    pub invited_on: &'a str,
    /// Why `as_of` is more than 31 days from `invited_on`, when it is.
    pub backdate_reason: Option<&'a str>,
    /// Staged files; exactly one primary.
    pub files: &'a [StagedFile],
    /// The invitations.
    pub invitations: &'a [Invitation],
    /// The QA seeds.
    pub qa_seeds: &'a [QaSeed],
    /// The selection summary as JSON (counts only: funnel, strata, arms).
    pub summary_json: &'a str,
}

/// A recorded batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInfo {
    /// Its id.
    pub batch_id: i64,
    /// Study id.
    pub study: String,
    /// `pending` or `committed`.
    pub state: String,
    /// Seed.
    pub seed: u64,
    /// Channel.
    pub channel: String,
    /// As-of date.
    pub as_of: String,
    /// Invitations in it (QA seeds excluded).
    pub invitations: u64,
    /// QA seeds in it.
    pub qa_seeds: u64,
    /// The batch file.
    pub file_path: String,
    /// SHA-256 of the batch file.
    pub file_digest: String,
    /// Invitation or reminder batch.
    pub kind: BatchKind,
    /// For a reminder batch, the invitation batch it follows up.
    pub reminder_of: Option<i64>,
    /// Reminders in it (a reminder batch; QA seeds excluded).
    pub reminders: u64,
    /// The clock date the batch was made on (`YYYY-MM-DD`), when recorded
    /// (batches made before schema version 5 have none).
    pub invited_on: Option<String>,
}

/// What a batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    /// Invitations (each with its own reference).
    Invitation,
    /// Reminders of an earlier invitation batch's invitations (their
    /// references reused).
    Reminder,
}

impl BatchKind {
    /// `invitation` or `reminder`, as stored.
    pub fn name(self) -> &'static str {
        match self {
            BatchKind::Invitation => "invitation",
            BatchKind::Reminder => "reminder",
        }
    }
}

/// The columns [`batch_info`] reads, in order.
pub(crate) const BATCH_COLUMNS: &str =
    "batch_id, study, state, seed, channel, as_of, invitations, qa_seeds, \
     file_path, file_digest, kind, reminder_of, reminders, invited_on";

/// What [`Store::open`] found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Pending batches finished (their file was in place).
    pub rolled_forward: Vec<i64>,
    /// Pending batches removed (their file was not in place).
    pub rolled_back: Vec<i64>,
}

impl Store {
    // ----- batches -------------------------------------------------------------

    /// The batch of `study` made with `seed`, if any.
    pub fn find_batch(&self, study: &str, seed: u64) -> Result<Option<BatchInfo>> {
        self.conn
            .query_row(
                &format!("SELECT {BATCH_COLUMNS} FROM batches WHERE study = ?1 AND seed = ?2"),
                params![study, seed as i64],
                batch_info,
            )
            .optional()
            .map_err(self.e())
    }

    /// All batches, oldest first.
    pub fn batches(&self) -> Result<Vec<BatchInfo>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {BATCH_COLUMNS} FROM batches ORDER BY batch_id"))
            .map_err(self.e())?;
        let rows = st.query_map([], batch_info).map_err(self.e())?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(self.e())
    }

    /// Step 2: record a batch as `pending` with its invitations and QA
    /// seeds, in one transaction. Every staged file must already be written
    /// and fsynced at its temporary path.
    pub fn stage_batch(&mut self, b: &NewBatch<'_>) -> Result<i64> {
        self.stage(b, None, &[])
    }

    /// [`Store::stage_batch`] for an invitation batch (`reminder_of` is
    /// `None`, `reminders` empty) or a reminder batch (`b.invitations`
    /// empty).
    pub(crate) fn stage(
        &mut self,
        b: &NewBatch<'_>,
        reminder_of: Option<i64>,
        reminders: &[crate::Reminder],
    ) -> Result<i64> {
        if let Some(existing) = self.find_batch(b.study, b.seed)? {
            return Err(StoreError::DuplicateBatch {
                study: b.study.to_string(),
                seed: b.seed,
                batch_id: existing.batch_id,
                file: existing.file_path,
            });
        }
        let primary = b
            .files
            .iter()
            .find(|f| f.primary)
            .expect("a batch has exactly one primary file");
        let digest = file_sha256(&primary.temp).map_err(|source| StoreError::Io {
            path: primary.temp.clone(),
            source,
        })?;
        let kind = match reminder_of {
            Some(_) => BatchKind::Reminder,
            None => BatchKind::Invitation,
        };
        let now = now_utc();
        let path = self.path.clone();
        let e = |e| sql(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        tx.execute(
            "INSERT INTO batches (study, state, seed, request_digest, channel, as_of, created,
                                  invitations, qa_seeds, file_path, file_digest, summary, route,
                                  invited_on, backdate_reason, kind, reminder_of, reminders)
             VALUES (?1, 'pending', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            params![
                b.study,
                b.seed as i64,
                b.request_digest,
                b.channel,
                b.as_of,
                now,
                b.invitations.len() as i64,
                b.qa_seeds.len() as i64,
                primary.final_path.to_string_lossy(),
                digest,
                b.summary_json,
                b.route,
                b.invited_on,
                b.backdate_reason,
                kind.name(),
                reminder_of,
                reminders.len() as i64
            ],
        )
        .map_err(e)?;
        let batch_id = tx.last_insert_rowid();
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO batch_files (batch_id, temp_path, final_path, is_primary) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(e)?;
            for f in b.files {
                st.execute(params![
                    batch_id,
                    f.temp.to_string_lossy(),
                    f.final_path.to_string_lossy(),
                    f.primary as i64
                ])
                .map_err(e)?;
            }
            insert_invitations(&tx, b, batch_id).map_err(e)?;
            crate::reminders::insert_reminders(&tx, b, batch_id, reminders).map_err(e)?;
            let mut st = tx
                .prepare(
                    "INSERT INTO qa_seeds (reference, study, batch_id, position, label) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(e)?;
            for q in b.qa_seeds {
                st.execute(params![q.reference, b.study, batch_id, q.position, q.label])
                    .map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok(batch_id)
    }

    /// The batch with this id, if any.
    pub fn batch(&self, batch_id: i64) -> Result<Option<BatchInfo>> {
        self.conn
            .query_row(
                &format!("SELECT {BATCH_COLUMNS} FROM batches WHERE batch_id = ?1"),
                params![batch_id],
                batch_info,
            )
            .optional()
            .map_err(self.e())
    }

    /// The committed batch whose file was recorded at `path` (compared
    /// after canonicalising both), if any.
    pub fn batch_by_file(&self, path: &std::path::Path) -> Result<Option<BatchInfo>> {
        let want = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        Ok(self.batches()?.into_iter().find(|b| {
            let p = PathBuf::from(&b.file_path);
            b.state == "committed" && p.canonicalize().unwrap_or(p) == want
        }))
    }

    /// Step 3: rename the staged files into place (secondary files first,
    /// the batch file last), fsync their directories, mark the batch
    /// `committed`.
    pub fn publish_batch(&mut self, batch_id: i64) -> Result<()> {
        let state: Option<String> = self
            .conn
            .query_row(
                "SELECT state FROM batches WHERE batch_id = ?1",
                params![batch_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.e())?;
        if state.as_deref() != Some("pending") {
            return Err(StoreError::NotPending { batch_id });
        }
        let files = self.batch_files(batch_id)?;
        self.pause();
        for (temp, fin, primary) in files.iter().filter(|f| !f.2).chain(files.iter().filter(|f| f.2)) {
            let _ = primary;
            rename_synced(temp, fin)?;
            self.pause();
        }
        self.conn
            .execute(
                "UPDATE batches SET state = 'committed' WHERE batch_id = ?1",
                params![batch_id],
            )
            .map_err(self.e())?;
        Ok(())
    }

    fn batch_files(&self, batch_id: i64) -> Result<Vec<(PathBuf, PathBuf, bool)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT temp_path, final_path, is_primary FROM batch_files WHERE batch_id = ?1 ORDER BY final_path",
            )
            .map_err(self.e())?;
        let rows = st
            .query_map(params![batch_id], |r| {
                Ok((
                    PathBuf::from(r.get::<_, String>(0)?),
                    PathBuf::from(r.get::<_, String>(1)?),
                    r.get::<_, i64>(2)? != 0,
                ))
            })
            .map_err(self.e())?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(self.e())
    }

    /// Finish or undo every pending batch (see the crate docs). Run by
    /// [`Store::open`].
    pub fn reconcile(&mut self) -> Result<Reconciled> {
        let mut out = Reconciled::default();
        let pending: Vec<(i64, String, String)> = {
            let mut st = self
                .conn
                .prepare("SELECT batch_id, file_path, file_digest FROM batches WHERE state = 'pending' ORDER BY batch_id")
                .map_err(self.e())?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(self.e())?;
            rows.collect::<std::result::Result<Vec<_>, _>>()
                .map_err(self.e())?
        };
        for (batch_id, file_path, digest) in pending {
            let files = self.batch_files(batch_id)?;
            let primary = PathBuf::from(&file_path);
            let in_place = match file_sha256(&primary) {
                Ok(d) if d == digest => true,
                Ok(_) => {
                    return Err(StoreError::DigestMismatch {
                        batch_id,
                        path: primary,
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(source) => {
                    return Err(StoreError::Io {
                        path: primary,
                        source,
                    })
                }
            };
            if in_place {
                for (temp, fin, _) in files.iter().filter(|f| !f.2) {
                    if temp.exists() {
                        rename_synced(temp, fin)?;
                    }
                }
                self.conn
                    .execute(
                        "UPDATE batches SET state = 'committed' WHERE batch_id = ?1",
                        params![batch_id],
                    )
                    .map_err(self.e())?;
                out.rolled_forward.push(batch_id);
            } else {
                for (temp, fin, primary) in &files {
                    remove_if_exists(temp)?;
                    if !primary {
                        remove_if_exists(fin)?;
                    }
                }
                self.delete_batch(batch_id)?;
                out.rolled_back.push(batch_id);
            }
        }
        Ok(out)
    }

    fn delete_batch(&mut self, batch_id: i64) -> Result<()> {
        let path = self.path.clone();
        let e = |e| sql(&path, e);
        let tx = self.conn.transaction().map_err(e)?;
        for q in [
            "DELETE FROM reminders WHERE batch_id = ?1",
            "DELETE FROM outcome_history WHERE invitation_id IN (SELECT id FROM invitations WHERE batch_id = ?1)",
            "DELETE FROM outcomes WHERE invitation_id IN (SELECT id FROM invitations WHERE batch_id = ?1)",
            "DELETE FROM returns WHERE invitation_id IN (SELECT id FROM invitations WHERE batch_id = ?1)",
            "DELETE FROM invitations WHERE batch_id = ?1",
            "DELETE FROM qa_seeds WHERE batch_id = ?1",
            "DELETE FROM batch_files WHERE batch_id = ?1",
            "DELETE FROM batches WHERE batch_id = ?1",
        ] {
            tx.execute(q, params![batch_id]).map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(())
    }

    /// Number of invitations (QA seeds never included), optionally for one study.
    pub fn invitation_count(&self, study: Option<&str>) -> Result<u64> {
        match study {
            Some(s) => self.count("SELECT count(*) FROM invitations WHERE study = ?1", params![s]),
            None => self.count("SELECT count(*) FROM invitations", params![]),
        }
    }

    /// Number of QA seeds recorded, optionally for one study.
    pub fn qa_seed_count(&self, study: Option<&str>) -> Result<u64> {
        match study {
            Some(s) => self.count("SELECT count(*) FROM qa_seeds WHERE study = ?1", params![s]),
            None => self.count("SELECT count(*) FROM qa_seeds", params![]),
        }
    }

    /// Bulk-load prior invitations for benchmarks and tests: one synthetic
    /// committed batch per call (no file), rows inserted with one prepared
    /// statement in one transaction.
    pub fn load_history(
        &mut self,
        study: &str,
        seed: u64,
        invited_on: &str,
        invitations: &[Invitation],
    ) -> Result<i64> {
        let path = self.path.clone();
        let e = |e| sql(&path, e);
        let tx = self.conn.transaction().map_err(e)?;
        tx.execute(
            "INSERT OR IGNORE INTO studies (study, created, scope_fingerprint) VALUES (?1, ?2, 'history')",
            params![study, now_utc()],
        )
        .map_err(e)?;
        tx.execute(
            "INSERT INTO batches (study, state, seed, request_digest, channel, as_of, created,
                                  invitations, qa_seeds, file_path, file_digest)
             VALUES (?1, 'committed', ?2, 'history', 'postal', ?3, ?4, ?5, 0, '', '')",
            params![
                study,
                seed as i64,
                invited_on,
                now_utc(),
                invitations.len() as i64
            ],
        )
        .map_err(e)?;
        let batch_id = tx.last_insert_rowid();
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO invitations (reference, study, batch_id, position, service_token, study_token,
                        arm, channel, template, registry, stratum, age_band, sex, ethnic_group, region, invited_on,
                        service_nhs_token, study_nhs_token)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'postal', ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                )
                .map_err(e)?;
            for i in invitations {
                st.execute(params![
                    i.reference,
                    study,
                    batch_id,
                    i.position,
                    &i.service_token[..],
                    &i.study_token[..],
                    i.arm,
                    i.template,
                    i.registry as i64,
                    i.stratum,
                    i.age_band,
                    i.sex,
                    i.ethnic_group,
                    i.region,
                    invited_on,
                    i.service_nhs_token.as_ref().map(|t| &t[..]),
                    i.study_nhs_token.as_ref().map(|t| &t[..])
                ])
                .map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok(batch_id)
    }

    /// The selection summaries (JSON, counts only) of a study's committed
    /// batches: `(batch_id, as_of, summary)`, oldest first.
    pub fn batch_summaries(&self, study: &str) -> Result<Vec<(i64, String, String)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT batch_id, as_of, summary FROM batches WHERE study = ?1 AND state = 'committed' AND kind = 'invitation'
                 ORDER BY batch_id",
            )
            .map_err(self.e())?;
        let rows = st
            .query_map(params![study], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(self.e())?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(self.e())
    }
}

pub(crate) fn batch_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<BatchInfo> {
    Ok(BatchInfo {
        batch_id: r.get(0)?,
        study: r.get(1)?,
        state: r.get(2)?,
        seed: r.get::<_, i64>(3)? as u64,
        channel: r.get(4)?,
        as_of: r.get(5)?,
        invitations: r.get::<_, i64>(6)? as u64,
        qa_seeds: r.get::<_, i64>(7)? as u64,
        file_path: r.get(8)?,
        file_digest: r.get(9)?,
        kind: match r.get::<_, String>(10)?.as_str() {
            "reminder" => BatchKind::Reminder,
            _ => BatchKind::Invitation,
        },
        reminder_of: r.get(11)?,
        reminders: r.get::<_, i64>(12)? as u64,
        invited_on: r.get(13)?,
    })
}

fn insert_invitations(
    tx: &rusqlite::Transaction<'_>,
    b: &NewBatch<'_>,
    batch_id: i64,
) -> rusqlite::Result<()> {
    let mut st = tx.prepare(
        "INSERT INTO invitations (reference, study, batch_id, position, service_token, study_token,
            arm, channel, template, registry, stratum, age_band, sex, ethnic_group, region, invited_on,
            service_nhs_token, study_nhs_token)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )?;
    for i in b.invitations {
        st.execute(params![
            i.reference,
            b.study,
            batch_id,
            i.position,
            &i.service_token[..],
            &i.study_token[..],
            i.arm,
            b.channel,
            i.template,
            i.registry as i64,
            i.stratum,
            i.age_band,
            i.sex,
            i.ethnic_group,
            i.region,
            b.invited_on,
            i.service_nhs_token.as_ref().map(|t| &t[..]),
            i.study_nhs_token.as_ref().map(|t| &t[..])
        ])?;
    }
    Ok(())
}
