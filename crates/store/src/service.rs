//! How a command opens the service store: at the path given or the default
//! ([`crate::default_path`]), created on first use or required to exist,
//! telling the operator what opening repaired; and bound to the service's
//! master key ([`Store::bind_master`]).

use crate::{Store, StoreError};
use std::path::{Path, PathBuf};
use tabular::Say;

/// Why the store could not be opened for a command, or belongs to another
/// master key. Messages name the file and fingerprints, never a key.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The store must exist and does not.
    #[error("no store at {}", path.display())]
    Missing {
        /// The path tried.
        path: PathBuf,
    },
    /// The store could not be opened.
    #[error(transparent)]
    Open(StoreError),
    /// The recorded master key fingerprint could not be read.
    #[error("reading the store's master key fingerprint: {0}")]
    Fingerprint(StoreError),
    /// The store was first used with another master key.
    #[error("{} belongs to the master key with fingerprint {recorded}; the key given has fingerprint {given}", path.display())]
    OtherMaster {
        /// The store.
        path: PathBuf,
        /// The fingerprint recorded in the store.
        recorded: String,
        /// The fingerprint of the key given.
        given: String,
    },
}

impl OpenError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            OpenError::Missing { .. } => Some("check the --store path; `trialink study add` makes a new store"),
            OpenError::Open(e) => Some(e.open_hint()),
            OpenError::Fingerprint(_) => None,
            OpenError::OtherMaster { .. } => Some(
                "pass the service's master key (the one this store was first used with), or check the --store path",
            ),
        }
    }
}

/// Open the store at `path` (default: [`crate::default_path`]): created on
/// first use unless `existing`, when a missing file is an error. Batches an
/// interrupted run left behind are reconciled and told to `say`.
pub fn open(path: Option<&Path>, existing: bool, say: &mut dyn FnMut(Say)) -> Result<Store, OpenError> {
    let path = path.map(Path::to_path_buf).unwrap_or_else(crate::default_path);
    if existing && !path.exists() {
        return Err(OpenError::Missing { path });
    }
    let s = Store::open(&path).map_err(OpenError::Open)?;
    let r = s.reconciled();
    for b in &r.rolled_back {
        say(Say::Note(format!(
            "note: batch {b} was interrupted before its file was in place; it has been rolled back"
        )));
    }
    for b in &r.rolled_forward {
        say(Say::Note(format!(
            "note: batch {b} was interrupted after its file was in place; it has been completed"
        )));
    }
    Ok(s)
}

impl Store {
    /// Purge `study` ([`Store::study_purge`]) and tell it: the purge
    /// record with the fingerprint of the key secret destroyed
    /// ([`crate::register::text::purge_summary`]).
    pub fn study_purge_told(
        &mut self,
        study: &str,
        operator: &str,
        today: pseudonym::Date,
        override_reason: Option<&str>,
    ) -> crate::Result<String> {
        let fingerprint = self.study_key_fingerprint(study)?;
        let r = self.study_purge(study, operator, today, override_reason)?;
        Ok(crate::register::text::purge_summary(&r, fingerprint.as_deref()))
    }

    /// Refuse a master key other than the one the store was first used
    /// with (the first key is recorded): tokens under two master keys never
    /// match, so objections recorded under one would not suppress under
    /// the other.
    pub fn bind_master_key(&mut self, master: &pseudonym::Key) -> Result<(), OpenError> {
        let given = master.fingerprint().to_string();
        match self.bind_master(&given).map_err(OpenError::Fingerprint)? {
            None => Ok(()),
            Some(recorded) => Err(OpenError::OtherMaster {
                path: self.path().to_path_buf(),
                recorded,
                given,
            }),
        }
    }
}

/// The key of `scope` as `keys derive` gives it, with a note for the
/// operator: a `trial:<study>` key from `store` ([`Store::study_key`]: with
/// the study's key secret when the store holds one; a purged study is
/// refused), else the master key's derivation; a `trial:` key derived
/// without the store is noted (a registered study's files would be
/// refused).
pub fn scope_key(
    store: Option<&Store>,
    master: &pseudonym::Key,
    scope: &pseudonym::Scope,
) -> Result<(pseudonym::Key, Option<String>), StoreError> {
    let study = scope.as_str().strip_prefix("trial:");
    Ok(match (study, store) {
        (Some(study), Some(store)) => {
            let sk = store.study_key(master, study)?;
            let note = (!sk.destroyable).then(|| format!(
                "note: study {study} has no key secret in the store (unregistered, or registered after its first data): its key derives from the master key alone and cannot be destroyed by a purge"
            ));
            (sk.key, note)
        }
        (Some(_), None) => (
            master.derive(scope),
            Some("note: a study registered in the store has a key secret there; derive its key with --store, or its files will be refused".into()),
        ),
        (None, _) => (master.derive(scope), None),
    })
}
