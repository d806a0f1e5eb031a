//! The selection summary written beside a batch: the funnel, requested vs
//! actual per stratum, arms (JSON and Markdown, counts only).

use super::cohort::Pass1;
use super::iso;
use super::setup::Lists;
use crate::request::Validated;
use pseudonym::Date;
use std::collections::BTreeMap;

/// Per-stratum lines of the selection summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StratumSummary {
    /// Stratum label.
    pub stratum: String,
    /// Requested.
    pub requested: u32,
    /// Eligible.
    pub available: u64,
    /// Eligible registry volunteers.
    pub registry_available: u64,
    /// Invited.
    pub selected: u32,
    /// Invited registry volunteers.
    pub registry_selected: u32,
    /// Invited beyond quota to fill other strata's shortfall.
    pub fill: u32,
    /// Requested but not available.
    pub shortfall: u32,
    /// Invited per arm.
    pub arms: BTreeMap<String, u32>,
}

/// The selection summary written beside the batch (plain counts, for the
/// service's own eyes).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Study.
    pub study: String,
    /// Channel.
    pub channel: &'static str,
    /// Output route (`nhs-notification`, `service-mailer`, `org-provider`,
    /// `organisation`).
    pub route: &'static str,
    /// Seed.
    pub seed: u64,
    /// As-of date (ages are computed at it).
    pub as_of: String,
    /// The clock date the batch was made on (the invitation date).
    pub invited_on: String,
    /// Why as_of is far from the invitation date, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backdate_reason: Option<String>,
    /// Rows whose region was not in the fixed vocabulary (or blank),
    /// recorded as `Unknown`.
    pub region_unknown: u64,
    /// Non-contact entries from before schema version 5 not yet re-keyed
    /// (matched on NHS number + DOB only): ingest the objections again.
    pub non_contact_legacy_entries: u64,
    /// Objections kept as CLKs (no usable NHS number) checked.
    pub non_contact_clks: u64,
    /// People (not rows) not invited because they matched a CLK objection.
    pub suppressed_by_clk: u64,
    /// Rows not eligible, by the first criterion they fail (`age`, `sex`,
    /// `region`, `conditions`, `gp_practice_unknown`,
    /// `gp_practice_not_included`, `gp_practice_excluded`); adds up to the
    /// funnel's `not_eligible`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub not_eligible_by: BTreeMap<&'static str, u64>,
    /// Requested invitations.
    pub requested: u32,
    /// Invitations in the batch (QA seeds excluded).
    pub invited: u64,
    /// QA seeds in the batch.
    pub qa_seeds: u32,
    /// Cohort rows read.
    pub cohort_rows: u64,
    /// The exclusion funnel, in precedence order: `(stage, excluded, remaining)`.
    pub funnel: Vec<FunnelRow>,
    /// Requested vs actual per stratum.
    pub strata: Vec<StratumSummary>,
    /// Eligible people in strata the request does not list.
    pub eligible_outside_requested_strata: u64,
    /// Invited per arm.
    pub arms: BTreeMap<String, u64>,
    /// Total shortfall.
    pub shortfall: u64,
    /// The response-adjusted allocation, when the request states targets
    /// as enrolments or responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation: Option<crate::allocation::Plan>,
}

/// One funnel stage.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FunnelRow {
    /// Reason code.
    pub stage: &'static str,
    /// Rows counted under it.
    pub count: u64,
    /// Rows left after it.
    pub remaining: u64,
}

/// The funnel as summary rows.
pub(crate) fn funnel_rows(f: &suppression::Funnel) -> Vec<FunnelRow> {
    f.stages()
        .into_iter()
        .map(|(stage, count, remaining)| FunnelRow {
            stage,
            count,
            remaining,
        })
        .collect()
}

/// The selection: who is invited, in which arm, and the per-stratum
/// summary.
pub(crate) struct Selection {
    /// Stratum labels, in allocation order.
    pub labels: Vec<String>,
    /// Per eligible person: their stratum (`u32::MAX`: not requested).
    pub stratum_of: Vec<u32>,
    /// `(eligible index, arm index)`, in stratum order.
    pub chosen: Vec<(usize, usize)>,
    pub strata: Vec<StratumSummary>,
    pub arm_totals: BTreeMap<String, u64>,
    /// Eligible people in strata the request does not list.
    pub outside: u64,
    /// The response-adjusted allocation, when the request states targets
    /// as enrolments or responses.
    pub allocation: Option<crate::allocation::Plan>,
}

/// The selection summary of an invitation run.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    v: &Validated,
    today: Date,
    backdate: Option<&str>,
    lists: &Lists,
    p1: &Pass1,
    sel: Selection,
    invited: u64,
    qa_seeds: u32,
) -> Summary {
    let r = &v.request;
    let Selection {
        strata,
        arm_totals,
        outside,
        allocation,
        ..
    } = sel;
    let shortfall: u64 = strata.iter().map(|s| s.shortfall as u64).sum();
    Summary {
        study: r.study.clone(),
        channel: r.channel.name(),
        route: v.route.name(),
        seed: r.seed,
        as_of: iso(v.as_of),
        invited_on: iso(today),
        backdate_reason: backdate.map(str::to_string),
        region_unknown: p1.region_unknown,
        non_contact_legacy_entries: lists.legacy_count,
        non_contact_clks: lists.clk_list.len() as u64,
        suppressed_by_clk: p1.suppressed_by_clk,
        not_eligible_by: p1.not_eligible_by.clone(),
        requested: r.invitations,
        invited,
        qa_seeds,
        cohort_rows: p1.cohort.rows,
        funnel: funnel_rows(&p1.funnel),
        strata,
        eligible_outside_requested_strata: outside,
        arms: arm_totals,
        shortfall,
        allocation,
    }
}

/// The selection summary as Markdown.
pub fn summary_markdown(s: &Summary) -> String {
    let mut o = String::new();
    o.push_str(&format!(
        "# Selection summary: {}\n\nRoute {}, channel {}, as of {}, seed {}. Requested {}, invited {} (plus {} QA seeds, not counted). \
         Plain counts for the service's own review; published figures come from `trialink report`.\n\n",
        s.study, s.route, s.channel, s.as_of, s.seed, s.requested, s.invited, s.qa_seeds
    ));
    o.push_str(&format!(
        "Invitation date {} (the clock date the batch was made).{}\n\n",
        s.invited_on,
        s.backdate_reason
            .as_ref()
            .map(|b| format!(" Backdated: {}.", b.replace(['\n', '\r', '|'], " ")))
            .unwrap_or_default()
    ));
    o.push_str(&format!(
        "People suppressed by a CLK objection (no usable NHS number; {} on the list): {}. \
         Rows with a region outside the fixed vocabulary (recorded as `Unknown`): {}.\n\n",
        s.non_contact_clks, s.suppressed_by_clk, s.region_unknown
    ));
    if s.non_contact_legacy_entries > 0 {
        o.push_str(&format!(
            "**{} non-contact entries from before schema version 5 are matched on NHS number + date of birth only**: \
             ingest those objections again (`trialink noncontact add`) so that they match on the NHS number alone.\n\n",
            s.non_contact_legacy_entries
        ));
    }
    o.push_str("## Exclusion funnel\n\n| stage | rows | remaining |\n|---|---:|---:|\n");
    o.push_str(&format!(
        "| cohort rows | {} | {} |\n",
        s.cohort_rows, s.cohort_rows
    ));
    for f in &s.funnel {
        o.push_str(&format!("| {} | {} | {} |\n", f.stage, f.count, f.remaining));
    }
    if !s.not_eligible_by.is_empty() {
        let by: Vec<String> = s
            .not_eligible_by
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        o.push_str(&format!(
            "\nNot eligible, by the first criterion failed: {}.\n",
            by.join(", ")
        ));
    }
    o.push_str("\n## Requested vs actual by stratum\n\n| stratum | requested | eligible | registry eligible | invited | registry invited | fill | shortfall |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for t in &s.strata {
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            t.stratum.replace('|', "\\|"),
            t.requested,
            t.available,
            t.registry_available,
            t.selected,
            t.registry_selected,
            t.fill,
            t.shortfall
        ));
    }
    if s.eligible_outside_requested_strata > 0 {
        o.push_str(&format!(
            "\n{} eligible people are in strata the request does not list.\n",
            s.eligible_outside_requested_strata
        ));
    }
    o.push_str("\n## Arms\n\n| arm | invited |\n|---|---:|\n");
    for (a, n) in &s.arms {
        o.push_str(&format!("| {a} | {n} |\n"));
    }
    if let Some(p) = &s.allocation {
        o.push_str(&crate::allocation::markdown(p));
    }
    o
}

impl super::InviteReport {
    /// A warning for the operator when the non-contact list still holds
    /// entries keyed the old way (NHS number + date of birth).
    pub fn legacy_warning(&self) -> Option<String> {
        let n = self.summary.non_contact_legacy_entries;
        (n > 0).then(|| {
            format!(
                "warning: {n} non-contact entries from before schema version 5 match on NHS number + date of birth only; \
                 ingest those objections again with `trialink noncontact add`"
            )
        })
    }

    /// What the run did, for a person at a terminal: the batch, the funnel,
    /// what was not invited and why, any shortfall, and where the files
    /// are (counts only).
    pub fn console(&self) -> String {
        use std::fmt::Write as _;
        let s = &self.summary;
        let mut o = format!(
            "batch {} for study {}: {} invitations (requested {}) + {} QA seeds, route {}, {} channel\n\
             funnel (cohort rows {}):\n",
            self.batch_id, s.study, s.invited, s.requested, s.qa_seeds, s.route, s.channel, s.cohort_rows
        );
        for f in &s.funnel {
            let _ = writeln!(
                o,
                "  {:<24} {:>10}   remaining {:>10}",
                f.stage, f.count, f.remaining
            );
        }
        if s.suppressed_by_clk > 0 {
            let _ = writeln!(
                o,
                "not invited: {} people matched an objection kept without a usable NHS number (CLK)",
                s.suppressed_by_clk
            );
        }
        if s.region_unknown > 0 {
            let _ = writeln!(
                o,
                "{} rows had a region outside the fixed vocabulary; recorded as Unknown",
                s.region_unknown
            );
        }
        if s.shortfall > 0 {
            let _ = writeln!(o, "shortfall {} — by stratum:", s.shortfall);
            for t in s.strata.iter().filter(|t| t.shortfall > 0) {
                let _ = writeln!(
                    o,
                    "  {:<40} requested {:>7} eligible {:>7} invited {:>7}",
                    t.stratum, t.requested, t.available, t.selected
                );
            }
        }
        let _ = write!(o, "wrote {}", self.batch_file.display());
        o
    }
}
