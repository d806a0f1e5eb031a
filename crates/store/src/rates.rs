//! Uptake history for response-adjusted allocation, and the dated events
//! behind recruitment over time: aggregate counts, never a token.
//!
//! * [`Store::uptake_history`] — invitations of every study made on or
//!   before a date, by coarse demographics and registry match, with how
//!   many responded and enrolled: the evidence a new study's
//!   response-adjusted quotas estimate their rates from.
//!
//! One study's invitations, first reminders, first responses and first
//! enrolments by calendar day (the weekly recruitment series' source) are
//! [`Store::recruitment_by_day`].

use crate::{params, sql, Result, Store};

/// One stratum label and registry match of a study's own invitations
/// ([`Store::study_strata_so_far`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StratumSoFar {
    /// The stratum label recorded with the invitations.
    pub stratum: String,
    /// Whether they matched the registry (volunteers).
    pub registry: bool,
    /// Invitations made.
    pub invited: u64,
    /// With any outcome recorded.
    pub responded: u64,
    /// Randomised.
    pub enrolled: u64,
    /// Made after the history cut-off and still without an outcome.
    pub pending: u64,
}

/// Invitations sharing every demographic label, over the studies of the
/// history, with their uptake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCell {
    /// Age band at the invitation's as-of date.
    pub age_band: String,
    /// Sex.
    pub sex: String,
    /// Ethnic group.
    pub ethnic_group: String,
    /// Region.
    pub region: String,
    /// Registry volunteer?
    pub registry: bool,
    /// Invitations.
    pub invited: u64,
    /// With any uptake status.
    pub responded: u64,
    /// Ever randomised (enrolled).
    pub enrolled: u64,
}

impl HistoryCell {
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

impl Store {
    /// A study's own invitations by recorded stratum label and registry
    /// match: invited, with any outcome, randomised (the same "enrolled" as
    /// [`Store::uptake_history`]), and still awaiting an outcome having been
    /// made after `invited_by` (`YYYY-MM-DD`). QA seeds are never counted.
    pub fn study_strata_so_far(&self, study: &str, invited_by: &str) -> Result<Vec<StratumSoFar>> {
        let e = |err| sql(self.path(), err);
        let mut st = self
            .connection()
            .prepare(
                "SELECT i.stratum, i.registry, count(*),
                   sum(EXISTS (SELECT 1 FROM outcome_history h WHERE h.invitation_id = i.id)),
                   sum(EXISTS (SELECT 1 FROM outcome_history h WHERE h.invitation_id = i.id
                               AND h.status = 'randomised')),
                   sum(substr(i.invited_on, 1, 10) > ?2
                       AND NOT EXISTS (SELECT 1 FROM outcome_history h WHERE h.invitation_id = i.id))
                 FROM invitations i
                 WHERE i.study = ?1
                 GROUP BY 1, 2",
            )
            .map_err(e)?;
        let rows = st
            .query_map(params![study, invited_by], |r| {
                let n = |i: usize| r.get::<_, Option<i64>>(i).map(|x| x.unwrap_or(0).max(0) as u64);
                Ok(StratumSoFar {
                    stratum: r.get(0)?,
                    registry: r.get::<_, i64>(1)? != 0,
                    invited: n(2)?,
                    responded: n(3)?,
                    enrolled: n(4)?,
                    pending: n(5)?,
                })
            })
            .map_err(e)?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(e)
    }

    /// Invitations of every study made on or before `invited_by`
    /// (`YYYY-MM-DD`; invitations too recent to have feedback would read as
    /// non-response), by age band, sex, ethnic group, region and registry
    /// match, with responses and enrolments, sorted by the labels. QA seeds
    /// are never counted.
    pub fn uptake_history(&self, invited_by: &str) -> Result<Vec<HistoryCell>> {
        let e = |err| sql(self.path(), err);
        let mut st = self
            .connection()
            .prepare(
                "SELECT i.age_band, i.sex, i.ethnic_group, i.region, i.registry, count(*),
                   sum(EXISTS (SELECT 1 FROM outcome_history h WHERE h.invitation_id = i.id)),
                   sum(EXISTS (SELECT 1 FROM outcome_history h WHERE h.invitation_id = i.id
                               AND h.status = 'randomised'))
                 FROM invitations i
                 WHERE substr(i.invited_on, 1, 10) <= ?1
                 GROUP BY 1, 2, 3, 4, 5
                 ORDER BY 1, 2, 3, 4, 5",
            )
            .map_err(e)?;
        let rows = st
            .query_map(params![invited_by], |r| {
                Ok(HistoryCell {
                    age_band: r.get(0)?,
                    sex: r.get(1)?,
                    ethnic_group: r.get(2)?,
                    region: r.get(3)?,
                    registry: r.get::<_, i64>(4)? != 0,
                    invited: r.get::<_, i64>(5)?.max(0) as u64,
                    responded: r.get::<_, i64>(6)?.max(0) as u64,
                    enrolled: r.get::<_, i64>(7)?.max(0) as u64,
                })
            })
            .map_err(e)?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(e)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Invitation, NewBatch, StagedFile, Store, UptakeStatus};

    fn inv(i: u32, sex: &str, registry: bool) -> Invitation {
        let mut t = [0u8; 32];
        t[..4].copy_from_slice(&i.to_be_bytes());
        let mut u = t;
        u[31] = 1;
        Invitation {
            reference: format!("00000000-0000-4000-8000-{i:012}"),
            position: i,
            service_token: t,
            study_token: u,
            service_nhs_token: None,
            study_nhs_token: None,
            arm: "A".into(),
            template: "letter-a".into(),
            registry,
            stratum: "all".into(),
            age_band: "50-54".into(),
            sex: sex.into(),
            ethnic_group: "White".into(),
            region: "London".into(),
        }
    }

    fn add_batch(s: &mut Store, dir: &std::path::Path, study: &str, on: &str, invs: &[Invitation]) {
        let temp = dir.join(format!(".{study}.tmp"));
        std::fs::write(&temp, "x").unwrap();
        let files = [StagedFile {
            temp,
            final_path: dir.join(format!("{study}.csv")),
            primary: true,
        }];
        s.ensure_study(study, "fp").unwrap();
        let id = s
            .stage_batch(&NewBatch {
                study,
                seed: 1,
                request_digest: "r",
                channel: "postal",
                route: "service-mailer",
                as_of: on,
                invited_on: on,
                backdate_reason: None,
                files: &files,
                invitations: invs,
                qa_seeds: &[],
                summary_json: "{}",
            })
            .unwrap();
        s.publish_batch(id).unwrap();
    }

    fn id_of(s: &Store, reference: &str) -> i64 {
        s.connection()
            .query_row(
                "SELECT id FROM invitations WHERE reference = ?1",
                [reference],
                |r| r.get(0),
            )
            .unwrap()
    }

    #[test]
    fn history_and_days_count_people_once() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(&d.path().join("s.sqlite")).unwrap();
        let a: Vec<Invitation> = (1..=6)
            .map(|i| inv(i, if i % 2 == 0 { "male" } else { "female" }, i == 1))
            .collect();
        add_batch(&mut s, d.path(), "alpha", "2026-01-05", &a);
        let b: Vec<Invitation> = (7..=8).map(|i| inv(i, "female", false)).collect();
        add_batch(&mut s, d.path(), "beta", "2026-03-01", &b);
        // invitation 1: interest then randomised; 2: interest twice (two dates); 7 (too recent): randomised
        for (r, st, date) in [
            (1, UptakeStatus::ExpressedInterest, "2026-01-10"),
            (1, UptakeStatus::Randomised, "2026-01-20"),
            (2, UptakeStatus::ExpressedInterest, "2026-01-15"),
            (2, UptakeStatus::Consented, "2026-01-13"),
            (7, UptakeStatus::Randomised, "2026-03-05"),
        ] {
            let id = id_of(&s, &format!("00000000-0000-4000-8000-{r:012}"));
            s.record_outcome(id, st, date, "t").unwrap();
        }
        let h = s.uptake_history("2026-02-01").unwrap();
        let invited: u64 = h.iter().map(|c| c.invited).sum();
        assert_eq!(invited, 6, "beta's invitations are after the date");
        let f: Vec<_> = h.iter().filter(|c| c.sex == "female").collect();
        assert_eq!(f.len(), 2, "registry and not");
        let reg = f.iter().find(|c| c.registry).unwrap();
        assert_eq!((reg.invited, reg.responded, reg.enrolled), (1, 1, 1));
        let m = h.iter().find(|c| c.sex == "male").unwrap();
        assert_eq!((m.invited, m.responded, m.enrolled), (3, 1, 0));
        assert_eq!(m.demographic("sex"), Some("male"));
        assert_eq!(m.demographic("arm"), None);
        assert_eq!(
            s.uptake_history("2026-12-31")
                .unwrap()
                .iter()
                .map(|c| c.enrolled)
                .sum::<u64>(),
            2
        );

        let days = s.recruitment_by_day("alpha").unwrap();
        let dates: Vec<&str> = days.iter().map(|x| x.date.as_str()).collect();
        assert_eq!(dates, ["2026-01-05", "2026-01-10", "2026-01-13", "2026-01-20"]);
        assert_eq!(days[0].invited, 6);
        assert_eq!(
            (days[1].responded, days[2].responded),
            (1, 1),
            "earliest status per person"
        );
        assert_eq!(days[3].enrolled, 1);
        assert_eq!(days.iter().map(|x| x.responded).sum::<u64>(), 2);
        assert!(s.recruitment_by_day("nobody").unwrap().is_empty());
    }
}
