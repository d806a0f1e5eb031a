//! Reminders: follow-ups of an invitation batch's invitations to invitees
//! who have not responded.
//!
//! A reminder batch is a batch of kind `reminder` naming the invitation
//! batch it follows up. Each reminder points at its invitation (so it
//! keeps the invitation's reference, and feedback by reference still
//! matches the invitation) and records the reminder's own SWAT arm,
//! template, channel and the clock date it was made on. Reminders are never
//! invitations: invitation counts, the invitation-frequency cap (unless a
//! request asks for reminders to count) and the exclusion figures of the
//! service evaluation leave them out; the figures below count them
//! separately.
//!
//! Figures for reports (aggregate counts, never a token):
//!
//! * [`Store::reminder_arms`] — per reminder arm (a reminder arm can be a
//!   SWAT): invitations reminded, and of those, responses and enrolments
//!   reported on or after the first reminder.
//! * [`Store::response_timing`] — a study's invitations split into
//!   responded after the invitation (before any reminder), responded after
//!   a reminder, and not responded.
//! * [`Store::recruitment_by_day`] — per day: invitations sent, invitations
//!   first reminded, first responses and first enrolments (non-cumulative;
//!   a reader sums them into cumulative weekly series).
//!
//! A response "after a reminder" is one whose first reported status date
//! is on or after the invitation's first reminder date.

use crate::{sql, NewBatch, Result, Store, TokenBytes, UptakeStatus};
use rusqlite::params;

/// An invitation of an earlier batch, as a reminder run sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderCandidate {
    /// Invitation row id.
    pub invitation_id: i64,
    /// Its reference (reused by the reminder).
    pub reference: String,
    /// `token_nhs_dob` under `service:store`.
    pub service_token: TokenBytes,
    /// `token_nhs_dob` under `trial:<study>`.
    pub study_token: TokenBytes,
    /// The invitation's SWAT arm.
    pub arm: String,
    /// The invitation's quota stratum.
    pub stratum: String,
    /// The invitation date, `YYYY-MM-DD`.
    pub invited_on: String,
    /// Any uptake status reported.
    pub responded: bool,
    /// Returned to sender.
    pub returned: bool,
    /// Reminders already sent for it.
    pub reminders: u32,
    /// The date of the latest of them.
    pub last_reminded: Option<String>,
}

/// One reminder to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    /// The invitation it follows up.
    pub invitation_id: i64,
    /// 1-based row position in the reminder batch file.
    pub position: u32,
    /// The reminder's SWAT arm.
    pub arm: String,
    /// Its template.
    pub template: String,
}

/// A reminder batch to record: the batch (with no invitations) and its
/// reminders.
#[derive(Debug, Clone)]
pub struct NewReminderBatch<'a> {
    /// The batch: study, seed, channel and route of the reminders, files,
    /// QA seeds, summary; `invitations` must be empty.
    pub batch: NewBatch<'a>,
    /// The invitation batch followed up.
    pub of_batch: i64,
    /// The reminders.
    pub reminders: &'a [Reminder],
}

/// Reminders of one reminder arm (see [`Store::reminder_arms`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderArm {
    /// The reminder's SWAT arm.
    pub arm: String,
    /// Invitations reminded under it (first reminder in this arm).
    pub reminded: u64,
    /// Of those, responded on or after their first reminder.
    pub responded_after: u64,
    /// Of those, enrolled (randomised) on or after their first reminder.
    pub enrolled_after: u64,
}

/// A study's invitations by when they were answered (see
/// [`Store::response_timing`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseTiming {
    /// Invitations.
    pub invited: u64,
    /// Invitations sent at least one reminder.
    pub reminded: u64,
    /// Reminders sent (an invitation reminded twice counts twice).
    pub reminders: u64,
    /// First response before any reminder (or never reminded).
    pub responded_after_invitation: u64,
    /// First response on or after the first reminder.
    pub responded_after_reminder: u64,
    /// No response.
    pub not_responded: u64,
}

/// One day of [`Store::recruitment_by_day`] (counts on that day, not
/// cumulative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCounts {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Invitations sent.
    pub invited: u64,
    /// Invitations reminded for the first time.
    pub reminded: u64,
    /// Invitations with their first reported status.
    pub responded: u64,
    /// Invitations first randomised (enrolled).
    pub enrolled: u64,
}

pub(crate) fn insert_reminders(
    tx: &rusqlite::Transaction<'_>,
    b: &NewBatch<'_>,
    batch_id: i64,
    reminders: &[Reminder],
) -> rusqlite::Result<()> {
    let mut st = tx.prepare(
        "INSERT INTO reminders (study, batch_id, invitation_id, position, arm, template, channel, reminded_on)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for r in reminders {
        st.execute(params![
            b.study,
            batch_id,
            r.invitation_id,
            r.position,
            r.arm,
            r.template,
            b.channel,
            b.invited_on
        ])?;
    }
    Ok(())
}

/// Per invitation `i`: the date of its first reported status, if any.
const FIRST_RESPONSE: &str =
    "(SELECT min(h.status_date) FROM outcome_history h WHERE h.invitation_id = i.id)";
/// Per invitation `i`: the date of its first reminder, if any.
const FIRST_REMINDER: &str = "(SELECT min(m.reminded_on) FROM reminders m WHERE m.invitation_id = i.id)";

fn first_enrolment() -> String {
    format!(
        "(SELECT min(h.status_date) FROM outcome_history h WHERE h.invitation_id = i.id AND h.status = '{}')",
        UptakeStatus::Randomised.code()
    )
}

impl Store {
    /// Stage a reminder batch (step 2 of the batch protocol in the crate
    /// docs; publish with [`Store::publish_batch`]). The batch's
    /// `invited_on` is recorded as each reminder's date.
    pub fn stage_reminder_batch(&mut self, b: &NewReminderBatch<'_>) -> Result<i64> {
        assert!(
            b.batch.invitations.is_empty(),
            "a reminder batch holds no invitations"
        );
        self.stage(&b.batch, Some(b.of_batch), b.reminders)
    }

    /// The invitations of batch `batch_id` with what a reminder run needs
    /// to know about each, by position.
    pub fn reminder_candidates(&self, batch_id: i64) -> Result<Vec<ReminderCandidate>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT i.id, i.reference, i.service_token, i.study_token, i.arm, i.stratum, i.invited_on,
                   EXISTS (SELECT 1 FROM outcome_history h WHERE h.invitation_id = i.id),
                   EXISTS (SELECT 1 FROM returns r WHERE r.invitation_id = i.id),
                   (SELECT count(*) FROM reminders m WHERE m.invitation_id = i.id),
                   (SELECT max(m.reminded_on) FROM reminders m WHERE m.invitation_id = i.id)
                 FROM invitations i WHERE i.batch_id = ?1 ORDER BY i.position",
            )
            .map_err(self.e())?;
        let token = |r: &rusqlite::Row<'_>, i: usize| -> rusqlite::Result<TokenBytes> {
            let b = r.get_ref(i)?.as_blob()?;
            Ok(<TokenBytes>::try_from(b).unwrap_or([0; 32]))
        };
        let rows = st
            .query_map(params![batch_id], |r| {
                Ok(ReminderCandidate {
                    invitation_id: r.get(0)?,
                    reference: r.get(1)?,
                    service_token: token(r, 2)?,
                    study_token: token(r, 3)?,
                    arm: r.get(4)?,
                    stratum: r.get(5)?,
                    invited_on: r.get(6)?,
                    responded: r.get(7)?,
                    returned: r.get(8)?,
                    reminders: r.get::<_, i64>(9)? as u32,
                    last_reminded: r.get(10)?,
                })
            })
            .map_err(self.e())?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(self.e())
    }

    /// `service:store` tokens over an invitation-frequency cap: at least
    /// `max` contacts on or after `since`, where contacts are invitations
    /// (any study) except those of batch `except_batch`, plus reminders
    /// when `count_reminders`. Sorted.
    pub fn capped_tokens_counting(
        &self,
        since: &str,
        max: u32,
        count_reminders: bool,
        except_batch: Option<i64>,
    ) -> Result<Vec<TokenBytes>> {
        if !count_reminders && except_batch.is_none() {
            return self.capped_tokens(since, max);
        }
        self.token_column(
            "SELECT service_token FROM (
               SELECT service_token FROM invitations INDEXED BY invitations_cap
                 WHERE invited_on >= ?1 AND batch_id IS NOT ?3
               UNION ALL
               SELECT i.service_token FROM reminders m JOIN invitations i ON i.id = m.invitation_id
                 WHERE ?4 AND m.reminded_on >= ?1
             ) GROUP BY service_token HAVING count(*) >= ?2 ORDER BY service_token",
            params![since, max as i64, except_batch, count_reminders],
        )
    }

    /// [`Store::capped_tokens_counting`] by `service:store` `token_nhs` (the
    /// person), over invitations that carry it (made since schema version 8).
    pub fn capped_nhs_tokens_counting(
        &self,
        since: &str,
        max: u32,
        count_reminders: bool,
        except_batch: Option<i64>,
    ) -> Result<Vec<TokenBytes>> {
        if !count_reminders && except_batch.is_none() {
            return self.capped_nhs_tokens(since, max);
        }
        self.token_column(
            "SELECT service_nhs_token FROM (
               SELECT service_nhs_token FROM invitations INDEXED BY invitations_cap_nhs
                 WHERE service_nhs_token IS NOT NULL AND invited_on >= ?1 AND batch_id IS NOT ?3
               UNION ALL
               SELECT i.service_nhs_token FROM reminders m JOIN invitations i ON i.id = m.invitation_id
                 WHERE ?4 AND m.reminded_on >= ?1 AND i.service_nhs_token IS NOT NULL
             ) GROUP BY service_nhs_token HAVING count(*) >= ?2 ORDER BY service_nhs_token",
            params![since, max as i64, except_batch, count_reminders],
        )
    }

    /// Reminders recorded (QA seeds never included), optionally for one study.
    pub fn reminder_count(&self, study: Option<&str>) -> Result<u64> {
        match study {
            Some(s) => self.count("SELECT count(*) FROM reminders WHERE study = ?1", params![s]),
            None => self.count("SELECT count(*) FROM reminders", params![]),
        }
    }

    /// Per reminder arm of a study: invitations reminded (by the arm of
    /// their first reminder) and how many of those responded or enrolled on
    /// or after that reminder, by arm.
    pub fn reminder_arms(&self, study: &str) -> Result<Vec<ReminderArm>> {
        let q = format!(
            "WITH f AS (
               SELECT i.id, (SELECT m.arm FROM reminders m WHERE m.invitation_id = i.id
                             ORDER BY m.reminded_on, m.id LIMIT 1) AS arm,
                      {FIRST_REMINDER} AS reminded_on, {FIRST_RESPONSE} AS responded_on,
                      {} AS enrolled_on
               FROM invitations i WHERE i.study = ?1)
             SELECT arm, count(*), count(CASE WHEN responded_on >= reminded_on THEN 1 END),
                    count(CASE WHEN enrolled_on >= reminded_on THEN 1 END)
             FROM f WHERE arm IS NOT NULL GROUP BY arm ORDER BY arm",
            first_enrolment()
        );
        let mut st = self.conn.prepare(&q).map_err(self.e())?;
        let rows = st
            .query_map(params![study], |r| {
                Ok(ReminderArm {
                    arm: r.get(0)?,
                    reminded: r.get::<_, i64>(1)? as u64,
                    responded_after: r.get::<_, i64>(2)? as u64,
                    enrolled_after: r.get::<_, i64>(3)? as u64,
                })
            })
            .map_err(self.e())?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(self.e())
    }

    /// A study's invitations by when they were first answered: after the
    /// invitation (before any reminder), after a reminder, or not at all;
    /// with the invitations reminded and the reminders sent.
    pub fn response_timing(&self, study: &str) -> Result<ResponseTiming> {
        let q = format!(
            "WITH f AS (SELECT {FIRST_REMINDER} AS reminded_on, {FIRST_RESPONSE} AS responded_on
                        FROM invitations i WHERE i.study = ?1)
             SELECT count(*), count(reminded_on),
                    count(CASE WHEN responded_on IS NOT NULL
                                AND (reminded_on IS NULL OR responded_on < reminded_on) THEN 1 END),
                    count(CASE WHEN responded_on >= reminded_on THEN 1 END),
                    count(CASE WHEN responded_on IS NULL THEN 1 END),
                    (SELECT count(*) FROM reminders WHERE study = ?1)
             FROM f"
        );
        self.conn
            .query_row(&q, params![study], |r| {
                let n = |i: usize| r.get::<_, i64>(i).map(|x| x.max(0) as u64);
                Ok(ResponseTiming {
                    invited: n(0)?,
                    reminded: n(1)?,
                    responded_after_invitation: n(2)?,
                    responded_after_reminder: n(3)?,
                    not_responded: n(4)?,
                    reminders: n(5)?,
                })
            })
            .map_err(|e| sql(self.path(), e))
    }

    /// Per day, for a study: invitations sent, invitations first reminded,
    /// first responses and first enrolments (each invitation counted once
    /// per series, on its first date), by date. Days with nothing are
    /// left out.
    pub fn recruitment_by_day(&self, study: &str) -> Result<Vec<DayCounts>> {
        let q = format!(
            "WITH f AS (SELECT substr(i.invited_on, 1, 10) AS invited_on,
                               substr({FIRST_REMINDER}, 1, 10) AS reminded_on,
                               substr({FIRST_RESPONSE}, 1, 10) AS responded_on,
                               substr({}, 1, 10) AS enrolled_on
                        FROM invitations i WHERE i.study = ?1),
                  d AS (SELECT invited_on AS day, 1 AS a, 0 AS b, 0 AS c, 0 AS e FROM f
                        UNION ALL SELECT reminded_on, 0, 1, 0, 0 FROM f WHERE reminded_on IS NOT NULL
                        UNION ALL SELECT responded_on, 0, 0, 1, 0 FROM f WHERE responded_on IS NOT NULL
                        UNION ALL SELECT enrolled_on, 0, 0, 0, 1 FROM f WHERE enrolled_on IS NOT NULL)
             SELECT day, sum(a), sum(b), sum(c), sum(e) FROM d GROUP BY day ORDER BY day",
            first_enrolment()
        );
        let mut st = self.conn.prepare(&q).map_err(self.e())?;
        let rows = st
            .query_map(params![study], |r| {
                Ok(DayCounts {
                    date: r.get(0)?,
                    invited: r.get::<_, i64>(1)? as u64,
                    reminded: r.get::<_, i64>(2)? as u64,
                    responded: r.get::<_, i64>(3)? as u64,
                    enrolled: r.get::<_, i64>(4)? as u64,
                })
            })
            .map_err(self.e())?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(self.e())
    }
}
