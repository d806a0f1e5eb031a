//! The SWAT and returns tables: enrolment by arm among delivered
//! invitations, and delivery and returns to sender by reason.

use super::{bad, share, spec, Links};
use crate::build::ReportError;
use crate::data::{ReturnsData, SwatData};
use disclosure::{Table, TOTAL};

/// Enrolled vs not enrolled by arm (tied to the uptake-by-arm table
/// through shared cells when their counts agree).
pub(super) fn swat_table(sw: &SwatData, links: &Links, out: &mut Vec<Table>) -> Result<(), ReportError> {
    if !sw.arms.iter().any(|a| a.arm == sw.control) {
        return Err(bad("swat.control", "the name of one of swat.arms"));
    }
    for (k, a) in sw.arms.iter().enumerate() {
        if a.enrolled > a.delivered {
            return Err(bad(format!("swat.arms[{k}].enrolled"), "at most delivered"));
        }
    }
    let rows = sw.arms.iter().map(|a| a.arm.clone()).collect();
    let mut s = spec(
        "swat_outcome",
        "Enrolment by SWAT arm (delivered invitations)",
        "arm",
        rows,
        &["enrolled", "not enrolled"],
    );
    s.total_column = true;
    // not cumulative: "not enrolled" falls as people enrol. Its cells
    // are tied to the cumulative uptake-by-arm table through shared keys.
    let linked = sw.arms.len() == links.arm_counts.len()
        && sw
            .arms
            .iter()
            .all(|a| links.arm_counts.get(&a.arm) == Some(&(a.delivered, a.enrolled)));
    if linked {
        for a in &sw.arms {
            share(&mut s, &a.arm, "enrolled", &format!("arm:{}:enrolled", a.arm));
            share(&mut s, &a.arm, TOTAL, &format!("arm:{}:delivered", a.arm));
        }
        if links.uptake_totals.is_some() {
            share(&mut s, TOTAL, "enrolled", "uptake:enrolled");
            share(&mut s, TOTAL, TOTAL, "uptake:delivered");
        }
    }
    out.push(Table {
        spec: s,
        counts: sw
            .arms
            .iter()
            .map(|a| vec![a.enrolled, a.delivered - a.enrolled])
            .collect(),
    });
    Ok(())
}

/// Delivered and returned by reason (cumulative; delivered may fall).
pub(super) fn returns_table(
    rt: &ReturnsData,
    links: &Links,
    out: &mut Vec<Table>,
) -> Result<(), ReportError> {
    let returned: u64 = rt.by_reason.iter().map(|r| r.count).sum();
    if returned > rt.invited {
        return Err(bad("returns.invited", "at least the sum of returns by reason"));
    }
    let mut rows = vec!["delivered".to_string()];
    rows.extend(rt.by_reason.iter().map(|r| format!("returned: {}", r.reason)));
    let mut counts = vec![vec![rt.invited - returned]];
    counts.extend(rt.by_reason.iter().map(|r| vec![r.count]));
    let mut s = spec(
        "returns_by_reason",
        "Delivery and returns to sender",
        "outcome",
        rows,
        &["invitations"],
    );
    s.cumulative = true;
    s.may_fall.push("delivered".into());
    if let Some(t) = links.uptake_totals {
        if t[0] == rt.invited && t[1] == rt.invited - returned {
            share(&mut s, TOTAL, "invitations", "uptake:invited");
            share(&mut s, "delivered", "invitations", "uptake:delivered");
        }
    }
    out.push(Table { spec: s, counts });
    Ok(())
}
