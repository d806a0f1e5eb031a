//! Recruitment by week from the store: the study's invitations, reminders,
//! first responses and enrolments by calendar day, gathered into weeks
//! counted from the first invitation (week 1 starts on its date), with the
//! study's targets from its batch summaries.

use crate::build::store_error;
use crate::build::ReportError;
use crate::data::{RecruitmentData, WeekRow};
use pseudonym::Date;
use std::collections::BTreeMap;

/// The week (0-based) of `day` counted from `start`; days before the start
/// fall in week 0.
fn week_of(start: Date, day: &str) -> Option<usize> {
    let d = Date::parse_iso(day.get(..10)?)?;
    Some((d.days_since_epoch() - start.days_since_epoch()).max(0) as usize / 7)
}

fn iso(d: Date) -> String {
    let mut b = [0u8; 10];
    d.write_iso(&mut b);
    String::from_utf8_lossy(&b).into_owned()
}

/// Gather days into weeks from the first invitation: `(day, [invited,
/// reminded, responded, enrolled])`. Days that are not dates are left out.
pub fn weeks(days: &[(String, [u64; 4])]) -> Vec<WeekRow> {
    let Some(start) = days
        .iter()
        .filter(|d| d.1[0] > 0)
        .filter_map(|d| Date::parse_iso(d.0.get(..10)?))
        .min()
    else {
        return Vec::new();
    };
    let mut counts: Vec<[u64; 4]> = Vec::new();
    for (day, c) in days {
        let Some(w) = week_of(start, day) else { continue };
        if counts.len() <= w {
            counts.resize(w + 1, [0; 4]);
        }
        for (t, v) in counts[w].iter_mut().zip(c) {
            *t += v;
        }
    }
    counts
        .iter()
        .enumerate()
        .filter_map(|(k, c)| {
            let first = Date::from_days_since_epoch(start.days_since_epoch() + 7 * k as i64)?;
            Some(WeekRow {
                week: iso(first),
                invited: c[0],
                reminded: c[1],
                responded: c[2],
                enrolled: c[3],
            })
        })
        .collect()
}

/// The study's targets from its batch summaries: invitations requested,
/// and (with response-adjusted quotas) the outcome aimed at.
fn targets(store: &store::Store, study: &str) -> Result<(u64, Option<(String, u64)>), ReportError> {
    let mut requested = 0;
    let mut outcome: Option<(String, u64)> = None;
    for (_, _, json) in store
        .batch_summaries(study)
        .map_err(store_error("reading batch summaries"))?
    {
        let v: serde_json::Value = serde_json::from_str(&json).map_err(|_| ReportError::BatchSummary)?;
        requested += v["requested"].as_u64().unwrap_or(0);
        if let (Some(what), Some(n)) = (
            v["allocation"]["outcome"].as_str(),
            v["allocation"]["requested"].as_u64(),
        ) {
            let e = outcome.get_or_insert_with(|| (what.to_string(), 0));
            e.1 += n;
        }
    }
    Ok((requested, outcome))
}

/// The study's recruitment by week, or `None` before its first invitation.
pub fn recruitment(store: &store::Store, study: &str) -> Result<Option<RecruitmentData>, ReportError> {
    // Invitations, first reminders, first responses and first enrolments
    // by day (reminders come from the store's reminder batches).
    let mut days: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for d in store
        .recruitment_by_day(study)
        .map_err(store_error("reading recruitment by day"))?
    {
        let e = days.entry(d.date).or_default();
        e[0] += d.invited;
        e[1] += d.reminded;
        e[2] += d.responded;
        e[3] += d.enrolled;
    }
    let days: Vec<(String, [u64; 4])> = days.into_iter().collect();
    let weeks = weeks(&days);
    if weeks.is_empty() {
        return Ok(None);
    }
    let (requested, outcome) = targets(store, study)?;
    Ok(Some(RecruitmentData {
        weeks,
        target_invitations: (requested > 0).then_some(requested),
        target_outcome_count: outcome.as_ref().map(|o| o.1),
        target_outcome: outcome.map(|o| o.0),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_gather_into_weeks_from_the_first_invitation() {
        let d = |s: &str, c: [u64; 4]| (s.to_string(), c);
        let w = weeks(&[
            d("2026-11-20", [0, 0, 1, 0]),
            d("2026-11-21", [100, 0, 0, 0]),
            d("2026-11-27", [0, 0, 5, 0]),
            d("2026-11-28", [0, 0, 7, 2]),
            d("2026-12-13", [0, 0, 0, 1]),
            d("garbage", [9, 9, 9, 9]),
        ]);
        let labels: Vec<&str> = w.iter().map(|r| r.week.as_str()).collect();
        assert_eq!(labels, ["2026-11-21", "2026-11-28", "2026-12-05", "2026-12-12"]);
        assert_eq!(
            (w[0].invited, w[0].responded),
            (100, 6),
            "an early response counts in week 1"
        );
        assert_eq!((w[1].responded, w[1].enrolled), (7, 2));
        assert_eq!((w[2].responded, w[2].enrolled), (0, 0), "an empty week is kept");
        assert_eq!(w[3].enrolled, 1);
        assert!(
            weeks(&[d("2026-11-20", [0, 0, 1, 0])]).is_empty(),
            "no invitation, no series"
        );
    }
}
