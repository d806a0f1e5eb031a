//! Recruitment over time: invited, reminded, responded and enrolled by week.
//!
//! The table publishes each week's **new** counts, with a total row that is
//! the cumulative count to date (the same people as the uptake tables'
//! totals, declared shared when the counts agree). The cumulative series a
//! reader draws is the running sum of published weeks, so protecting the
//! weekly counts protects every difference between two points of the
//! series; across releases each week's counts are declared cumulative
//! (late feedback only adds to a week), except responses and enrolments,
//! which may move to an earlier week when an earlier-dated status arrives
//! and so may fall.

use super::{bad, share, spec, Links};
use crate::build::ReportError;
use crate::data::RecruitmentData;
use disclosure::{Table, TOTAL};

/// The table's columns.
pub const COLUMNS: [&str; 4] = ["invited", "reminded", "responded", "enrolled"];

/// The table id.
pub const TABLE: &str = "recruitment_by_week";

/// Recruitment by week (see the module documentation).
pub(super) fn table(rc: &RecruitmentData, links: &Links, out: &mut Vec<Table>) -> Result<(), ReportError> {
    if rc.weeks.is_empty() {
        return Ok(());
    }
    for (k, w) in rc.weeks.iter().enumerate() {
        if k > 0 && w.week <= rc.weeks[k - 1].week {
            return Err(bad(
                format!("recruitment.weeks[{k}].week"),
                "weeks in increasing order",
            ));
        }
    }
    let mut s = spec(
        TABLE,
        "Recruitment by week (new in each week; the total is the count to date)",
        "week starting",
        rc.weeks.iter().map(|w| w.week.clone()).collect(),
        &COLUMNS,
    );
    s.cumulative = true;
    s.may_fall = vec!["responded".into(), "enrolled".into()];
    // the counts to date a reader draws: they never fall between releases
    // (responses only appear or move earlier), and each column's stays
    // within another's where the data keep it so (declared only then: a
    // relation the counts break would only make the reader's program
    // infeasible)
    s.running_cumulative = true;
    s.running_order = running_order(rc);
    let total = |f: fn(&crate::data::WeekRow) -> u64| rc.weeks.iter().map(f).sum::<u64>();
    if let Some(t) = links.uptake_totals {
        for (c, value, known) in [
            ("invited", total(|w| w.invited), t[0]),
            ("responded", total(|w| w.responded), t[2]),
            ("enrolled", total(|w| w.enrolled), t[3]),
        ] {
            if value == known {
                share(&mut s, TOTAL, c, &format!("uptake:{c}"));
            }
        }
    }
    out.push(Table {
        spec: s,
        counts: rc
            .weeks
            .iter()
            .map(|w| vec![w.invited, w.reminded, w.responded, w.enrolled])
            .collect(),
    });
    Ok(())
}

/// Column pairs `[a, b]` whose counts to date keep `a ≤ b` at every week:
/// enrolled within responded (a first enrolment is a response), reminded
/// and responded within invited (reminders and responses follow the
/// invitation).
fn running_order(rc: &RecruitmentData) -> Vec<[String; 2]> {
    let field = |w: &crate::data::WeekRow, c: &str| match c {
        "invited" => w.invited,
        "reminded" => w.reminded,
        "responded" => w.responded,
        _ => w.enrolled,
    };
    [
        ("enrolled", "responded"),
        ("reminded", "invited"),
        ("responded", "invited"),
    ]
    .into_iter()
    .filter(|(a, b)| {
        let (mut sa, mut sb) = (0u64, 0u64);
        rc.weeks.iter().all(|w| {
            sa += field(w, a);
            sb += field(w, b);
            sa <= sb
        })
    })
    .map(|(a, b)| [a.to_string(), b.to_string()])
    .collect()
}

/// The targets shown with the series: invitations requested and, with
/// response-adjusted quotas, the enrolments (or responses) aimed at.
pub(super) fn targets(rc: &RecruitmentData) -> Vec<(String, u64)> {
    let mut t = Vec::new();
    if let Some(n) = rc.target_invitations {
        t.push(("invitations requested".to_string(), n));
    }
    if let (Some(n), Some(what)) = (rc.target_outcome_count, &rc.target_outcome) {
        t.push((format!("{what} target"), n));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::WeekRow;

    fn data(rows: &[[u64; 4]]) -> RecruitmentData {
        RecruitmentData {
            weeks: rows
                .iter()
                .enumerate()
                .map(|(k, r)| WeekRow {
                    week: format!("2026-11-{:02}", 2 + 7 * k),
                    invited: r[0],
                    reminded: r[1],
                    responded: r[2],
                    enrolled: r[3],
                })
                .collect(),
            target_invitations: None,
            target_outcome_count: None,
            target_outcome: None,
        }
    }

    #[test]
    fn the_running_order_is_declared_where_the_data_keep_it() {
        let pairs = |rows: &[[u64; 4]]| {
            let mut out = Vec::new();
            table(&data(rows), &Links::default(), &mut out).unwrap();
            assert!(out[0].spec.running_cumulative);
            out[0].spec.running_order.clone()
        };
        let all = pairs(&[[100, 0, 10, 2], [0, 50, 20, 8]]);
        assert_eq!(all.len(), 3, "{all:?}");
        // a response dated before its invitation (week 1 before week 2's
        // invitations): responded to date exceeds invited to date in week 1
        let early = pairs(&[[0, 0, 3, 0], [100, 10, 5, 1]]);
        assert_eq!(
            early,
            vec![
                ["enrolled".to_string(), "responded".to_string()],
                ["reminded".to_string(), "invited".to_string()]
            ]
        );
    }
}
