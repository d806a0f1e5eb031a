//! One batch run as the operator asks for it: an invitation batch, or a
//! reminder batch following up an earlier one, leaving no trace when it is
//! refused.

use crate::invite::{self, BatchOptions, InviteError, InviteOptions, Progress};
use crate::reminder::{self, BatchRef, ReminderError, ReminderOptions};
use crate::request::{RequestError, Validated};
use pseudonym::{Date, DobFormats, Key};
use std::collections::BTreeMap;
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
    /// The clock date given for tests and the demo is not a date.
    #[error("--today / TRIALINK_TODAY: expected a date YYYY-MM-DD")]
    Today,
    /// The CLK suppression threshold is outside (0, 1].
    #[error("--clk-threshold: expected a number in (0, 1]")]
    ClkThreshold,
    /// The request could not be read or is invalid.
    #[error(transparent)]
    Request(RequestError),
    /// Registry volunteers were given for a reminder batch.
    #[error("--registry / --registry-links: a reminder batch follows up invitees; registry prioritisation does not apply")]
    RegistryInReminder,
    /// The cohort is not a regular file (it is read twice).
    #[error("cohort {path}: {source}")]
    Cohort {
        /// The cohort file.
        path: String,
        /// Why it cannot be read twice.
        source: std::io::Error,
    },
}

impl BatchError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            BatchError::Invite(InviteError::Tabular(t)) => return t.hint(),
            BatchError::Invite(e) => e.hint(),
            BatchError::Reminder(e) => e.hint(),
            BatchError::Today => "these are for tests and the demo only; leave them unset",
            BatchError::ClkThreshold => {
                "the default 0.75 is deliberately low: a false match only means one person not invited"
            }
            BatchError::Request(RequestError::Io { .. }) => "check the --request path",
            BatchError::Request(_) => "fixtures/requests/example.toml documents every key",
            BatchError::RegistryInReminder => "leave them out of a reminder run",
            BatchError::Cohort { .. } => return None,
        })
    }
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

/// The clock date: `given`, else `$TRIALINK_TODAY` (both for tests and
/// the demo only, so that runs are reproducible), else today in UTC.
pub fn today(given: Option<&str>) -> Result<Date, BatchError> {
    let env = std::env::var("TRIALINK_TODAY").ok();
    match given.or(env.as_deref()) {
        Some(s) => Date::parse_iso(s.trim()).ok_or(BatchError::Today),
        None => Ok(Date::today_utc()),
    }
}

/// A batch run as the operator asks for it, by path: checked in the order
/// [`BatchRun::request`], [`BatchRun::check_cohort`], then run against the
/// store with [`BatchRun::run`]. The cohort is read, pseudonymised row by
/// row, filtered by the request's inclusion criteria, the standard
/// exclusions, the non-contact list, the trial's enrolled list and the
/// frequency cap; quotas are met per stratum (registry volunteers first),
/// SWAT arms balanced within strata and QA seeds added. The batch file and
/// its store records appear together or not at all.
pub struct BatchRun<'a> {
    /// The master key file (its path is recorded in the manifest).
    pub key: &'a Path,
    /// The identifiable cohort (a file: it is read twice).
    pub cohort: &'a Path,
    /// The study request (TOML).
    pub request: &'a Path,
    /// The output directory.
    pub out: &'a Path,
    /// Registry volunteers: a token file with its manifest, or a TLBF filter.
    pub registry: Option<&'a Path>,
    /// Registry volunteers found by `trialink link` ([`crate::links`]).
    pub registry_links: Option<&'a Path>,
    /// The trial's enrolled list: a token file with its manifest, or a TLBF filter.
    pub enrolled: Option<&'a Path>,
    /// The service's QA seed addresses.
    pub qa_seeds: Option<&'a Path>,
    /// Why the request's `as_of` may be far from today (recorded).
    pub backdate: Option<&'a str>,
    /// Dice threshold for suppression by CLK, in (0, 1].
    pub clk_threshold: f64,
    /// The batch a reminder batch follows up (id, file or directory).
    pub reminder_of: Option<&'a str>,
    /// The clock date (see [`today`]).
    pub today: Date,
}

impl BatchRun<'_> {
    /// The threshold checked and the request loaded and validated against
    /// the clock date; a reminder batch (asked for, or by the request)
    /// refuses registry volunteers.
    pub fn request(&self) -> Result<Validated, BatchError> {
        if !(self.clk_threshold > 0.0 && self.clk_threshold <= 1.0) {
            return Err(BatchError::ClkThreshold);
        }
        let v = crate::request::load(self.request, self.today).map_err(BatchError::Request)?;
        if self.reminder(&v) && (self.registry.is_some() || self.registry_links.is_some()) {
            return Err(BatchError::RegistryInReminder);
        }
        Ok(v)
    }

    fn reminder(&self, v: &Validated) -> bool {
        self.reminder_of.is_some() || v.request.reminder.is_some()
    }

    /// Refuse a cohort that is a pipe or device (it is read twice), before
    /// the store is locked. A missing file is reported where the cohort is
    /// opened, after the request's route is checked against the register.
    pub fn check_cohort(&self) -> Result<(), BatchError> {
        if self.cohort.as_os_str() != "-" && self.cohort.exists() {
            tabular::limited::check_regular(self.cohort, "cohort").map_err(|source| BatchError::Cohort {
                path: self.cohort.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    /// The options recorded in the manifest (paths only, never a secret).
    fn manifest_options(&self, store: &Store) -> BTreeMap<String, serde_json::Value> {
        let mut opts: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        let path = |p: &Path| serde_json::Value::from(p.display().to_string());
        opts.insert("store".into(), path(store.path()));
        for (k, p) in [
            ("key", self.key),
            ("cohort", self.cohort),
            ("request", self.request),
            ("out", self.out),
        ] {
            opts.insert(k.into(), path(p));
        }
        for (k, p) in [
            ("registry", self.registry),
            ("registry_links", self.registry_links),
            ("enrolled", self.enrolled),
            ("qa_seeds", self.qa_seeds),
        ] {
            if let Some(p) = p {
                opts.insert(k.into(), path(p));
            }
        }
        if let Some(b) = self.reminder_of {
            opts.insert("reminder_of".into(), b.into());
        }
        opts
    }

    /// Run the batch ([`run_batch`]) in `store` (bound to `master`): the
    /// cohort's CLK columns are checked against the non-contact list first,
    /// and an invitation batch for a study without a register entry is
    /// told as a note.
    pub fn run(
        &self,
        store: &mut Store,
        master: &Key,
        request: &Validated,
        dob_formats: DobFormats,
        progress: Option<Progress<'_>>,
        say: &mut dyn FnMut(tabular::Say),
    ) -> Result<BatchDone, BatchError> {
        invite::check_clk_columns(store, self.cohort)?;
        let reminder = self.reminder(request);
        if let Some(note) = (!reminder)
            .then(|| invite::unregistered_note(store, &request.request.study))
            .flatten()
        {
            say(tabular::Say::Note(note));
        }
        let batch = BatchOptions {
            master,
            cohort: self.cohort,
            request_path: self.request,
            request,
            out_dir: self.out,
            enrolled: self.enrolled,
            qa_seeds: self.qa_seeds,
            dob_formats,
            today: self.today,
            backdate: self.backdate,
            clk_threshold: self.clk_threshold,
            manifest_options: self.manifest_options(store),
            progress,
        };
        run_batch(
            store,
            batch,
            reminder,
            self.reminder_of,
            (self.registry, self.registry_links),
        )
    }
}
