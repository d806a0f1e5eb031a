//! One batch run as the operator asks for it: an invitation batch, or a
//! reminder batch following up an earlier one, leaving no trace when it is
//! refused.

use crate::invite::{self, BatchOptions, InviteError, InviteOptions};
use crate::reminder::{self, BatchRef, ReminderError, ReminderOptions};
use std::path::Path;
use store::Store;

/// Why a batch run stopped.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// An invitation run's error (or one a reminder run shares with it).
    #[error(transparent)]
    Invite(#[from] InviteError),
    /// A reminder run's own error.
    #[error(transparent)]
    Reminder(ReminderError),
}

impl From<ReminderError> for BatchError {
    fn from(e: ReminderError) -> Self {
        match e {
            ReminderError::Run(e) => BatchError::Invite(e),
            e => BatchError::Reminder(e),
        }
    }
}

/// What a batch run did, for the operator.
#[derive(Debug)]
pub struct BatchDone {
    /// A warning to show before the result.
    pub warning: Option<String>,
    /// The batch, its funnel and its file (see the reports' `console`).
    pub text: String,
}

/// Run a batch: reminders following up `reminder_of` (or the batch the
/// request's `[reminder]` table names) when `reminder`, else invitations,
/// prioritising `registry` / `registry_links` volunteers. A refused run
/// leaves no trace: the output directory, if the run made it, is removed
/// (only if empty; never anything in it).
pub fn run_batch(
    store: &mut Store,
    batch: BatchOptions<'_>,
    reminder: bool,
    reminder_of: Option<&str>,
    registry: (Option<&Path>, Option<&Path>),
) -> Result<BatchDone, BatchError> {
    let out = batch.out_dir.to_path_buf();
    let out_existed = out.exists();
    let tidy = |e: BatchError| {
        if !out_existed {
            let _ = std::fs::remove_dir(&out);
        }
        e
    };
    if reminder {
        let of_batch = reminder_of.map(BatchRef::parse);
        let rep =
            reminder::remind(store, &ReminderOptions { batch, of_batch }).map_err(|e| tidy(e.into()))?;
        return Ok(BatchDone {
            warning: None,
            text: rep.console(),
        });
    }
    let opts = InviteOptions {
        batch,
        registry: registry.0,
        registry_links: registry.1,
    };
    let rep = invite::invite(store, &opts).map_err(|e| tidy(e.into()))?;
    Ok(BatchDone {
        warning: rep.legacy_warning(),
        text: rep.console(),
    })
}
