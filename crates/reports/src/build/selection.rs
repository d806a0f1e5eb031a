//! The selection report's tables: the exclusion funnel and requested vs
//! actual invitations by stratum.

use super::{bad, share, spec, Links};
use crate::build::ReportError;
use crate::data::SelectionData;
use disclosure::{Table, TOTAL};

/// The most strata a selection report takes: protecting the strata table
/// costs time and memory growing faster than its size (about 8 s and 200 MB
/// at this cap in a debug build), so a larger input is refused.
pub const MAX_STRATA: usize = 2_000;

/// The funnel (its `invited` cell shared with the uptake tables' total when
/// they agree) and, with strata, requested vs actual by stratum.
pub(super) fn tables(sel: &SelectionData, links: &Links, out: &mut Vec<Table>) -> Result<(), ReportError> {
    let mut rows: Vec<String> = sel
        .funnel
        .iter()
        .map(|s| format!("excluded: {}", s.reason))
        .collect();
    rows.push("not selected (quota met)".into());
    rows.push("invited".into());
    let mut counts: Vec<Vec<u64>> = sel.funnel.iter().map(|s| vec![s.count]).collect();
    counts.push(vec![sel.not_selected]);
    counts.push(vec![sel.invited]);
    // checked: a crafted file's huge counts must not wrap to the cohort
    let sum = counts.iter().try_fold(0u64, |a, c| a.checked_add(c[0]));
    if sum != Some(sel.cohort) {
        return Err(bad(
            "selection.cohort",
            "the sum of the funnel's exclusions, not_selected and invited",
        ));
    }
    let mut s = spec("selection_funnel", "Exclusion funnel", "step", rows, &["people"]);
    // the same invitations as the uptake tables count, when they agree
    let invited_key = if links.uptake_invited == Some(sel.invited) {
        "uptake:invited"
    } else {
        "selection:invited"
    };
    share(&mut s, "invited", "people", invited_key);
    out.push(Table { spec: s, counts });
    if sel.strata.len() > MAX_STRATA {
        return Err(bad(
            "selection.strata",
            format!(
                "at most {MAX_STRATA} strata (the file has {}): coarsen the stratification (fewer quota dimensions or wider bands)",
                sel.strata.len()
            ),
        ));
    }
    if !sel.strata.is_empty() {
        let nvars = sel.strata_variables.len().max(1);
        let mut rows = Vec::new();
        for (k, st) in sel.strata.iter().enumerate() {
            if st.labels.len() != nvars && !sel.strata_variables.is_empty() {
                return Err(bad(
                    format!("selection.strata[{k}].labels"),
                    format!("{nvars} label(s)"),
                ));
            }
            rows.push(st.labels.join(" / "));
        }
        let header = if sel.strata_variables.is_empty() {
            "stratum".to_string()
        } else {
            sel.strata_variables.join(" / ")
        };
        let mut s = spec(
            "selection_strata",
            "Requested vs actual invitations by stratum",
            &header,
            rows,
            &["requested", "actual"],
        );
        s.exempt_columns.push("requested".into());
        if sel.strata.iter().map(|r| r.actual).sum::<u64>() == sel.invited {
            share(&mut s, TOTAL, "actual", invited_key);
        }
        // a stratum's invitations are also the uptake-by-stratum table's
        for (label, st) in s.rows.clone().iter().zip(&sel.strata) {
            if links.uptake_strata.get(label.as_str()) == Some(&st.actual) {
                share(&mut s, label, "actual", &format!("stratum:{label}:invited"));
            }
        }
        out.push(Table {
            spec: s,
            counts: sel.strata.iter().map(|r| vec![r.requested, r.actual]).collect(),
        });
    }
    Ok(())
}
