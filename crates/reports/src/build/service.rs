//! The service evaluation's tables, and how they quote each study's latest
//! published release instead of publishing the studies' counts again.

use super::{bad, spec, ReportError};
use disclosure::{Release, Table, TOTAL};
use std::collections::BTreeMap;

/// The service evaluation's tables: uptake by study (with the number
/// requested, a target published exactly), people by invitations received
/// (weighted by that number they add up to at most the invitations sent:
/// readers know it, so the audit does), exclusions by reason, and days to
/// target (durations, not counts of people).
pub(super) fn service_tables(sv: &crate::data::ServiceData, out: &mut Vec<Table>) -> Result<(), ReportError> {
    const COLS: [&str; 5] = ["requested", "invited", "delivered", "responded", "enrolled"];
    for (k, st) in sv.studies.iter().enumerate() {
        if st.delivered > st.invited || st.responded > st.invited || st.enrolled > st.invited {
            return Err(bad(
                format!("service.studies[{k}]"),
                "delivered, responded and enrolled each at most invited",
            ));
        }
    }
    if !sv.studies.is_empty() {
        let mut s = spec(
            "service_studies",
            "Requested vs invited, delivered, responded and enrolled by study",
            "study",
            sv.studies.iter().map(|r| r.study.clone()).collect(),
            &COLS,
        );
        s.exempt_columns.push("requested".into());
        s.cumulative = true;
        s.may_fall.push("delivered".into());
        for c in ["delivered", "responded", "enrolled"] {
            s.column_order.push([c.into(), "invited".into()]);
        }
        out.push(Table {
            spec: s,
            counts: sv
                .studies
                .iter()
                .map(|r| vec![r.requested, r.invited, r.delivered, r.responded, r.enrolled])
                .collect(),
        });
        let reached: Vec<&crate::data::ServiceStudy> =
            sv.studies.iter().filter(|r| r.days_to_target.is_some()).collect();
        if !reached.is_empty() {
            let mut s = spec(
                "service_time_to_target",
                "Days from the first invitation to reaching the number requested",
                "study",
                reached.iter().map(|r| r.study.clone()).collect(),
                &["days"],
            );
            s.total_row = false;
            s.exempt_columns.push("days".into());
            out.push(Table {
                spec: s,
                counts: reached
                    .iter()
                    .map(|r| vec![r.days_to_target.unwrap_or(0)])
                    .collect(),
            });
        }
    }
    if !sv.frequency.is_empty() {
        let n = sv.frequency.len();
        for (k, w) in sv.frequency.iter().enumerate() {
            if w.invitations != k as u64 + 1 {
                return Err(bad(
                    format!("service.frequency[{k}].invitations"),
                    format!("{} (buckets 1, 2, … in order)", k + 1),
                ));
            }
        }
        let rows = sv
            .frequency
            .iter()
            .enumerate()
            .map(|(k, w)| match (k + 1 == n && n > 1, w.invitations) {
                (true, i) => format!("{i} or more"),
                (false, 1) => "1 invitation".to_string(),
                (false, i) => format!("{i} invitations"),
            })
            .collect();
        let mut s = spec(
            "service_frequency",
            "People by number of invitations received, all studies",
            "invitations received",
            rows,
            &["people"],
        );
        if !sv.studies.is_empty() {
            let invited: u64 = sv.studies.iter().map(|r| r.invited).sum();
            let weighted: u64 = sv.frequency.iter().map(|w| w.invitations * w.people).sum();
            if weighted > invited || (n == 1 && weighted != invited) {
                return Err(bad(
                    "service.frequency",
                    "people weighted by invitations received adding up to at most the invitations sent",
                ));
            }
            s.weighted_sums.push(disclosure::WeightedSum {
                column: "people".into(),
                weights: sv.frequency.iter().map(|w| w.invitations).collect(),
                open_last: n > 1,
                table: "service_studies".into(),
                row: TOTAL.into(),
                to_column: "invited".into(),
            });
        }
        out.push(Table {
            spec: s,
            counts: sv.frequency.iter().map(|w| vec![w.people]).collect(),
        });
    }
    if !sv.exclusions.is_empty() {
        let mut s = spec(
            "service_exclusions",
            "Exclusions by reason, all batches of all studies",
            "reason",
            sv.exclusions.iter().map(|e| e.reason.clone()).collect(),
            &["exclusions"],
        );
        s.cumulative = true;
        out.push(Table {
            spec: s,
            counts: sv.exclusions.iter().map(|e| vec![e.count]).collect(),
        });
    }
    Ok(())
}

/// The uptake table of a study release whose `Total` row the service
/// evaluation quotes.
fn uptake_table(r: &Release) -> Option<&disclosure::PublishedTable> {
    let ok = |t: &&disclosure::PublishedTable| {
        t.spec.total_row
            && ["invited", "delivered", "responded", "enrolled"]
                .iter()
                .all(|c| t.spec.column_index(c).is_some())
    };
    r.table("uptake_by_arm").filter(ok).or_else(|| {
        r.tables
            .iter()
            .filter(|t| t.spec.id.starts_with("uptake_by_"))
            .find(ok)
    })
}

/// Publish each quantity once: the service evaluation quotes every
/// study's latest published release instead of rounding the study's
/// counts again (a second rounding of the same count, or a total over
/// studies, is what let a reader difference the two series). Studies
/// with no published release yet are left out of the per-study tables;
/// `service_studies` has no total row (a rounded true total over quoted
/// rows would narrow them); exclusions are by reason and study, each cell
/// quoting the study's funnel. People by invitations received is the
/// service's own count (protected in its own series; its relation to the
/// studies' invitations is an inequality with a later date and is not
/// declared).
pub(super) fn quote_studies(tables: &mut Vec<Table>, earlier: &[Release]) {
    let mut latest: BTreeMap<&str, &Release> = BTreeMap::new();
    for r in earlier {
        let e = latest.entry(r.study.as_str()).or_insert(r);
        if r.sequence > e.sequence {
            *e = r;
        }
    }
    let mut studies: Vec<String> = Vec::new();
    for t in tables.iter_mut() {
        match t.spec.id.as_str() {
            "service_studies" => {
                let keep: Vec<usize> = (0..t.spec.rows.len())
                    .filter(|&i| {
                        latest
                            .get(t.spec.rows[i].as_str())
                            .and_then(|r| uptake_table(r))
                            .is_some()
                    })
                    .collect();
                t.spec.rows = keep.iter().map(|&i| t.spec.rows[i].clone()).collect();
                t.counts = keep.iter().map(|&i| t.counts[i].clone()).collect();
                t.spec.total_row = false;
                for row in &t.spec.rows {
                    let r = latest[row.as_str()];
                    let u = uptake_table(r).expect("kept");
                    for c in ["invited", "delivered", "responded", "enrolled"] {
                        t.spec.quotes.push(disclosure::Quote {
                            row: row.clone(),
                            column: c.into(),
                            study: r.study.clone(),
                            sequence: r.sequence,
                            table: u.spec.id.clone(),
                            cells: vec![[TOTAL.into(), c.into()]],
                        });
                    }
                }
                studies = t.spec.rows.clone();
            }
            "service_frequency" => t.spec.weighted_sums.clear(),
            _ => {}
        }
    }
    tables.retain(|t| !(t.spec.id == "service_studies" && t.spec.rows.is_empty()));
    if let Some(t) = tables.iter_mut().find(|t| t.spec.id == "service_exclusions") {
        let with_funnel: Vec<&Release> = studies
            .iter()
            .filter_map(|s| latest.get(s.as_str()).copied())
            .filter(|r| r.table("selection_funnel").is_some())
            .collect();
        t.spec.title = "Exclusions by reason and study (each study's latest release)".into();
        t.spec.columns = with_funnel.iter().map(|r| r.study.clone()).collect();
        t.spec.total_row = false;
        t.spec.cumulative = false;
        t.counts = vec![vec![0; with_funnel.len()]; t.spec.rows.len()];
        for reason in t.spec.rows.clone() {
            for r in &with_funnel {
                let f = r.table("selection_funnel").expect("filtered");
                let row = format!("excluded: {reason}");
                t.spec.quotes.push(disclosure::Quote {
                    row: reason.clone(),
                    column: r.study.clone(),
                    study: r.study.clone(),
                    sequence: r.sequence,
                    table: "selection_funnel".into(),
                    cells: if f.spec.row_index(&row).is_some() {
                        vec![[row, "people".into()]]
                    } else {
                        vec![]
                    },
                });
            }
        }
        if with_funnel.is_empty() {
            t.spec.rows.clear();
        }
    }
    tables.retain(|t| !(t.spec.id == "service_exclusions" && t.spec.columns.is_empty()));
}
