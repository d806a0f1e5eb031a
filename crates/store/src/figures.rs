//! Figures for reports: aggregate counts over the store, never a token.
//!
//! * [`Store::uptake_detail`] — a study's invitations cross-classified by
//!   arm, registry match, quota stratum, age band, sex, ethnic group and
//!   region, with their returns and uptake, so that every uptake table of a
//!   study (by arm, registry, stratum and each demographic) is a margin of
//!   one set of counts and the tables agree exactly.
//! * [`Store::service_studies`], [`Store::invitation_frequency`],
//!   [`Store::service_exclusions`] — cross-study management information for
//!   the service evaluation report.
//!
//! QA seeds are never counted: they live in their own table.

use crate::{params, sql, Result, Store, UptakeStatus};
use std::collections::BTreeMap;

/// One cell of [`Store::uptake_detail`]: the invitations of a study sharing
/// every label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UptakeDetail {
    /// SWAT arm.
    pub arm: String,
    /// Registry volunteer?
    pub registry: bool,
    /// Quota stratum key, e.g. `sex=female|age_band=50-54`.
    pub stratum: String,
    /// Age band.
    pub age_band: String,
    /// Sex.
    pub sex: String,
    /// Ethnic group.
    pub ethnic_group: String,
    /// Region.
    pub region: String,
    /// Invitations.
    pub invited: u64,
    /// Returned to sender.
    pub returned: u64,
    /// With any uptake status.
    pub responded: u64,
    /// Ever randomised (enrolled).
    pub enrolled: u64,
    /// Ever consented or randomised ([`UptakeStatus::CONSENTED`]).
    pub consented: u64,
    /// Currently withdrawn.
    pub withdrawn: u64,
    /// Sent at least one reminder.
    pub reminded: u64,
}

impl UptakeDetail {
    /// Invited − returned.
    pub fn delivered(&self) -> u64 {
        self.invited - self.returned
    }

    /// The demographic label called `variable` (`age_band`, `sex`,
    /// `ethnic_group`, `region`), as quota strata name them.
    pub fn demographic(&self, variable: &str) -> Option<&str> {
        match variable {
            "age_band" => Some(&self.age_band),
            "sex" => Some(&self.sex),
            "ethnic_group" => Some(&self.ethnic_group),
            "region" => Some(&self.region),
            _ => None,
        }
    }
}

/// One study's line of the service evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyFigures {
    /// Study id.
    pub study: String,
    /// Invitations requested over the study's committed batches.
    pub requested: u64,
    /// Invitations sent.
    pub invited: u64,
    /// Returned to sender.
    pub returned: u64,
    /// With any uptake status.
    pub responded: u64,
    /// Ever randomised (enrolled).
    pub enrolled: u64,
    /// Date of the first invitation (`YYYY-MM-DD`), if any.
    pub first_invited: Option<String>,
    /// Days from the first invitation to the date the invitations sent
    /// reached the number requested (the study's target), if they have.
    pub days_to_target: Option<u64>,
}

/// Per invitation `i`: whether any uptake status was reported (responded).
pub(crate) const RESPONDED_SQL: &str =
    "sum(EXISTS (SELECT 1 FROM outcome_history h WHERE h.invitation_id = i.id))";

/// Per invitation `i`: ever randomised (enrolled).
pub(crate) fn enrolled_sql() -> String {
    format!(
        "sum(EXISTS (SELECT 1 FROM outcome_history h WHERE h.invitation_id = i.id AND h.status = '{}'))",
        UptakeStatus::Randomised.code()
    )
}

/// Per invitation `i`: ever consented or randomised
/// ([`UptakeStatus::CONSENTED`]), the one definition of "consented".
pub(crate) fn consented_sql() -> String {
    format!(
        "sum(EXISTS (SELECT 1 FROM outcome_history h WHERE h.invitation_id = i.id AND h.status IN ({})))",
        UptakeStatus::sql_list(&UptakeStatus::CONSENTED)
    )
}

/// Days between two `YYYY-MM-DD` dates (`None` if either is malformed).
fn days_between(from: &str, to: &str) -> Option<i64> {
    fn day_number(d: &str) -> Option<i64> {
        let mut it = d.get(..10)?.split('-');
        let y: i64 = it.next()?.parse().ok()?;
        let m: u32 = it.next()?.parse().ok()?;
        let dd: u32 = it.next()?.parse().ok()?;
        if !(1..=12).contains(&m) || !(1..=31).contains(&dd) {
            return None;
        }
        Some(tabular::calendar::days_from_civil(y, m, dd))
    }
    Some(day_number(to)? - day_number(from)?)
}

impl Store {
    /// A study's invitations by every label (see [`UptakeDetail`]), sorted
    /// by the labels.
    pub fn uptake_detail(&self, study: &str) -> Result<Vec<UptakeDetail>> {
        let e = |err| sql(self.path(), err);
        let mut st = self
            .connection()
            .prepare(&format!(
                "SELECT i.arm, i.registry, i.stratum, i.age_band, i.sex, i.ethnic_group, i.region,
                   count(*),
                   count(r.invitation_id),
                   {responded},
                   {enrolled},
                   {consented},
                   count(CASE WHEN o.status = '{withdrawn}' THEN 1 END),
                   sum(EXISTS (SELECT 1 FROM reminders m WHERE m.invitation_id = i.id))
                 FROM invitations i
                 LEFT JOIN returns r ON r.invitation_id = i.id
                 LEFT JOIN outcomes o ON o.invitation_id = i.id
                 WHERE i.study = ?1
                 GROUP BY 1, 2, 3, 4, 5, 6, 7
                 ORDER BY 1, 2, 3, 4, 5, 6, 7",
                responded = RESPONDED_SQL,
                enrolled = enrolled_sql(),
                consented = consented_sql(),
                withdrawn = UptakeStatus::Withdrawn.code(),
            ))
            .map_err(e)?;
        let rows = st
            .query_map(params![study], |r| {
                Ok(UptakeDetail {
                    arm: r.get(0)?,
                    registry: r.get::<_, i64>(1)? != 0,
                    stratum: r.get(2)?,
                    age_band: r.get(3)?,
                    sex: r.get(4)?,
                    ethnic_group: r.get(5)?,
                    region: r.get(6)?,
                    invited: r.get::<_, i64>(7)? as u64,
                    returned: r.get::<_, i64>(8)? as u64,
                    responded: r.get::<_, i64>(9)? as u64,
                    enrolled: r.get::<_, i64>(10)? as u64,
                    consented: r.get::<_, i64>(11)? as u64,
                    withdrawn: r.get::<_, i64>(12)? as u64,
                    reminded: r.get::<_, i64>(13)? as u64,
                })
            })
            .map_err(e)?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(e)
    }
}

impl Store {
    /// Every study with a committed batch, by study id: requested vs
    /// invited, returns, uptake, and the time from the first invitation to
    /// reaching the number requested.
    pub fn service_studies(&self) -> Result<Vec<StudyFigures>> {
        let e = |err| sql(self.path(), err);
        let c = self.connection();
        let mut requested: BTreeMap<String, u64> = BTreeMap::new();
        let mut st = c
            .prepare(
                "SELECT study, sum(coalesce(json_extract(summary, '$.requested'), 0))
                 FROM batches WHERE state = 'committed' AND kind = 'invitation' AND json_valid(summary)
                 GROUP BY study ORDER BY study",
            )
            .map_err(e)?;
        for row in st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(e)?
        {
            let (study, n) = row.map_err(e)?;
            requested.insert(study, n.max(0) as u64);
        }
        // invitations per study and day, for the date the target was reached
        let mut by_day: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
        let mut st = c
            .prepare(
                "SELECT study, substr(invited_on, 1, 10), count(*) FROM invitations
                 GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .map_err(e)?;
        for row in st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(e)?
        {
            let (study, day, n) = row.map_err(e)?;
            by_day.entry(study).or_default().push((day, n as u64));
        }
        let mut st = c
            .prepare(&format!(
                "SELECT i.study, count(*), count(r.invitation_id), {RESPONDED_SQL}, {}
                     FROM invitations i LEFT JOIN returns r ON r.invitation_id = i.id
                     GROUP BY 1 ORDER BY 1",
                enrolled_sql()
            ))
            .map_err(e)?;
        let mut counts: BTreeMap<String, [u64; 4]> = BTreeMap::new();
        for row in st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    [r.get::<_, i64>(1)?, r.get(2)?, r.get(3)?, r.get(4)?],
                ))
            })
            .map_err(e)?
        {
            let (study, v) = row.map_err(e)?;
            counts.insert(study, v.map(|x| x.max(0) as u64));
        }
        let studies: std::collections::BTreeSet<&String> = requested.keys().chain(counts.keys()).collect();
        Ok(studies
            .into_iter()
            .map(|study| {
                let req = requested.get(study).copied().unwrap_or(0);
                let [invited, returned, responded, enrolled] = counts.get(study).copied().unwrap_or_default();
                let days = by_day.get(study).map(Vec::as_slice).unwrap_or(&[]);
                let first_invited = days.first().map(|d| d.0.clone());
                let mut cumulative = 0;
                let reached = days.iter().find(|(_, n)| {
                    cumulative += n;
                    req > 0 && cumulative >= req
                });
                let days_to_target = match (&first_invited, reached) {
                    (Some(f), Some((d, _))) => days_between(f, d).and_then(|x| u64::try_from(x).ok()),
                    _ => None,
                };
                StudyFigures {
                    study: study.clone(),
                    requested: req,
                    invited,
                    returned,
                    responded,
                    enrolled,
                    first_invited,
                    days_to_target,
                }
            })
            .collect())
    }

    /// How many people (service tokens) received how many invitations,
    /// across every study: `(invitations, people)`, by invitations.
    pub fn invitation_frequency(&self) -> Result<Vec<(u64, u64)>> {
        let e = |err| sql(self.path(), err);
        let mut st = self
            .connection()
            .prepare(
                "SELECT n, count(*) FROM
                   (SELECT count(*) AS n FROM invitations GROUP BY service_token)
                 GROUP BY n ORDER BY n",
            )
            .map_err(e)?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })
            .map_err(e)?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(e)
    }

    /// Exclusions by reason over every committed batch of every study, from
    /// the selection summaries `invite` records (a person excluded from two
    /// batches counts twice): `(stage, count)` in funnel order. Only the
    /// exclusions proper: rows rejected, people outside the criteria, not
    /// selected (quota met) and invited are left out.
    pub fn service_exclusions(&self) -> Result<Vec<(String, u64)>> {
        let e = |err| sql(self.path(), err);
        let mut st = self
            .connection()
            .prepare(
                "SELECT json_extract(f.value, '$.stage') AS stage,
                        sum(coalesce(json_extract(f.value, '$.count'), 0)), min(f.key)
                 FROM batches b, json_each(b.summary, '$.funnel') f
                 WHERE b.state = 'committed' AND b.kind = 'invitation' AND json_valid(b.summary)
                   AND json_type(f.value, '$.stage') = 'text'
                   AND stage NOT IN ('rejected', 'not_eligible', 'not_selected', 'invited')
                 GROUP BY 1 ORDER BY 3, 1",
            )
            .map_err(e)?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })
            .map_err(e)?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_between_dates() {
        assert_eq!(days_between("2026-11-21", "2026-11-21"), Some(0));
        assert_eq!(days_between("2026-11-21", "2026-12-05"), Some(14));
        assert_eq!(days_between("2024-02-28", "2024-03-01"), Some(2));
        assert_eq!(days_between("2023-12-31", "2024-01-01"), Some(1));
        assert_eq!(days_between("2026-13-01", "2026-12-01"), None);
        assert_eq!(days_between("x", "2026-12-01"), None);
    }
}
