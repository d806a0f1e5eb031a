//! Why a reminder run stopped.

use crate::invite::InviteError;
use std::path::PathBuf;

/// Why a reminder run stopped. Positions and names only, never values.
#[derive(Debug, thiserror::Error)]
pub enum ReminderError {
    /// A failure shared with invitation runs (request, store, cohort,
    /// lists, register, outputs).
    #[error(transparent)]
    Run(#[from] InviteError),
    /// The request has no `[reminder]` table.
    #[error("the request has no [reminder] table (after_days, optionally of_batch and max_reminders)")]
    NotReminderRequest,
    /// No batch named.
    #[error(
        "no batch to follow up: give `of_batch` in the request's [reminder] table or --reminder-of BATCH"
    )]
    NoBatch,
    /// The request and the option name different batches.
    #[error(
        "the request's [reminder] of_batch ({request}) and --reminder-of ({given}) name different batches"
    )]
    BatchConflict {
        /// In the request.
        request: i64,
        /// Given.
        given: i64,
    },
    /// A study with no register entry.
    #[error("study {study} has no entry in the study register; reminders need an entry that permits them")]
    NotRegistered {
        /// Study.
        study: String,
    },
    /// The register does not permit reminders.
    #[error(
        "study {study}: the study register does not permit reminders (its entry has no `reminders = true`)"
    )]
    NotPermitted {
        /// Study.
        study: String,
    },
    /// No such batch.
    #[error("batch {batch_id} is not in this store")]
    UnknownBatch {
        /// The id given.
        batch_id: i64,
    },
    /// A file no batch of this store was recorded at.
    #[error("{path}: no batch of this store was written to this file")]
    UnknownBatchFile {
        /// The path given.
        path: PathBuf,
    },
    /// Another study's batch.
    #[error("batch {batch_id} is a batch of another study, not of {study}")]
    OtherStudy {
        /// The batch.
        batch_id: i64,
        /// The request's study.
        study: String,
    },
    /// A reminder batch (remind the invitation batch instead).
    #[error("batch {batch_id} is a reminder batch; name the invitation batch it follows up ({of})")]
    ReminderBatch {
        /// The batch.
        batch_id: i64,
        /// The invitation batch.
        of: i64,
    },
    /// A batch still pending.
    #[error("batch {batch_id} is not committed")]
    NotCommitted {
        /// The batch.
        batch_id: i64,
    },
    /// The batch file differs from the one recorded.
    #[error("batch {batch_id}: {path} differs from the digest recorded when the batch was made (edited or replaced); reminders follow up the batch as it was made")]
    Tampered {
        /// The batch.
        batch_id: i64,
        /// Its file.
        path: PathBuf,
    },
    /// The batch is younger than `after_days`.
    #[error("batch {batch_id} was made on {invited_on}, {days} days before today ({today}); reminders need at least reminder.after_days = {after_days}")]
    TooSoon {
        /// The batch.
        batch_id: i64,
        /// Its invitation date.
        invited_on: String,
        /// Today.
        today: String,
        /// Days since.
        days: i64,
        /// The request's minimum.
        after_days: u32,
    },
    /// Nobody is left to remind.
    #[error("nobody in batch {batch_id} is to be reminded ({reasons}); nothing written")]
    NoneToRemind {
        /// The batch.
        batch_id: i64,
        /// The funnel, `reason count` joined.
        reasons: String,
    },
}

impl From<store::StoreError> for ReminderError {
    fn from(e: store::StoreError) -> Self {
        ReminderError::Run(e.into())
    }
}

impl From<tabular::TabularError> for ReminderError {
    fn from(e: tabular::TabularError) -> Self {
        ReminderError::Run(e.into())
    }
}

impl ReminderError {
    /// What to do about this error, for the command line.
    pub fn hint(&self) -> &'static str {
        match self {
        ReminderError::Run(e) => e.hint(),
        ReminderError::NotReminderRequest => {
            "add a [reminder] table to the request (after_days = N, optionally max_reminders); see fixtures/requests/reminder.toml"
        }
        ReminderError::NoBatch | ReminderError::BatchConflict { .. } => {
            "name the invitation batch once: --reminder-of BATCH or [reminder] of_batch"
        }
        ReminderError::NotRegistered { .. } | ReminderError::NotPermitted { .. } => {
            "record `reminders = true` in the study's register entry (`trialink study update`) if its approvals allow reminders"
        }
        ReminderError::UnknownBatch { .. } | ReminderError::UnknownBatchFile { .. } => {
            "give the id the invite run printed (`batch N for study ...`) or the path of its invitations.csv, with the same --store"
        }
        ReminderError::OtherStudy { .. } => "a reminder follows up a batch of the request's own study",
        ReminderError::ReminderBatch { .. } => "name the invitation batch; every reminder points at an invitation",
        ReminderError::NotCommitted { .. } => "run any trialink command on the store to finish or undo the batch first",
        ReminderError::Tampered { .. } => {
            "restore the batch file as it was written, or move the edited copy away (the store holds the invitations)"
        }
        ReminderError::TooSoon { .. } => "wait until after_days have passed since the invitation",
        ReminderError::NoneToRemind { .. } => "nothing to send: every invitee responded, was excluded or has had their reminders",
    }
    }
}
