//! Uptake feedback and returns recorded against invitations: outcomes
//! with their history, enrolments, return-to-sender records.

use crate::{now_utc, Result, Store, TokenBytes};
use rusqlite::{params, OptionalExtension};

/// An invitation as found by reference or token (for uptake and returns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundInvitation {
    /// Row id.
    pub id: i64,
    /// Study.
    pub study: String,
    /// Batch.
    pub batch_id: i64,
    /// `token_nhs_dob` under `trial:<study>`.
    pub study_token: TokenBytes,
}

/// What happened to one reported outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeEffect {
    /// Became the invitation's current status.
    Current,
    /// Kept in history; an equal-or-later status is current.
    HistoryOnly,
    /// Exactly this status and date were recorded before: nothing changed.
    AlreadyRecorded,
}

/// What happened to one return-to-sender record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnEffect {
    /// Newly recorded.
    Recorded,
    /// Already recorded (same or earlier report): nothing changed.
    AlreadyRecorded,
}

/// An uptake status a trial reports for an invitation, in journey order.
/// The one list of statuses: feedback parsing, the store's ordering of
/// same-day reports and every SQL count of "responded", "consented" and
/// "enrolled" are built from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UptakeStatus {
    /// Expressed interest in taking part.
    ExpressedInterest,
    /// Found ineligible by the trial.
    Ineligible,
    /// Consented.
    Consented,
    /// Randomised: enrolled in the trial.
    Randomised,
    /// Withdrew after consenting or randomisation.
    Withdrawn,
}

impl UptakeStatus {
    /// Every status, in journey order (the order of [`UptakeStatus::rank`]).
    pub const ALL: [UptakeStatus; 5] = [
        UptakeStatus::ExpressedInterest,
        UptakeStatus::Ineligible,
        UptakeStatus::Consented,
        UptakeStatus::Randomised,
        UptakeStatus::Withdrawn,
    ];

    /// Statuses that make a person "already enrolled" for later batches and
    /// count as consented in figures (ever consented or randomised).
    pub const CONSENTED: [UptakeStatus; 2] = [UptakeStatus::Consented, UptakeStatus::Randomised];

    /// The code used in feedback files and the store.
    pub fn code(self) -> &'static str {
        match self {
            UptakeStatus::ExpressedInterest => "expressed_interest",
            UptakeStatus::Ineligible => "ineligible",
            UptakeStatus::Consented => "consented",
            UptakeStatus::Randomised => "randomised",
            UptakeStatus::Withdrawn => "withdrawn",
        }
    }

    /// The status with this code (exact bytes), if any.
    pub fn from_code(code: &[u8]) -> Option<UptakeStatus> {
        UptakeStatus::ALL
            .into_iter()
            .find(|s| s.code().as_bytes() == code)
    }

    /// Rank for ordering same-day reports (higher = later in the journey).
    pub fn rank(self) -> u8 {
        self as u8 + 1
    }

    /// Whether the status counts as consented (and so already enrolled).
    pub fn consented(self) -> bool {
        UptakeStatus::CONSENTED.contains(&self)
    }

    /// An SQL list of quoted codes, e.g. `'consented', 'randomised'`.
    pub fn sql_list(statuses: &[UptakeStatus]) -> String {
        statuses
            .iter()
            .map(|s| format!("'{}'", s.code()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// An SQL expression giving the rank of the status in `column` (0 for
    /// a code that is not a status).
    pub fn sql_rank(column: &str) -> String {
        let mut e = format!("CASE {column}");
        for s in UptakeStatus::ALL {
            e.push_str(&format!(" WHEN '{}' THEN {}", s.code(), s.rank()));
        }
        e.push_str(" ELSE 0 END");
        e
    }
}

impl std::fmt::Display for UptakeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl Store {
    // ----- uptake and returns --------------------------------------------------

    /// The invitation with this reference, if any.
    pub fn invitation_by_reference(&self, reference: &str) -> Result<Option<FoundInvitation>> {
        self.conn
            .prepare_cached("SELECT id, study, batch_id, study_token FROM invitations WHERE reference = ?1")
            .and_then(|mut st| st.query_row(params![reference], found).optional())
            .map_err(self.e())
    }

    /// Whether `reference` is a QA seed.
    pub fn is_qa_reference(&self, reference: &str) -> Result<bool> {
        self.conn
            .prepare_cached("SELECT 1 FROM qa_seeds WHERE reference = ?1")
            .and_then(|mut st| st.exists(params![reference]))
            .map_err(self.e())
    }

    /// The most recent invitation of `study` for a study-scope token.
    pub fn invitation_by_study_token(
        &self,
        study: &str,
        token: &TokenBytes,
    ) -> Result<Option<FoundInvitation>> {
        self.conn
            .prepare_cached(
                "SELECT id, study, batch_id, study_token FROM invitations WHERE study = ?1 AND study_token = ?2
                 ORDER BY invited_on DESC, id DESC LIMIT 1",
            )
            .and_then(|mut st| st.query_row(params![study, &token[..]], found).optional())
            .map_err(self.e())
    }

    /// The most recent invitation of `study` for a study-scope `token_nhs`
    /// (the NHS number alone). Invitations made before schema version 8
    /// have none and are found only by [`Store::invitation_by_study_token`].
    pub fn invitation_by_study_nhs_token(
        &self,
        study: &str,
        token: &TokenBytes,
    ) -> Result<Option<FoundInvitation>> {
        self.conn
            .prepare_cached(
                "SELECT id, study, batch_id, study_token FROM invitations INDEXED BY invitations_study_nhs_token
                 WHERE study = ?1 AND study_nhs_token = ?2
                 ORDER BY invited_on DESC, id DESC LIMIT 1",
            )
            .and_then(|mut st| st.query_row(params![study, &token[..]], found).optional())
            .map_err(self.e())
    }

    /// Begin a transaction for a run of outcome/return writes (commit with
    /// [`Store::commit`]). Everything recorded in between is one unit: a kill
    /// leaves none of it.
    pub fn begin(&mut self) -> Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(self.e())?;
        self.tx_now = Some(now_utc());
        Ok(())
    }

    /// Roll back the transaction opened by [`Store::begin`].
    pub fn rollback(&mut self) -> Result<()> {
        self.tx_now = None;
        self.conn.execute_batch("ROLLBACK").map_err(self.e())
    }

    /// Commit the transaction opened by [`Store::begin`].
    pub fn commit(&mut self) -> Result<()> {
        self.tx_now = None;
        self.conn.execute_batch("COMMIT").map_err(self.e())
    }

    /// Record an uptake status for an invitation: kept in history; becomes
    /// current when it is later (date, then journey rank) than the current one.
    pub fn record_outcome(
        &mut self,
        invitation_id: i64,
        status: UptakeStatus,
        status_date: &str,
        source: &str,
    ) -> Result<OutcomeEffect> {
        let now = self.stamp();
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO outcome_history (invitation_id, status, status_date, recorded, source)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut st| st.execute(params![invitation_id, status.code(), status_date, now, source]))
            .map_err(self.e())?;
        if n == 0 {
            return Ok(OutcomeEffect::AlreadyRecorded);
        }
        // One statement: insert, or update only when the new status is later
        // (date, then journey rank).
        let q = format!(
            "INSERT INTO outcomes (invitation_id, status, status_date, recorded) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (invitation_id) DO UPDATE SET status = excluded.status,
               status_date = excluded.status_date, recorded = excluded.recorded
             WHERE excluded.status_date > outcomes.status_date
                OR (excluded.status_date = outcomes.status_date AND ?5 > {})",
            UptakeStatus::sql_rank("outcomes.status")
        );
        let n = self
            .conn
            .prepare_cached(&q)
            .and_then(|mut st| {
                st.execute(params![
                    invitation_id,
                    status.code(),
                    status_date,
                    now,
                    status.rank()
                ])
            })
            .map_err(self.e())?;
        Ok(if n == 1 {
            OutcomeEffect::Current
        } else {
            OutcomeEffect::HistoryOnly
        })
    }

    /// Record a return-to-sender against an invitation (the first report wins;
    /// repeats change nothing).
    pub fn record_return(
        &mut self,
        invitation_id: i64,
        reason: &str,
        return_date: &str,
        source: &str,
    ) -> Result<ReturnEffect> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO returns (invitation_id, reason, return_date, recorded, source)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut st| st.execute(params![invitation_id, reason, return_date, self.stamp(), source]))
            .map_err(self.e())?;
        Ok(if n == 1 {
            ReturnEffect::Recorded
        } else {
            ReturnEffect::AlreadyRecorded
        })
    }

    /// Record study-scope enrolment inside the current transaction (used by uptake).
    pub fn add_enrolled_one(&mut self, study: &str, token: &TokenBytes, source: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO enrolled (study, study_token, added, source) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut st| st.execute(params![study, &token[..], self.stamp(), source]))
            .map_err(self.e())?;
        Ok(n == 1)
    }

    /// Returns of a study's invitations by reason code, sorted by reason.
    pub fn returns_by_reason(&self, study: &str) -> Result<Vec<(String, u64)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT r.reason, count(*) FROM returns r JOIN invitations i ON i.id = r.invitation_id
                 WHERE i.study = ?1 GROUP BY r.reason ORDER BY r.reason",
            )
            .map_err(self.e())?;
        let rows = st
            .query_map(params![study], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .map_err(self.e())?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(self.e())
    }
}

fn found(r: &rusqlite::Row<'_>) -> rusqlite::Result<FoundInvitation> {
    let t = r.get_ref(3)?.as_blob()?;
    Ok(FoundInvitation {
        id: r.get(0)?,
        study: r.get(1)?,
        batch_id: r.get(2)?,
        study_token: <TokenBytes>::try_from(t).unwrap_or([0; 32]),
    })
}
