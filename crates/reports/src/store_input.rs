//! Report input from the service store: every figure a study's reports
//! (or the service evaluation) rest on, read through the store's aggregate
//! queries (`store::figures`, `store::rates`) and the selection summaries
//! `invite` recorded with each batch. True counts; nothing here is
//! published before `build` protects it.

use crate::build::{store_error, ReportError};
use crate::data::{
    AllocationRow, AllocationSummary, Breakdown, FrequencyBucket, FunnelStep, GroupSum, ReportInput,
    ReturnReason, ReturnsData, SelectionData, ServiceData, ServiceStudy, StratumRow, SwatArm, SwatData,
    UptakeData, UptakeRow,
};
use std::collections::BTreeMap;

/// The service evaluation's series key in the release log.
pub const SERVICE_KEY: &str = "service:evaluation";

/// A study's report input from the store: uptake by every label, SWAT
/// arms (`control` names the control arm; default the first by name),
/// returns, the selection funnel and strata from the batch summaries, and
/// recruitment by week.
pub fn study_input(
    store: &store::Store,
    study: &str,
    control: Option<&str>,
) -> Result<ReportInput, ReportError> {
    if let Some(p) = store
        .study_purge_record(study)
        .map_err(store_error("reading the store"))?
    {
        return Err(ReportError::Purged {
            study: study.to_string(),
            purged: p.purged,
            releases_kept: p.releases_kept,
        });
    }
    if !store
        .study_exists(study)
        .map_err(store_error("reading the store"))?
    {
        return Err(ReportError::NoSuchStudy);
    }
    let rows = store
        .uptake_detail(study)
        .map_err(store_error("reading uptake figures"))?;
    let (breakdowns, by_arm) = uptake_breakdowns(&rows);
    let arms: Vec<SwatArm> = by_arm
        .iter()
        .map(|(a, c)| SwatArm {
            arm: a.clone(),
            delivered: c[1],
            enrolled: c[3],
        })
        .collect();
    let swat = if arms.len() >= 2 {
        let control = control.map(str::to_string).unwrap_or_else(|| arms[0].arm.clone());
        Some(SwatData { control, arms })
    } else {
        None
    };
    let invited: u64 = by_arm.values().map(|c| c[0]).sum();
    let returned: u64 = by_arm.values().map(|c| c[4]).sum();
    let selection = selection_from_store(store, study)?;
    let mut by_reason: Vec<ReturnReason> = store
        .returns_by_reason(study)
        .map_err(store_error("reading returns"))?
        .into_iter()
        .map(|(reason, count)| ReturnReason { reason, count })
        .collect();
    if by_reason.is_empty() {
        by_reason.push(ReturnReason {
            reason: "all reasons".into(),
            count: returned,
        });
    }
    Ok(ReportInput {
        study: study.to_string(),
        as_of: String::new(),
        selection,
        uptake: Some(UptakeData { breakdowns }),
        swat,
        returns: Some(ReturnsData { invited, by_reason }),
        service: None,
        recruitment: crate::weekly::recruitment(store, study)?,
    })
}

/// The service evaluation's figures from the store, across every study.
pub fn service_input(store: &store::Store) -> Result<ReportInput, ReportError> {
    let studies: Vec<ServiceStudy> = store
        .service_studies()
        .map_err(store_error("reading study figures"))?
        .into_iter()
        .map(|f| ServiceStudy {
            study: f.study,
            requested: f.requested,
            invited: f.invited,
            delivered: f.invited.saturating_sub(f.returned),
            responded: f.responded,
            enrolled: f.enrolled,
            days_to_target: f.days_to_target,
        })
        .collect();
    if studies.is_empty() {
        return Err(ReportError::NoBatches);
    }
    let mut people = [0u64; 4];
    for (n, count) in store
        .invitation_frequency()
        .map_err(store_error("reading invitation frequency"))?
    {
        people[(n.clamp(1, 4) - 1) as usize] += count;
    }
    let frequency = people
        .iter()
        .enumerate()
        .map(|(k, &p)| FrequencyBucket {
            invitations: k as u64 + 1,
            people: p,
        })
        .collect();
    let exclusions = store
        .service_exclusions()
        .map_err(store_error("reading batch summaries"))?
        .into_iter()
        .map(|(reason, count)| FunnelStep {
            reason: group_label(reason.replace('_', " ")),
            count,
        })
        .collect();
    Ok(ReportInput {
        study: SERVICE_KEY.to_string(),
        as_of: String::new(),
        service: Some(ServiceData {
            studies,
            frequency,
            exclusions,
        }),
        ..Default::default()
    })
}

/// Demographic variables of the uptake report: the store's column name and
/// the variable name shown.
const DEMOGRAPHICS: [(&str, &str); 4] = [
    ("age_band", "age band"),
    ("sex", "sex"),
    ("ethnic_group", "ethnic group"),
    ("region", "region"),
];

/// A quota stratum key (`sex=female|age_band=50-54`) as its labels
/// (`female / 50-54`), as the selection report shows it.
fn stratum_label(key: &str) -> String {
    key.split('|')
        .map(|p| p.split_once('=').map(|(_, b)| b).unwrap_or(p))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// A group label a table can hold: never empty, never `Total`.
fn group_label(label: String) -> String {
    if label.trim().is_empty() {
        "not recorded".into()
    } else if label == disclosure::TOTAL {
        format!("{label} (group)")
    } else {
        label
    }
}

/// Uptake by arm, registry match, quota stratum and each demographic
/// variable: margins of one cross-classification, so their grand totals
/// agree and the tables are linked. A demographic that is a stratification
/// variable (every invitation's stratum names the same value) is declared
/// the sum of its strata, so disclosure control sees that relation too.
/// Also returns the arm counts `[invited, delivered, responded, enrolled,
/// returned]`.
fn uptake_breakdowns(rows: &[store::figures::UptakeDetail]) -> (Vec<Breakdown>, BTreeMap<String, [u64; 5]>) {
    let mut by: Vec<(String, BTreeMap<String, [u64; 5]>)> = ["arm", "registry", "stratum"]
        .iter()
        .chain(DEMOGRAPHICS.iter().map(|d| &d.1))
        .map(|v| (v.to_string(), BTreeMap::new()))
        .collect();
    for r in rows {
        let mut keys = vec![
            r.arm.clone(),
            if r.registry {
                "registry volunteer".into()
            } else {
                "not a volunteer".into()
            },
            stratum_label(&r.stratum),
        ];
        keys.extend(
            DEMOGRAPHICS
                .iter()
                .map(|d| r.demographic(d.0).unwrap_or_default().to_string()),
        );
        for ((_, m), k) in by.iter_mut().zip(keys) {
            let e = m.entry(group_label(k)).or_default();
            e[0] += r.invited;
            e[1] += r.delivered();
            e[2] += r.responded;
            e[3] += r.enrolled;
            e[4] += r.returned;
        }
    }
    // demographic groups that are unions of quota strata
    let mut sums: BTreeMap<String, Vec<GroupSum>> = BTreeMap::new();
    for (column, variable) in DEMOGRAPHICS {
        let mut groups: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        let consistent = !rows.is_empty()
            && rows.iter().all(|r| {
                let named = r
                    .stratum
                    .split('|')
                    .find_map(|p| p.split_once('=').filter(|(a, _)| *a == column).map(|(_, b)| b));
                match named {
                    Some(v) if Some(v) == r.demographic(column) => {
                        groups
                            .entry(v.to_string())
                            .or_default()
                            .insert(group_label(stratum_label(&r.stratum)));
                        true
                    }
                    _ => false,
                }
            });
        if consistent {
            sums.insert(
                variable.to_string(),
                groups
                    .into_iter()
                    .map(|(group, strata)| GroupSum {
                        group: group_label(group),
                        of: "stratum".into(),
                        groups: strata.into_iter().collect(),
                    })
                    .collect(),
            );
        }
    }
    let by_arm = by[0].1.clone();
    let breakdowns = by
        .into_iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(v, m)| Breakdown {
            sums: sums.remove(&v).unwrap_or_default(),
            variable: v,
            rows: m
                .iter()
                .map(|(g, c)| UptakeRow {
                    group: g.clone(),
                    invited: c[0],
                    delivered: c[1],
                    responded: c[2],
                    enrolled: c[3],
                })
                .collect(),
        })
        .collect();
    (breakdowns, by_arm)
}

/// The selection report from the summaries `invite` recorded with each
/// committed batch of the study (summed over batches): the exclusion funnel
/// from the eligible population to the invitations, and requested vs actual
/// per quota stratum.
fn selection_from_store(store: &store::Store, study: &str) -> Result<Option<SelectionData>, ReportError> {
    let batches = store
        .batch_summaries(study)
        .map_err(store_error("reading batch summaries"))?;
    if batches.is_empty() {
        return Ok(None);
    }
    let bad = || ReportError::BatchSummary;
    let mut funnel: Vec<(String, u64)> = Vec::new();
    let mut strata: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (mut eligible, mut not_selected, mut invited) = (0u64, 0u64, 0u64);
    for (_, _, json) in &batches {
        let v: serde_json::Value = serde_json::from_str(json).map_err(|_| bad())?;
        let steps = v["funnel"].as_array().ok_or_else(bad)?;
        let cohort_rows = v["cohort_rows"].as_u64().ok_or_else(bad)?;
        let mut before_exclusions = cohort_rows;
        for st in steps {
            let stage = st["stage"].as_str().ok_or_else(bad)?;
            let count = st["count"].as_u64().ok_or_else(bad)?;
            match stage {
                // not people the study could invite: rows rejected and people outside the criteria
                "rejected" | "not_eligible" => before_exclusions = before_exclusions.saturating_sub(count),
                "not_selected" => not_selected += count,
                "invited" => invited += count,
                _ => match funnel.iter_mut().find(|(r, _)| r == stage) {
                    Some((_, c)) => *c += count,
                    None => funnel.push((stage.to_string(), count)),
                },
            }
        }
        eligible += before_exclusions;
        for t in v["strata"].as_array().ok_or_else(bad)? {
            let name = t["stratum"].as_str().ok_or_else(bad)?.to_string();
            let e = strata.entry(name).or_default();
            e.0 += t["requested"].as_u64().ok_or_else(bad)?;
            e.1 += t["selected"].as_u64().ok_or_else(bad)?;
        }
    }
    // Stratum names look like `sex=female|age_band=50-54`.
    let variables: Vec<String> = strata
        .keys()
        .next()
        .map(|k| {
            k.split('|')
                .filter_map(|p| p.split_once('=').map(|(a, _)| a.replace('_', " ")))
                .collect()
        })
        .unwrap_or_default();
    let rows = strata
        .into_iter()
        .map(|(k, (requested, actual))| StratumRow {
            labels: k
                .split('|')
                .map(|p| p.split_once('=').map(|(_, b)| b).unwrap_or(p).to_string())
                .collect(),
            requested,
            actual,
        })
        .collect();
    Ok(Some(SelectionData {
        cohort: eligible,
        funnel: funnel
            .into_iter()
            .map(|(reason, count)| FunnelStep {
                reason: reason.replace('_', " "),
                count,
            })
            .collect(),
        not_selected,
        invited,
        strata_variables: variables,
        strata: rows,
        allocation: batches
            .iter()
            .rev()
            .find_map(|(_, _, json)| allocation_summary(json)),
    }))
}

/// The response-adjusted allocation recorded in a batch summary, coarsened
/// for publication (see [`AllocationSummary`]).
fn allocation_summary(json: &str) -> Option<AllocationSummary> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let a = v.get("allocation")?;
    let pct = |x: &serde_json::Value| (x.as_f64().unwrap_or(0.0) * 100.0).round().clamp(0.0, 100.0) as u32;
    let strata = a["strata"]
        .as_array()?
        .iter()
        .map(|s| AllocationRow {
            labels: s["stratum"]
                .as_str()
                .unwrap_or_default()
                .split('|')
                .map(|p| p.split_once('=').map_or(p, |(_, b)| b).to_string())
                .collect(),
            target: s["target"].as_u64().unwrap_or(0),
            rate_percent: [
                pct(&s["rate"]["rate"]),
                pct(&s["rate"]["low"]),
                pct(&s["rate"]["high"]),
            ],
        })
        .collect();
    Some(AllocationSummary {
        outcome: a["outcome"].as_str()?.to_string(),
        requested: a["requested"].as_u64()?,
        expected: ((a["expected"]["rate"].as_f64()? / 5.0).round() * 5.0).max(0.0) as u64,
        strata,
    })
}
