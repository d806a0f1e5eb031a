//! Reading and writing register entries and their history.

use super::*;
use crate::{now_utc, Store};
use rusqlite::{params, OptionalExtension};

const COLUMNS: &str = "study, organisation, ethics_reference, section_251_reference, dsa_reference, \
     dsa_expires, registry_basis, enrolled_basis, routes, channels, retain_until, status, version, \
     changed, operator, reminders";

fn parse_list<T: FromStr>(s: &str) -> rusqlite::Result<Vec<T>> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| x.parse::<T>().map_err(|_| corrupt("a known name in a list")))
        .collect()
}

fn corrupt(expected: &'static str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("study register: expected {expected}").into(),
    )
}

fn date_col(s: String) -> rusqlite::Result<Date> {
    Date::parse_iso(&s).ok_or_else(|| corrupt("a YYYY-MM-DD date"))
}

/// Read a register row laid out as [`COLUMNS`], starting at column `o`.
fn record(r: &rusqlite::Row<'_>, o: usize) -> rusqlite::Result<RegisterRecord> {
    let basis = |s: String| s.parse::<LegalBasis>().map_err(|_| corrupt("a legal basis"));
    let status = match r.get::<_, String>(o + 11)?.as_str() {
        "open" => StudyStatus::Open,
        "closed" => StudyStatus::Closed,
        _ => return Err(corrupt("a status")),
    };
    Ok(RegisterRecord {
        entry: StudyEntry {
            study: r.get(o)?,
            organisation: r.get(o + 1)?,
            approvals: Approvals {
                ethics_reference: r.get(o + 2)?,
                section_251_reference: r.get(o + 3)?,
                dsa_reference: r.get(o + 4)?,
                dsa_expires: date_col(r.get(o + 5)?)?,
                registry_basis: basis(r.get(o + 6)?)?,
                enrolled_basis: basis(r.get(o + 7)?)?,
            },
            routes: parse_list(&r.get::<_, String>(o + 8)?)?,
            channels: parse_list(&r.get::<_, String>(o + 9)?)?,
            retain_until: date_col(r.get(o + 10)?)?,
            reminders: r.get::<_, i64>(o + 15)? != 0,
        },
        status,
        version: r.get(o + 12)?,
        changed: r.get(o + 13)?,
        operator: r.get(o + 14)?,
    })
}

pub(crate) fn check_operator(operator: &str) -> Result<()> {
    if is_reference(operator) && operator.len() <= 100 {
        Ok(())
    } else {
        Err(invalid(
            "operator",
            "a non-empty name without leading/trailing spaces or control characters (at most 100 characters)",
        ))
    }
}

impl Store {
    fn write_record(&mut self, rec: &RegisterRecord, insert: bool) -> Result<()> {
        let e = &rec.entry;
        let a = &e.approvals;
        let sql = if insert {
            format!(
                "INSERT INTO study_register ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
            )
        } else {
            "UPDATE study_register SET organisation = ?2, ethics_reference = ?3,
                section_251_reference = ?4, dsa_reference = ?5, dsa_expires = ?6,
                registry_basis = ?7, enrolled_basis = ?8, routes = ?9, channels = ?10,
                retain_until = ?11, status = ?12, version = ?13, changed = ?14, operator = ?15,
                reminders = ?16
             WHERE study = ?1"
                .to_string()
        };
        self.connection()
            .execute(
                &sql,
                params![
                    e.study,
                    e.organisation,
                    a.ethics_reference,
                    a.section_251_reference,
                    a.dsa_reference,
                    a.dsa_expires.to_string(),
                    a.registry_basis.name(),
                    a.enrolled_basis.name(),
                    join(&e.routes),
                    join(&e.channels),
                    e.retain_until.to_string(),
                    rec.status.name(),
                    rec.version,
                    rec.changed,
                    rec.operator,
                    e.reminders as i64,
                ],
            )
            .map_err(|err| crate::sql(self.path(), err))?;
        Ok(())
    }

    /// Add a study to the register (version 1, open), recorded in its
    /// history as made by `operator` now.
    pub fn study_add(&mut self, mut entry: StudyEntry, operator: &str) -> Result<RegisterRecord> {
        check_operator(operator)?;
        entry.normalise()?;
        self.check_not_purged(&entry.study)?;
        if self.study_get(&entry.study)?.is_some() {
            return Err(StoreError::StudyRegistered { study: entry.study });
        }
        let rec = RegisterRecord {
            entry,
            status: StudyStatus::Open,
            version: 1,
            changed: now_utc(),
            operator: operator.to_string(),
        };
        // A study registered before any of its data reaches the store gets
        // a key secret (crate::purge), so that its key can be destroyed.
        let with_secret = !self.study_has_data(&rec.entry.study)?;
        self.begin()?;
        let r = self.write_record(&rec, true).and_then(|()| {
            if with_secret {
                self.create_study_secret(&rec.entry.study)
            } else {
                Ok(())
            }
        });
        match r {
            Ok(()) => self.commit()?,
            Err(e) => {
                let _ = self.rollback();
                return Err(e);
            }
        }
        Ok(rec)
    }

    /// Replace an open study's register entry (the next version), recorded
    /// in its history. A closed study cannot change.
    pub fn study_update(&mut self, mut entry: StudyEntry, operator: &str) -> Result<RegisterRecord> {
        check_operator(operator)?;
        entry.normalise()?;
        let old = self.open_record(&entry.study)?;
        let rec = RegisterRecord {
            entry,
            status: StudyStatus::Open,
            version: old.version + 1,
            changed: now_utc(),
            operator: operator.to_string(),
        };
        self.write_record(&rec, false)?;
        Ok(rec)
    }

    /// Close an open study (the next version), recorded in its history.
    pub fn study_close(&mut self, study: &str, operator: &str) -> Result<RegisterRecord> {
        check_operator(operator)?;
        let old = self.open_record(study)?;
        let rec = RegisterRecord {
            status: StudyStatus::Closed,
            version: old.version + 1,
            changed: now_utc(),
            operator: operator.to_string(),
            entry: old.entry,
        };
        self.write_record(&rec, false)?;
        Ok(rec)
    }

    fn open_record(&self, study: &str) -> Result<RegisterRecord> {
        match self.study_get(study)? {
            None => Err(StoreError::StudyNotRegistered {
                study: study.to_string(),
            }),
            Some(r) if r.status == StudyStatus::Closed => Err(StoreError::StudyClosed {
                study: study.to_string(),
            }),
            Some(r) => Ok(r),
        }
    }

    /// A study's current register entry, if it has one.
    pub fn study_get(&self, study: &str) -> Result<Option<RegisterRecord>> {
        self.connection()
            .query_row(
                &format!("SELECT {COLUMNS} FROM study_register WHERE study = ?1"),
                params![study],
                |r| record(r, 0),
            )
            .optional()
            .map_err(|err| crate::sql(self.path(), err))
    }

    /// Every register entry, by study id.
    pub fn study_list(&self) -> Result<Vec<RegisterRecord>> {
        let c = self.connection();
        let mut st = c
            .prepare(&format!("SELECT {COLUMNS} FROM study_register ORDER BY study"))
            .map_err(|err| crate::sql(self.path(), err))?;
        let rows = st
            .query_map([], |r| record(r, 0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|err| crate::sql(self.path(), err));
        rows
    }

    /// A study's register history, oldest first (empty for an unknown
    /// study).
    pub fn study_history(&self, study: &str) -> Result<Vec<HistoryRecord>> {
        let c = self.connection();
        let mut st = c
            .prepare(&format!(
                "SELECT seq, action, {COLUMNS} FROM study_register_history WHERE study = ?1 ORDER BY seq"
            ))
            .map_err(|err| crate::sql(self.path(), err))?;
        let rows = st
            .query_map(params![study], |r| {
                let action = match r.get::<_, String>(1)?.as_str() {
                    "add" => HistoryAction::Add,
                    "update" => HistoryAction::Update,
                    "close" => HistoryAction::Close,
                    _ => return Err(corrupt("a history action")),
                };
                Ok(HistoryRecord {
                    seq: r.get(0)?,
                    action,
                    record: record(r, 2)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|err| crate::sql(self.path(), err));
        rows
    }
}
