//! The uptake report's tables: invited, delivered, responded and enrolled
//! by arm, registry match, quota stratum and each demographic variable.

use super::{bad, share, slug, spec, Links};
use crate::build::ReportError;
use crate::data::{Breakdown, UptakeData};
use disclosure::{Table, TOTAL};

/// The uptake columns, nested in this order.
pub(super) const UPTAKE: [&str; 4] = ["invited", "delivered", "responded", "enrolled"];

/// One table per breakdown, linked: grand totals shared when they agree,
/// strata and arms shared with the selection and SWAT tables, groups that
/// are unions of another breakdown's groups declared as row sums.
pub(super) fn tables(up: &UptakeData, links: &mut Links, out: &mut Vec<Table>) -> Result<(), ReportError> {
    for (b, bd) in up.breakdowns.iter().enumerate() {
        for (k, r) in bd.rows.iter().enumerate() {
            if r.delivered > r.invited || r.responded > r.invited || r.enrolled > r.invited {
                return Err(bad(
                    format!("uptake.breakdowns[{b}].rows[{k}]"),
                    "delivered, responded and enrolled each at most invited",
                ));
            }
        }
        let rows = bd.rows.iter().map(|r| r.group.clone()).collect();
        let id = format!("uptake_by_{}", slug(&bd.variable));
        let mut s = spec(
            &id,
            &format!("Uptake by {}", bd.variable),
            &bd.variable,
            rows,
            &UPTAKE,
        );
        s.cumulative = true;
        // delivered falls as returns to sender come in
        s.may_fall.push("delivered".into());
        for c in ["delivered", "responded", "enrolled"] {
            s.column_order.push([c.into(), "invited".into()]);
        }
        let totals = [
            bd.rows.iter().map(|r| r.invited).sum(),
            bd.rows.iter().map(|r| r.delivered).sum(),
            bd.rows.iter().map(|r| r.responded).sum(),
            bd.rows.iter().map(|r| r.enrolled).sum(),
        ];
        if links.uptake_totals.is_none() {
            links.uptake_totals = Some(totals);
        }
        if links.uptake_totals == Some(totals) {
            for c in UPTAKE {
                share(&mut s, TOTAL, c, &format!("uptake:{c}"));
            }
        }
        if bd.variable == "stratum" {
            for r in &bd.rows {
                share(
                    &mut s,
                    &r.group,
                    "invited",
                    &format!("stratum:{}:invited", r.group),
                );
            }
        }
        row_sums(up, b, bd, &mut s)?;
        if bd.variable == "arm" {
            for r in &bd.rows {
                share(
                    &mut s,
                    &r.group,
                    "delivered",
                    &format!("arm:{}:delivered", r.group),
                );
                share(&mut s, &r.group, "enrolled", &format!("arm:{}:enrolled", r.group));
                links
                    .arm_counts
                    .insert(r.group.clone(), (r.delivered, r.enrolled));
            }
        }
        out.push(Table {
            spec: s,
            counts: bd
                .rows
                .iter()
                .map(|r| vec![r.invited, r.delivered, r.responded, r.enrolled])
                .collect(),
        });
    }
    Ok(())
}

/// Declare the breakdown's groups that are unions of another breakdown's
/// groups, checking that their counts add up.
fn row_sums(
    up: &UptakeData,
    b: usize,
    bd: &Breakdown,
    s: &mut disclosure::TableSpec,
) -> Result<(), ReportError> {
    for (k, sum) in bd.sums.iter().enumerate() {
        let field = || format!("uptake.breakdowns[{b}].sums[{k}]");
        let row = bd
            .rows
            .iter()
            .find(|r| r.group == sum.group)
            .ok_or_else(|| bad(field(), "`group` naming a group of this breakdown"))?;
        let other = up
            .breakdowns
            .iter()
            .find(|o| o.variable == sum.of && o.variable != bd.variable)
            .ok_or_else(|| bad(field(), "`of` naming another breakdown"))?;
        let mut total = [0u64; 4];
        for g in &sum.groups {
            let r = other
                .rows
                .iter()
                .find(|r| &r.group == g)
                .ok_or_else(|| bad(field(), "`groups` naming groups of the `of` breakdown"))?;
            for (t, v) in total
                .iter_mut()
                .zip([r.invited, r.delivered, r.responded, r.enrolled])
            {
                *t += v;
            }
        }
        if total != [row.invited, row.delivered, row.responded, row.enrolled] {
            return Err(bad(field(), "groups whose counts add up to the group's"));
        }
        s.row_sums.push(disclosure::RowSum {
            row: sum.group.clone(),
            table: format!("uptake_by_{}", slug(&sum.of)),
            rows: sum.groups.clone(),
        });
    }
    Ok(())
}
