//! The log of released report tables (for differencing checks and the
//! audit over everything published).

use crate::{now_utc, Result, Store};
use rusqlite::params;
use sha2::{Digest, Sha256};

impl Store {
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
