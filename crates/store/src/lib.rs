//! The service store: one SQLite database holding, under
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

mod batches;
mod binding;
mod error;
pub mod figures;
#[cfg(any(fuzzing, test))]
pub mod fuzz_hooks;
mod lists;
mod noncontact;
pub mod purge;
pub mod rates;
pub mod register;
pub mod register_file;
mod releases;
pub mod reminders;
mod schema;
pub mod service;
mod uptake;

pub use batches::{BatchInfo, BatchKind, Invitation, NewBatch, QaSeed, Reconciled, StagedFile};
pub use error::{Result, StoreError};
pub use noncontact::{AddCounts, NonContactEntry};
pub use purge::{PurgeRecord, StudyKey};
pub use register::{
    Approvals, HistoryAction, HistoryRecord, LegalBasis, OutputRoute, RegisterChannel, RegisterRecord,
    RouteRefusal, StudyEntry, StudyStatus,
};
pub use reminders::{DayCounts, NewReminderBatch, Reminder, ReminderArm, ReminderCandidate, ResponseTiming};
pub use schema::SCHEMA_VERSION;
pub use uptake::{FoundInvitation, OutcomeEffect, ReturnEffect, UptakeStatus};

use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A 32-byte token (HMAC output); the only form in which a person appears.
pub type TokenBytes = [u8; 32];

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
