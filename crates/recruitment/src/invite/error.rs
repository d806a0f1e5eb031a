//! Why an invitation (or reminder) run stopped.

use super::MAX_AS_OF_DAYS;
use crate::request;
use std::path::PathBuf;

/// Why an invitation run stopped. Positions and names only, never values.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// The request file.
    #[error(transparent)]
    Request(#[from] request::RequestError),
    /// The store.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A registry or enrolled token list.
    #[error(transparent)]
    List(#[from] suppression::ListError),
    /// CSV input (cohort, QA seeds): missing columns, malformed CSV.
    #[error(transparent)]
    Tabular(#[from] tabular::TabularError),
    /// A registry links file that cannot be trusted to name this cohort's
    /// rows (see [`crate::links`]).
    #[error(transparent)]
    Links(#[from] crate::links::LinksError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An output already exists.
    #[error("{path} already exists; invitation batches are never overwritten")]
    OutputExists {
        /// The file.
        path: PathBuf,
    },
    /// The cohort must be a file (it is read twice).
    #[error("the cohort must be a file, not stdin: it is read twice so that contact details are held only for the people selected")]
    CohortFromStdin,
    /// The cohort changed between the passes.
    #[error("{path} changed while it was being read; run again on a stable copy")]
    CohortChanged {
        /// The cohort.
        path: String,
    },
    /// Too few usable QA seeds.
    #[error("{path}: {needed} QA seeds needed, but only {usable} rows have the {channel} contact details")]
    TooFewQaSeeds {
        /// The QA seeds file.
        path: String,
        /// Seeds requested.
        needed: u32,
        /// Rows usable.
        usable: u64,
        /// Channel.
        channel: &'static str,
    },
    /// The study's register entry refuses the route, the channel or the
    /// batch date (study closed, data sharing agreement expired, no
    /// section 251 support for routes 3 and 4).
    #[error("refused by the study register: {0}")]
    Route(#[from] store::RouteRefusal),
    /// A route other than the service mailer for a study with no register
    /// entry.
    #[error("study {study} has no entry in the study register, and output route {route} needs one")]
    NotRegistered {
        /// Study.
        study: String,
        /// The route asked for.
        route: store::OutputRoute,
    },
    /// Registry prioritisation or enrolled-list suppression for a study
    /// with no register entry, hence no recorded legal basis.
    #[error("study {study} has no entry in the study register, so no legal basis is recorded for {purpose}")]
    UnregisteredProcessing {
        /// Study.
        study: String,
        /// What was refused.
        purpose: &'static str,
    },
    /// Registry prioritisation or enrolled-list suppression for a study
    /// whose register entry records no legal basis for it.
    #[error("study {study}: the register records no legal basis ({key} = \"none\") for {purpose}")]
    NoBasis {
        /// Study.
        study: String,
        /// The register key (`approvals.registry_basis`, `approvals.enrolled_basis`).
        key: &'static str,
        /// What was refused.
        purpose: &'static str,
    },
    /// The as-of date is too far from the clock date without a reason.
    #[error("the request's as_of {as_of} is {days} days from today ({today}); more than {MAX_AS_OF_DAYS} needs --backdate REASON")]
    AsOfFarFromToday {
        /// The request's as-of date.
        as_of: String,
        /// The clock date.
        today: String,
        /// Days between them.
        days: i64,
    },
    /// Every row of the cohort was rejected: nothing to select from.
    #[error("{path}: every one of its {rows} rows was rejected (the first at line {line}: {code}); no batch was made")]
    AllRowsRejected {
        /// The cohort.
        path: String,
        /// Its data rows.
        rows: u64,
        /// The first rejected row's line.
        line: u64,
        /// Its reason code.
        code: &'static str,
    },
    /// A QA seed row carries the NHS number of a real person the run knows.
    #[error("{path}: line {line}: a QA seed carries the NHS number of someone {why}; QA seeds are the service's own test addresses, never a real person")]
    QaSeedIsAPerson {
        /// The QA seeds file.
        path: String,
        /// The row's line.
        line: u64,
        /// Which list the person is on.
        why: &'static str,
    },
    /// QA seeds requested but no file given.
    #[error("the request asks for {0} QA seeds but no QA seeds file was given")]
    NoQaSeedsFile(u32),
    /// The same study and seed already have a batch.
    #[error("study {study} already has a batch made with seed {seed} (batch {batch_id}, file {file}); a re-run would duplicate it")]
    AlreadyRun {
        /// Study.
        study: String,
        /// Seed.
        seed: u64,
        /// The batch.
        batch_id: i64,
        /// Its file.
        file: String,
    },
    /// The objections kept as CLKs could not be read from the store.
    #[error(transparent)]
    NoncontactClks(store::StoreError),
    /// The cohort lacks a column objections kept as CLKs are compared on.
    #[error("cohort {path}: the non-contact list holds {clks} objection(s) kept without an NHS number (CLKs), compared on name, date of birth and postcode, but the cohort has no {missing} column")]
    NoClkColumns {
        /// The cohort.
        path: String,
        /// Objections kept as CLKs.
        clks: usize,
        /// The missing columns, comma-separated.
        missing: String,
    },
    /// A reminder request (one with a `[reminder]` table) given to the
    /// invitation pipeline.
    #[error("the request has a [reminder] table: it asks for a reminder batch, not invitations")]
    ReminderRequest,
    /// A cohort row carrying an exclusion (deceased, opt-out or another
    /// flag, or an unreadable flag) whose NHS number cannot be read: the
    /// person it excludes cannot be known, so nobody is invited.
    #[error("{path}: line {line}, column {column}: {code}: the row carries an exclusion flag but its NHS number cannot be read, so the person it excludes is unknown ({rows} such rows in all); nobody is invited")]
    UnidentifiedExclusion {
        /// The cohort.
        path: String,
        /// The line of the first such row.
        line: u64,
        /// The NHS number column's name.
        column: String,
        /// Why the NHS number was rejected (`nhs_format`, ...).
        code: &'static str,
        /// How many such rows.
        rows: u64,
    },
}

impl InviteError {
    /// What to do about this error, for the command line.
    pub fn hint(&self) -> &'static str {
        match self {
        InviteError::AsOfFarFromToday { .. } => {
            "set as_of near today, or pass --backdate \"REASON\" (recorded); invitations are dated today either way"
        }
        InviteError::Request(_) => "fix the request file; fixtures/requests/example.toml documents every key",
        InviteError::List(_) => "ask the sender to pseudonymise with the key derived for that scope (`trialink keys derive`)",
        InviteError::OutputExists { .. } => "choose a new --out directory for each batch",
        InviteError::AlreadyRun { .. } => "use a new seed in the request for a new batch of this study",
        InviteError::NoQaSeedsFile(_) => "pass --qa-seeds FILE, or set qa_seeds = 0 in the request",
        InviteError::TooFewQaSeeds { .. } => "add QA seed rows with the channel's contact details",
        InviteError::AllRowsRejected { .. } => {
            "check the cohort's delimiter and header against its rows (a trailing comma on every row, a column added or dropped)"
        }
        InviteError::QaSeedIsAPerson { .. } => {
            "replace that row of the QA seeds file with one of the service's own test identities"
        }
        InviteError::CohortFromStdin => "save the cohort to a file and pass its path",
        InviteError::NoncontactClks(_) => "check the --store path",
        InviteError::NoClkColumns { .. } => {
            "add the given_name, family_name and postcode columns to the cohort extract, so those objectors can be recognised"
        }
        InviteError::UnidentifiedExclusion { .. } => {
            "correct the NHS number on that line (ten digits, spaces allowed, nothing else) or ask the data provider for a corrected extract, and run again; nothing was written"
        }
        InviteError::Tabular(_) => "check the cohort's header: it needs nhs_number, date_of_birth, the flag columns and the channel's contact columns",
        InviteError::Links(crate::links::LinksError::NotForCohort { .. }) => {
            "pseudonymise and link this --cohort file again: row numbers only mean something for the cohort they were made from"
        }
        InviteError::Links(_) => {
            "pass the matches file `trialink link` wrote (with its manifest), linked against the cohort pseudonymised under the registry key with --allow-blank and no --id-column"
        }
        InviteError::NotRegistered { .. } => {
            "register the study first: `trialink study add --operator NAME STUDY.toml` (see fixtures/studies/example.toml)"
        }
        InviteError::UnregisteredProcessing { .. } => {
            "register the study with its legal basis (`trialink study add`, approvals.registry_basis / enrolled_basis), or run without that list"
        }
        InviteError::NoBasis { .. } => {
            "record the legal basis in the study's register entry (`trialink study update`), or run without that list"
        }
        InviteError::Route(r) => match r {
            store::RouteRefusal::Closed { .. } => "a closed study cannot invite; `trialink study show ID` gives its history",
            store::RouteRefusal::RouteNotPermitted { .. } => {
                "use a permitted route in the request's `route`, or update the register entry (`trialink study update`)"
            }
            store::RouteRefusal::ChannelNotPermitted { .. } => {
                "use a permitted channel in the request, or update the register entry (`trialink study update`)"
            }
            store::RouteRefusal::DsaExpired { .. } => {
                "renew the data sharing agreement and record its new expiry with `trialink study update`"
            }
            store::RouteRefusal::NoSection251 { .. } => {
                "record section 251 support (section_251_reference) or consent in the register, or use route 1 or 2"
            }
        },
        InviteError::Store(store::StoreError::StudyPurged { .. }) => {
            "a purged study's data and key are destroyed; a new study needs a new id"
        }
        InviteError::Store(_) => "check the --store path; `trialink study list` shows the register",
        _ => "see the message above",
    }
    }
}
