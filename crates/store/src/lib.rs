//! The service store (DESIGN §5): one SQLite database holding, under
//! `service:store`-scope and study-scope tokens and coarse demographics only,
//! the non-contact list, studies, invitation batches, invitations, QA seeds,
//! uptake outcomes (with history), enrolments, returns and the log of released
//! report tables; the study register with its append-only history
//! ([`register`]); study key secrets and the purge of a study's data
//! ([`purge`]); and the aggregate queries reports are built from
//! ([`figures`]).
//!
//! **Never** an NHS number, a date of birth, a name or a contact detail: the
//! types this crate accepts carry 32-byte tokens and coarse demographic labels
//! (age band, sex, ethnic group, region) and nothing else.
//!
//! # Location and creation
//!
//! The CLI takes the path with `--store`; [`default_path`] gives
//! `$TRIALINK_STORE` when set, else `trialink-store.sqlite` in the current
//! directory. [`Store::open`] creates the file (mode 0600 on Unix) and its
//! schema on first use, migrates an older schema forward inside a
//! transaction, and refuses a store written by a newer trialink
//! ([`StoreError::NewerSchema`]). The database runs in WAL mode with
//! `synchronous = FULL`, and one process holds it at a time (exclusive
//! locking mode): a second run on the same store fails with
//! [`StoreError::Busy`] instead of interleaving.
//!
//! # Batches and their files, atomically
//!
//! An invitation batch and its file exist together or not at all, whatever
//! the moment a run is killed:
//!
//! 1. the caller writes each output to a temporary file beside its final
//!    name and fsyncs it;
//! 2. [`Store::stage_batch`] inserts the batch (state `pending`, with the
//!    primary file's SHA-256 and the temp → final names), its invitations
//!    and QA seeds in one transaction;
//! 3. [`Store::publish_batch`] renames the secondary files, then the primary
//!    file, into place, fsyncs the directory, and marks the batch
//!    `committed`.
//!
//! [`Store::open`] reconciles: a pending batch whose primary file is in place
//! (with the recorded digest) is rolled forward (remaining renames, then
//! `committed`); any other pending batch is rolled back (its rows deleted,
//! its temporary and already-renamed secondary files removed). A kill before
//! step 2 commits leaves only a temporary file, which the next run with the
//! same output removes.
//!
//! Test hook: when `TRIALINK_FAULT_PAUSE_MS` is set, [`Store::publish_batch`]
//! sleeps that long before and after each rename, widening the windows a
//! kill test aims at (the CLI's `kill_at_random_points` test uses it). It
//! changes timing only, never what is written.

#![forbid(unsafe_code)]

pub mod figures;
#[cfg(any(fuzzing, test))]
pub mod fuzz_hooks;
pub mod purge;
pub mod rates;
pub mod register;
pub mod register_file;
mod schema;

pub use purge::{PurgeRecord, StudyKey};
pub use register::{
    Approvals, HistoryAction, HistoryRecord, LegalBasis, OutputRoute, RegisterChannel, RegisterRecord,
    RouteRefusal, StudyEntry, StudyStatus,
};
pub use schema::SCHEMA_VERSION;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A 32-byte token (HMAC output); the only form in which a person appears.
pub type TokenBytes = [u8; 32];

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

/// `Result` with a [`StoreError`].
pub type Result<T> = std::result::Result<T, StoreError>;

/// The default store path: `$TRIALINK_STORE`, else `trialink-store.sqlite`
/// in the current directory.
pub fn default_path() -> PathBuf {
    std::env::var_os("TRIALINK_STORE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("trialink-store.sqlite"))
}

/// Current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let date = pseudonym::Date::from_days_since_epoch(secs.div_euclid(86_400))
        .unwrap_or_else(|| pseudonym::Date::new(1970, 1, 1).expect("valid"));
    let s = secs.rem_euclid(86_400);
    let mut iso = [0u8; 10];
    date.write_iso(&mut iso);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        std::str::from_utf8(&iso).expect("ASCII"),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// SHA-256 of a file, lowercase hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Counts from [`Store::noncontact_add`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddCounts {
    /// Tokens newly added.
    pub added: u64,
    /// Tokens already present (in the store, or earlier in the same input).
    pub already_present: u64,
}

/// One non-contact entry: `token_nhs` under `service:store`, and the
/// person's `token_nhs_dob` when a usable date of birth was given (recorded,
/// never needed for a match; it lets an entry from before schema version 5
/// be recognised as re-keyed).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NonContactEntry {
    /// `token_nhs`.
    pub nhs: TokenBytes,
    /// `token_nhs_dob`, if the DOB was usable and its token is wanted (it
    /// is kept only while legacy entries remain to be re-keyed; see
    /// [`Store::noncontact_needs_dob_tokens`]).
    pub dob: Option<TokenBytes>,
    /// Whether the objection gave a usable DOB (recorded as `dob_given`).
    pub dob_given: bool,
}

/// A non-contact row as bound: the token, the DOB token kept, whether a DOB
/// was given.
type NonContactRow<'a> = (&'a [u8], Option<&'a [u8]>, Option<i64>);

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
}

/// What [`Store::open`] found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Pending batches finished (their file was in place).
    pub rolled_forward: Vec<i64>,
    /// Pending batches removed (their file was not in place).
    pub rolled_back: Vec<i64>,
}

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

/// One line of [`Store::uptake_figures`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UptakeRow {
    /// SWAT arm.
    pub arm: String,
    /// Registry volunteer?
    pub registry: bool,
    /// Quota stratum label.
    pub stratum: String,
    /// Invitations.
    pub invited: u64,
    /// Returned to sender.
    pub returned: u64,
    /// With any uptake status.
    pub responded: u64,
    /// Ever consented (or randomised).
    pub consented: u64,
    /// Ever randomised (enrolled).
    pub randomised: u64,
    /// Currently withdrawn.
    pub withdrawn: u64,
}

impl UptakeRow {
    /// Invited − returned.
    pub fn delivered(&self) -> u64 {
        self.invited - self.returned
    }
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

/// Rank of an uptake status for ordering same-day reports (higher = later
/// in the journey). Unknown statuses rank 0.
pub fn status_rank(status: &str) -> u8 {
    match status {
        "expressed_interest" => 1,
        "ineligible" => 2,
        "consented" => 3,
        "randomised" => 4,
        "withdrawn" => 5,
        _ => 0,
    }
}

/// The service store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    reconciled: Reconciled,
    fault_pause: Option<std::time::Duration>,
    tx_now: Option<String>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Open (creating on first use), migrate, lock and reconcile the store.
    pub fn open(path: &Path) -> Result<Store> {
        let existed = path.exists();
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sql(path, e))?;
        #[cfg(unix)]
        if !existed {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        let fault_pause = std::env::var("TRIALINK_FAULT_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(std::time::Duration::from_millis);
        let mut s = Store {
            conn,
            path: path.to_path_buf(),
            reconciled: Reconciled::default(),
            fault_pause,
            tx_now: None,
        };
        s.conn
            .busy_timeout(std::time::Duration::from_millis(2000))
            .map_err(|e| sql(path, e))?;
        s.pragmas()?;
        s.migrate()?;
        s.reconciled = s.reconcile()?;
        Ok(s)
    }

    fn pragmas(&mut self) -> Result<()> {
        let p = self.path.clone();
        let busy = |e: rusqlite::Error| -> StoreError {
            if let rusqlite::Error::SqliteFailure(f, _) = &e {
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) {
                    return StoreError::Busy { path: p.clone() };
                }
            }
            sql(&p, e)
        };
        self.conn
            .execute_batch(
                "PRAGMA locking_mode = EXCLUSIVE;
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA secure_delete = ON;
                 PRAGMA cache_size = -262144;
                 PRAGMA temp_store = MEMORY;",
            )
            .map_err(busy)?;
        // Take the exclusive lock now, so a second process fails at open.
        self.conn
            .execute_batch("BEGIN EXCLUSIVE; COMMIT;")
            .map_err(busy)?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<()> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| sql(&self.path, e))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        for v in version..SCHEMA_VERSION {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Exclusive)
                .map_err(|e| sql(&self.path, e))?;
            tx.execute_batch(schema::MIGRATIONS[v as usize])
                .map_err(|e| sql(&self.path, e))?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", v + 1))
                .map_err(|e| sql(&self.path, e))?;
            if v == 0 {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('created', ?1)",
                    params![now_utc()],
                )
                .map_err(|e| sql(&self.path, e))?;
            }
            tx.commit().map_err(|e| sql(&self.path, e))?;
        }
        Ok(())
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What opening this store repaired.
    pub fn reconciled(&self) -> &Reconciled {
        &self.reconciled
    }

    /// The schema version in the file.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| sql(&self.path, e))
    }

    /// The underlying connection, read-only use (reports build their tables
    /// with SQL over it).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn e(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |e| sql(&self.path, e)
    }

    // ----- non-contact list ------------------------------------------------

    /// Add `token_nhs` tokens (`service:store`) to the non-contact list in
    /// one transaction, each with the person's `token_nhs_dob` when their
    /// date of birth was given. Idempotent: tokens already present (or
    /// repeated in `entries`) are counted, not re-added.
    pub fn noncontact_add(&mut self, entries: &[NonContactEntry], source: &str) -> Result<AddCounts> {
        let mut sorted: Vec<NonContactEntry> = entries.to_vec();
        sorted.sort_unstable();
        let before = sorted.len();
        sorted.dedup_by(|a, b| {
            if a.nhs != b.nhs {
                return false;
            }
            if b.dob.is_none() {
                b.dob = a.dob;
            }
            true
        });
        let mut counts = AddCounts {
            added: 0,
            already_present: (before - sorted.len()) as u64,
        };
        let now = now_utc();
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| sql(&path, e))?;
        {
            // Legacy (`nhs_dob`) entries exist only in stores from before
            // schema version 5; only then is each DOB token looked up.
            let legacy: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM noncontact INDEXED BY noncontact_legacy WHERE kind = 'nhs_dob' AND rekeyed IS NULL)",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| sql(&path, e))?;
            let mut rekey = tx
                .prepare("UPDATE noncontact SET rekeyed = 1 WHERE token = ?1 AND kind = 'nhs_dob'")
                .map_err(|e| sql(&path, e))?;
            let mut st = tx
                .prepare(
                    "INSERT OR IGNORE INTO noncontact (token, added, source, kind, dob_token, dob_given) VALUES (?1, ?2, ?3, 'nhs', ?4, ?5)",
                )
                .map_err(|e| sql(&path, e))?;
            let mut dob = tx
                .prepare(
                    "UPDATE noncontact SET dob_token = COALESCE(dob_token, ?2), dob_given = 1 WHERE token = ?1 AND kind = 'nhs'",
                )
                .map_err(|e| sql(&path, e))?;
            // Rows go in CHUNK at a time through one multi-row statement
            // (per-statement overhead was a third of `noncontact add`); a
            // chunk where some rows were already present has the DOB update
            // applied to each of its rows, which is idempotent for the rows
            // just inserted.
            const CHUNK: usize = 64;
            let mut multi = tx
                .prepare(&format!(
                    "INSERT OR IGNORE INTO noncontact (token, added, source, kind, dob_token, dob_given) VALUES {}",
                    vec!["(?, ?, ?, 'nhs', ?, ?)"; CHUNK].join(", ")
                ))
                .map_err(|e| sql(&path, e))?;
            for chunk in sorted.chunks(CHUNK) {
                // Per row: the token, the DOB token kept, whether a DOB was given.
                let mut rows: Vec<NonContactRow> = Vec::with_capacity(chunk.len());
                for t in chunk {
                    let d = t.dob.as_ref().map(|d| &d[..]);
                    if let (true, Some(d)) = (legacy, d) {
                        rekey.execute(params![d]).map_err(|e| sql(&path, e))?;
                    }
                    // The DOB token is kept only while it can still re-key a
                    // legacy entry; otherwise only the fact that a DOB was given.
                    let kept = if legacy { d } else { None };
                    rows.push((&t.nhs[..], kept, (t.dob_given || d.is_some()).then_some(1)));
                }
                let values: Vec<&dyn rusqlite::ToSql> = rows
                    .iter()
                    .flat_map(|(nhs, kept, given)| {
                        [
                            nhs as &dyn rusqlite::ToSql,
                            &now as &dyn rusqlite::ToSql,
                            &source as &dyn rusqlite::ToSql,
                            kept as &dyn rusqlite::ToSql,
                            given as &dyn rusqlite::ToSql,
                        ]
                    })
                    .collect();
                let n = if chunk.len() == CHUNK {
                    multi.execute(values.as_slice()).map_err(|e| sql(&path, e))?
                } else {
                    let mut n = 0;
                    for row in values.chunks(5) {
                        n += st.execute(row).map_err(|e| sql(&path, e))?;
                    }
                    n
                };
                counts.added += n as u64;
                counts.already_present += (chunk.len() - n) as u64;
                if n < chunk.len() {
                    for t in chunk.iter().filter(|t| t.dob_given || t.dob.is_some()) {
                        let kept = if legacy {
                            t.dob.as_ref().map(|d| &d[..])
                        } else {
                            None
                        };
                        dob.execute(params![&t.nhs[..], kept])
                            .map_err(|e| sql(&path, e))?;
                    }
                }
            }
        }
        tx.commit().map_err(|e| sql(&path, e))?;
        Ok(counts)
    }

    /// Add CLKs (objections without a usable NHS number) to the non-contact
    /// list. Idempotent like [`Store::noncontact_add`].
    pub fn noncontact_add_clks(&mut self, clks: &[Vec<u8>], source: &str) -> Result<AddCounts> {
        let mut sorted: Vec<&Vec<u8>> = clks.iter().collect();
        sorted.sort_unstable();
        let before = sorted.len();
        sorted.dedup();
        let mut counts = AddCounts {
            added: 0,
            already_present: (before - sorted.len()) as u64,
        };
        let now = now_utc();
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| sql(&path, e))?;
        {
            let mut st = tx
                .prepare("INSERT OR IGNORE INTO noncontact_clk (clk, added, source) VALUES (?1, ?2, ?3)")
                .map_err(|e| sql(&path, e))?;
            for c in sorted {
                if st.execute(params![c, now, source]).map_err(|e| sql(&path, e))? == 1 {
                    counts.added += 1;
                } else {
                    counts.already_present += 1;
                }
            }
        }
        tx.commit().map_err(|e| sql(&path, e))?;
        Ok(counts)
    }

    /// Every `token_nhs` on the non-contact list, sorted (for binary search).
    pub fn noncontact_tokens(&self) -> Result<Vec<TokenBytes>> {
        self.token_column(
            "SELECT token FROM noncontact WHERE kind = 'nhs' ORDER BY token",
            params![],
        )
    }

    /// Entries from before schema version 5, keyed on `token_nhs_dob`, that
    /// no later ingest has re-keyed (marked `rekeyed` when an ingest records the
    /// same objection's `token_nhs` with this
    /// `token_nhs_dob`), sorted. They still suppress on NHS number + DOB.
    pub fn noncontact_legacy_tokens(&self) -> Result<Vec<TokenBytes>> {
        self.token_column(
            "SELECT token FROM noncontact INDEXED BY noncontact_legacy WHERE kind = 'nhs_dob' AND rekeyed IS NULL ORDER BY token",
            params![],
        )
    }

    /// Whether an ingest should compute DOB tokens: only while legacy
    /// entries remain that a DOB token could re-key.
    pub fn noncontact_needs_dob_tokens(&self) -> Result<bool> {
        Ok(self.noncontact_legacy_count()? > 0)
    }

    /// Number of [`Store::noncontact_legacy_tokens`].
    pub fn noncontact_legacy_count(&self) -> Result<u64> {
        self.count(
            "SELECT count(*) FROM noncontact INDEXED BY noncontact_legacy WHERE kind = 'nhs_dob' AND rekeyed IS NULL",
            params![],
        )
    }

    /// Every CLK on the non-contact list.
    pub fn noncontact_clks(&self) -> Result<Vec<Vec<u8>>> {
        let mut st = self
            .conn
            .prepare("SELECT clk FROM noncontact_clk ORDER BY clk")
            .map_err(self.e())?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(self.e())?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(self.e())
    }

    /// People on the non-contact list: `token_nhs` entries, legacy entries
    /// not yet re-keyed, and CLK entries.
    pub fn noncontact_count(&self) -> Result<u64> {
        Ok(
            // Every row, less the legacy ones (through their partial index)
            // that have been re-keyed: no scan that decodes each row.
            self.count("SELECT count(*) FROM noncontact", params![])?
                - self.count(
                    "SELECT count(*) FROM noncontact INDEXED BY noncontact_legacy WHERE kind = 'nhs_dob' AND rekeyed = 1",
                    params![],
                )?
                + self.count("SELECT count(*) FROM noncontact_clk", params![])?,
        )
    }

    fn token_column(&self, q: &str, p: &[&dyn rusqlite::ToSql]) -> Result<Vec<TokenBytes>> {
        let mut st = self.conn.prepare(q).map_err(self.e())?;
        let mut rows = st.query(p).map_err(self.e())?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(self.e())? {
            let b = r
                .get_ref(0)
                .map_err(self.e())?
                .as_blob()
                .map_err(|e| sql(&self.path, e.into()))?;
            if let Ok(t) = <TokenBytes>::try_from(b) {
                out.push(t);
            }
        }
        Ok(out)
    }

    fn count(&self, q: &str, p: &[&dyn rusqlite::ToSql]) -> Result<u64> {
        self.conn
            .query_row(q, p, |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(self.e())
    }

    // ----- studies -----------------------------------------------------------

    /// Record a study (first use) or check that its scope key fingerprint is
    /// the one recorded before.
    pub fn ensure_study(&mut self, study: &str, scope_fingerprint: &str) -> Result<()> {
        let found: Option<String> = self
            .conn
            .query_row(
                "SELECT scope_fingerprint FROM studies WHERE study = ?1",
                params![study],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.e())?;
        match found {
            Some(fp) if fp != scope_fingerprint => Err(StoreError::StudyKeyMismatch {
                study: study.to_string(),
                recorded: fp,
                given: scope_fingerprint.to_string(),
            }),
            Some(_) => Ok(()),
            None => {
                self.conn
                    .execute(
                        "INSERT INTO studies (study, created, scope_fingerprint) VALUES (?1, ?2, ?3)",
                        params![study, now_utc(), scope_fingerprint],
                    )
                    .map_err(self.e())?;
                Ok(())
            }
        }
    }

    /// Whether a study is known to the store.
    pub fn study_exists(&self, study: &str) -> Result<bool> {
        Ok(self.count("SELECT count(*) FROM studies WHERE study = ?1", params![study])? > 0)
    }

    // ----- suppression inputs --------------------------------------------------

    /// `service:store` tokens with at least `max` invitations (any study) on
    /// or after `since` (`YYYY-MM-DD`), sorted. One covering-index scan.
    pub fn capped_tokens(&self, since: &str, max: u32) -> Result<Vec<TokenBytes>> {
        self.token_column(
            "SELECT service_token FROM invitations INDEXED BY invitations_cap
             WHERE invited_on >= ?1 GROUP BY service_token HAVING count(*) >= ?2
             ORDER BY service_token",
            params![since, max as i64],
        )
    }

    /// Study-scope tokens of everyone already invited to `study`, sorted.
    pub fn invited_study_tokens(&self, study: &str) -> Result<Vec<TokenBytes>> {
        let mut v = self.token_column(
            "SELECT study_token FROM invitations WHERE study = ?1",
            params![study],
        )?;
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }

    /// Study-scope tokens recorded as enrolled in `study`, sorted.
    pub fn enrolled_tokens(&self, study: &str) -> Result<Vec<TokenBytes>> {
        self.token_column(
            "SELECT study_token FROM enrolled WHERE study = ?1 ORDER BY study_token",
            params![study],
        )
    }

    /// Record study-scope tokens as enrolled (idempotent). Returns how many
    /// were new.
    pub fn add_enrolled(&mut self, study: &str, tokens: &[TokenBytes], source: &str) -> Result<u64> {
        let now = now_utc();
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| sql(&path, e))?;
        let mut n = 0;
        {
            let mut st = tx
                .prepare(
                    "INSERT OR IGNORE INTO enrolled (study, study_token, added, source) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| sql(&path, e))?;
            for t in tokens {
                n += st
                    .execute(params![study, &t[..], now, source])
                    .map_err(|e| sql(&path, e))? as u64;
            }
        }
        tx.commit().map_err(|e| sql(&path, e))?;
        Ok(n)
    }

    // ----- batches -------------------------------------------------------------

    /// The batch of `study` made with `seed`, if any.
    pub fn find_batch(&self, study: &str, seed: u64) -> Result<Option<BatchInfo>> {
        self.conn
            .query_row(
                "SELECT batch_id, study, state, seed, channel, as_of, invitations, qa_seeds, file_path, file_digest
                 FROM batches WHERE study = ?1 AND seed = ?2",
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
            .prepare(
                "SELECT batch_id, study, state, seed, channel, as_of, invitations, qa_seeds, file_path, file_digest
                 FROM batches ORDER BY batch_id",
            )
            .map_err(self.e())?;
        let rows = st.query_map([], batch_info).map_err(self.e())?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(self.e())
    }

    /// Step 2: record a batch as `pending` with its invitations and QA
    /// seeds, in one transaction. Every staged file must already be written
    /// and fsynced at its temporary path.
    pub fn stage_batch(&mut self, b: &NewBatch<'_>) -> Result<i64> {
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
                                  invited_on, backdate_reason)
             VALUES (?1, 'pending', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
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
                b.backdate_reason
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
            let mut st = tx
                .prepare(
                    "INSERT INTO invitations (reference, study, batch_id, position, service_token, study_token,
                        arm, channel, template, registry, stratum, age_band, sex, ethnic_group, region, invited_on)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                )
                .map_err(e)?;
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
                    b.invited_on
                ])
                .map_err(e)?;
            }
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

    /// The time stamp for rows written now: fixed for the duration of a
    /// [`Store::begin`] transaction (one run, one time), else the clock.
    fn stamp(&self) -> String {
        self.tx_now.clone().unwrap_or_else(now_utc)
    }

    fn pause(&self) {
        if let Some(d) = self.fault_pause {
            std::thread::sleep(d);
        }
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
                        arm, channel, template, registry, stratum, age_band, sex, ethnic_group, region, invited_on)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'postal', ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
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
                    invited_on
                ])
                .map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok(batch_id)
    }

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

    /// The study-scope token of an invitation.
    pub fn study_token_of(&self, invitation_id: i64) -> Result<Option<TokenBytes>> {
        let b: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT study_token FROM invitations WHERE id = ?1")
            .and_then(|mut st| st.query_row(params![invitation_id], |r| r.get(0)).optional())
            .map_err(self.e())?;
        Ok(b.and_then(|b| <TokenBytes>::try_from(b.as_slice()).ok()))
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
        status: &str,
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
            .and_then(|mut st| st.execute(params![invitation_id, status, status_date, now, source]))
            .map_err(self.e())?;
        if n == 0 {
            return Ok(OutcomeEffect::AlreadyRecorded);
        }
        // One statement: insert, or update only when the new status is later
        // (date, then journey rank; `status_rank` in SQL).
        let n = self
            .conn
            .prepare_cached(
                "INSERT INTO outcomes (invitation_id, status, status_date, recorded) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (invitation_id) DO UPDATE SET status = excluded.status,
                   status_date = excluded.status_date, recorded = excluded.recorded
                 WHERE excluded.status_date > outcomes.status_date
                    OR (excluded.status_date = outcomes.status_date
                        AND ?5 > CASE outcomes.status WHEN 'expressed_interest' THEN 1 WHEN 'ineligible' THEN 2
                                 WHEN 'consented' THEN 3 WHEN 'randomised' THEN 4 WHEN 'withdrawn' THEN 5
                                 ELSE 0 END)",
            )
            .and_then(|mut st| st.execute(params![invitation_id, status, status_date, now, status_rank(status)]))
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

    /// Uptake figures of a study by arm × registry × stratum (QA seeds never
    /// included): invited, returned, responded (any status), consented
    /// (ever consented or randomised), randomised (ever), withdrawn (current
    /// status). Delivered is invited − returned.
    pub fn uptake_figures(&self, study: &str) -> Result<Vec<UptakeRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT i.arm, i.registry, i.stratum, count(*),
                   count(r.invitation_id),
                   sum(EXISTS (SELECT 1 FROM outcome_history h WHERE h.invitation_id = i.id)),
                   sum(EXISTS (SELECT 1 FROM outcome_history h WHERE h.invitation_id = i.id
                               AND h.status IN ('consented', 'randomised'))),
                   sum(EXISTS (SELECT 1 FROM outcome_history h WHERE h.invitation_id = i.id
                               AND h.status = 'randomised')),
                   count(CASE WHEN o.status = 'withdrawn' THEN 1 END)
                 FROM invitations i
                 LEFT JOIN returns r ON r.invitation_id = i.id
                 LEFT JOIN outcomes o ON o.invitation_id = i.id
                 WHERE i.study = ?1
                 GROUP BY i.arm, i.registry, i.stratum
                 ORDER BY i.arm, i.registry, i.stratum",
            )
            .map_err(self.e())?;
        let rows = st
            .query_map(params![study], |r| {
                Ok(UptakeRow {
                    arm: r.get(0)?,
                    registry: r.get::<_, i64>(1)? != 0,
                    stratum: r.get(2)?,
                    invited: r.get::<_, i64>(3)? as u64,
                    returned: r.get::<_, i64>(4)? as u64,
                    responded: r.get::<_, i64>(5)? as u64,
                    consented: r.get::<_, i64>(6)? as u64,
                    randomised: r.get::<_, i64>(7)? as u64,
                    withdrawn: r.get::<_, i64>(8)? as u64,
                })
            })
            .map_err(self.e())?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(self.e())
    }

    /// The selection summaries (JSON, counts only) of a study's committed
    /// batches: `(batch_id, as_of, summary)`, oldest first.
    pub fn batch_summaries(&self, study: &str) -> Result<Vec<(i64, String, String)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT batch_id, as_of, summary FROM batches WHERE study = ?1 AND state = 'committed'
                 ORDER BY batch_id",
            )
            .map_err(self.e())?;
        let rows = st
            .query_map(params![study], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(self.e())?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(self.e())
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

    // ----- releases -------------------------------------------------------------

    /// Log a released report table (for differencing checks).
    pub fn log_release(&mut self, study: &str, table_name: &str, policy: &str, content: &str) -> Result<i64> {
        let digest = hex::encode(Sha256::digest(content.as_bytes()));
        self.conn
            .execute(
                "INSERT INTO releases (study, table_name, released, policy, digest, content)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![study, table_name, now_utc(), policy, digest, content],
            )
            .map_err(self.e())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Earlier releases of a table of a study: `(released, policy, content)`, oldest first.
    pub fn releases(&self, study: &str, table_name: &str) -> Result<Vec<(String, String, String)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT released, policy, content FROM releases WHERE study = ?1 AND table_name = ?2
                 ORDER BY released, id",
            )
            .map_err(self.e())?;
        let rows = st
            .query_map(params![study, table_name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(self.e())?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(self.e())
    }
}

impl Store {
    /// Every release logged under any of `table_names`, of every study and
    /// series: `(study, table_name, released, content)`, oldest first.
    pub fn all_releases(&self, table_names: &[&str]) -> Result<Vec<(String, String, String, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT study, table_name, released, content FROM releases ORDER BY released, id")
            .map_err(self.e())?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(self.e())?;
        let all = rows
            .collect::<std::result::Result<Vec<(String, String, String, String)>, _>>()
            .map_err(self.e())?;
        Ok(all
            .into_iter()
            .filter(|r| table_names.contains(&r.1.as_str()))
            .collect())
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

fn batch_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<BatchInfo> {
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
    })
}

fn sql(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

fn remove_if_exists(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io {
            path: p.to_path_buf(),
            source,
        }),
    }
}

/// Rename `from` to `to` and fsync the destination directory.
fn rename_synced(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|source| StoreError::Io {
        path: to.to_path_buf(),
        source,
    })?;
    sync_dir(to)
}

/// fsync the directory holding `p` (so a rename survives a crash).
pub fn sync_dir(p: &Path) -> Result<()> {
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    #[cfg(unix)]
    {
        let f = std::fs::File::open(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        f.sync_all().map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests;
