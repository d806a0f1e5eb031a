//! Store errors: positions and names, never a value from the data.

use std::path::PathBuf;

/// Why a store operation failed. Messages name the store file and what was
/// expected; they never carry a token or any other value from the data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("store {path}: {source}")]
    Sqlite {
        /// The store file.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// Another process holds the store.
    #[error("store {path} is in use by another trialink run")]
    Busy {
        /// The store file.
        path: PathBuf,
    },
    /// The store was written by a newer trialink.
    #[error(
        "store {path} has schema version {found}, newer than this trialink understands ({supported}); upgrade trialink"
    )]
    NewerSchema {
        /// The store file.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// The newest version this build reads.
        supported: i64,
    },
    /// A file-system operation on a batch file failed.
    #[error("batch file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A study seen before with a different scope key.
    #[error(
        "study {study} is recorded under scope key {recorded}, but this run derives {given}; the master key differs from the one used before"
    )]
    StudyKeyMismatch {
        /// The study id.
        study: String,
        /// The fingerprint recorded in the store.
        recorded: String,
        /// The fingerprint of this run's key.
        given: String,
    },
    /// The same study and seed already have a batch.
    #[error("study {study} already has batch {batch_id} made with seed {seed} (file {file})")]
    DuplicateBatch {
        /// The study id.
        study: String,
        /// The seed.
        seed: u64,
        /// The existing batch.
        batch_id: i64,
        /// Its file.
        file: String,
    },
    /// A pending batch's file is in place but its digest differs.
    #[error("batch {batch_id}: file {path} does not match the digest recorded for it; it was changed after writing")]
    DigestMismatch {
        /// The batch.
        batch_id: i64,
        /// The file.
        path: PathBuf,
    },
    /// A batch id that is not pending.
    #[error("batch {batch_id} is not pending")]
    NotPending {
        /// The batch.
        batch_id: i64,
    },
    /// A study register entry (or the operator) is not valid.
    #[error("study register: {field}: expected {expected}")]
    InvalidEntry {
        /// The field, as named in the register's TOML file.
        field: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// Adding a study the register already holds.
    #[error("study {study} is already in the register")]
    StudyRegistered {
        /// The study id.
        study: String,
    },
    /// A study the register does not hold.
    #[error("study {study} is not in the register")]
    StudyNotRegistered {
        /// The study id.
        study: String,
    },
    /// Changing a closed study.
    #[error("study {study} is closed in the register; a closed entry cannot change")]
    StudyClosed {
        /// The study id.
        study: String,
    },
    /// A purged study: its person-level data and key secret are destroyed.
    #[error("study {study} was purged on {purged}; its data and key are destroyed and its id cannot be used again")]
    StudyPurged {
        /// The study id.
        study: String,
        /// When it was purged.
        purged: String,
    },
    /// A purge before the register's retention date without an override.
    #[error(
        "study {study} is to be retained until {retain_until}; purging it earlier needs an override reason"
    )]
    RetentionNotReached {
        /// The study id.
        study: String,
        /// The retention date.
        retain_until: pseudonym::Date,
    },
    /// A purge of a study with no register entry (hence no retention date)
    /// without an override.
    #[error(
        "study {study} has no register entry, hence no retention date; purging it needs an override reason"
    )]
    NoRetentionDate {
        /// The study id.
        study: String,
    },
    /// The operating system's random generator failed.
    #[error("the operating system's random generator failed")]
    Random,
}

impl StoreError {
    /// What to do about a register operation's error (`study add`,
    /// `update`, `close`, `show`, `list`, `purge`), for the command line.
    pub fn register_hint(&self) -> &'static str {
        match self {
            StoreError::StudyRegistered { .. } => "use `trialink study update` to change an existing entry",
            StoreError::StudyNotRegistered { .. } => {
                "`trialink study list` shows the studies in the register; add one with `trialink study add`"
            }
            StoreError::StudyClosed { .. } => {
                "a closed study's entry is final; its history is shown by `trialink study show`"
            }
            StoreError::InvalidEntry { .. } => "see fixtures/studies/example.toml for the expected form",
            StoreError::RetentionNotReached { .. } | StoreError::NoRetentionDate { .. } => {
                "wait for the retention date, or pass --override REASON (the reason is recorded)"
            }
            StoreError::StudyPurged { .. } => {
                "`trialink study show ID` gives the purge record; use a new study id"
            }
            _ => "check the --store path and that the file is a trialink store",
        }
    }

    /// What to do when the store cannot be opened, for the command line.
    pub fn open_hint(&self) -> &'static str {
        match self {
            StoreError::Busy { .. } => "wait for the other run to finish, then try again",
            StoreError::NewerSchema { .. } => {
                "use the trialink version that wrote this store, or a newer one"
            }
            _ => "check the --store path and that the file is a trialink store",
        }
    }
}

/// `Result` with a [`StoreError`].
pub type Result<T> = std::result::Result<T, StoreError>;
