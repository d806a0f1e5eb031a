//! The non-contact list: `token_nhs` entries (the NHS number alone) under
//! `service:store`, legacy `token_nhs_dob` entries from before schema
//! version 5 until re-keyed, and CLKs of objections without a usable NHS
//! number.

use crate::{now_utc, sql, Result, Store, TokenBytes};
use rusqlite::params;

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

impl Store {
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
}
