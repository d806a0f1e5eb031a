//! Studies known to the store and the per-person lists suppression reads:
//! everyone already invited to a study, the enrolled, and the people over
//! the invitation-frequency cap.

use crate::{now_utc, sql, Result, Store, StoreError, TokenBytes};
use rusqlite::{params, OptionalExtension};

impl Store {
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

    /// `service:store` `token_nhs` (the person) with at least `max`
    /// invitations (any study) on or after `since`, sorted. Invitations made
    /// before schema version 8 have no such token; they are counted by
    /// [`Store::capped_tokens`].
    pub fn capped_nhs_tokens(&self, since: &str, max: u32) -> Result<Vec<TokenBytes>> {
        self.token_column(
            "SELECT service_nhs_token FROM invitations INDEXED BY invitations_cap_nhs
             WHERE service_nhs_token IS NOT NULL AND invited_on >= ?1
             GROUP BY service_nhs_token HAVING count(*) >= ?2 ORDER BY service_nhs_token",
            params![since, max as i64],
        )
    }

    /// Study-scope `token_nhs` (the person) of everyone already invited to
    /// `study` since schema version 8, sorted.
    pub fn invited_study_nhs_tokens(&self, study: &str) -> Result<Vec<TokenBytes>> {
        self.token_column(
            "SELECT DISTINCT study_nhs_token FROM invitations INDEXED BY invitations_study_nhs_token
             WHERE study = ?1 AND study_nhs_token IS NOT NULL ORDER BY study_nhs_token",
            params![study],
        )
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
}
