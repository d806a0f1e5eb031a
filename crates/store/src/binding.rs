//! The store's master key: every token in the store (non-contact list,
//! invitations, uptake) is keyed by a scope key derived from one master
//! key, so a store used with two master keys splits into halves that never
//! match. The first command that opens the store with a master key records
//! that key's fingerprint (in `meta`, key `master_fingerprint`); every later
//! command compares its key's fingerprint with it.

use crate::{Result, Store};
use rusqlite::{params, OptionalExtension};

const KEY: &str = "master_fingerprint";

impl Store {
    /// Bind the store to the master key with fingerprint `fingerprint`:
    /// record it when the store has none, and return `Some(recorded)` when
    /// the store is bound to another key (nothing changed), else `None`.
    pub fn bind_master(&mut self, fingerprint: &str) -> Result<Option<String>> {
        let recorded = self.master_fingerprint()?;
        match recorded {
            Some(r) if r == fingerprint => Ok(None),
            Some(r) => Ok(Some(r)),
            None => {
                self.conn
                    .execute(
                        "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                        params![KEY, fingerprint],
                    )
                    .map_err(self.e())?;
                Ok(None)
            }
        }
    }

    /// The fingerprint of the master key the store is bound to, if any.
    pub fn master_fingerprint(&self) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![KEY], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.e())
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;

    #[test]
    fn the_first_key_binds_and_another_is_refused_across_reopens() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.sqlite");
        {
            let mut s = Store::open(&p).unwrap();
            assert_eq!(s.master_fingerprint().unwrap(), None);
            assert_eq!(s.bind_master("aaaa").unwrap(), None);
            assert_eq!(s.bind_master("aaaa").unwrap(), None);
        }
        let mut s = Store::open(&p).unwrap();
        assert_eq!(s.bind_master("bbbb").unwrap().as_deref(), Some("aaaa"));
        assert_eq!(s.master_fingerprint().unwrap().as_deref(), Some("aaaa"));
    }
}
