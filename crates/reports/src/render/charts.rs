//! Which charts each report shows, from its published cells.

use super::svg::{grouped_svg, hbar_svg, whisker_svg};
use super::text::esc;
use crate::build::{Report, ReportKind};
use crate::stats::Estimate;
use std::fmt::Write as _;

pub(super) fn charts(report: &Report, kind: ReportKind) -> String {
    let mut o = String::new();
    match kind {
        ReportKind::Selection => selection(report, &mut o),
        ReportKind::Uptake => uptake(report, kind, &mut o),
        ReportKind::Swat => swat(report, &mut o),
        ReportKind::Returns => returns(report, &mut o),
        ReportKind::Service => service(report, &mut o),
        ReportKind::Recruitment => o.push_str(&super::recruitment::chart(report)),
    }
    o
}

fn selection(report: &Report, o: &mut String) {
    if let Some(t) = report.protected.table("selection_funnel") {
        let mut items: Vec<(String, Option<u64>)> =
            vec![("cohort".into(), t.published(t.spec.rows.len(), 0).count())];
        items.extend((0..t.spec.rows.len()).map(|i| (t.spec.rows[i].clone(), t.published(i, 0).count())));
        let _ = write!(
            o,
            "<h2>Exclusion funnel</h2>{}",
            hbar_svg("Exclusion funnel: people at each step", &items)
        );
    }
    if let Some(t) = report.protected.table("selection_strata") {
        let items: Vec<(String, [Option<u64>; 2])> = (0..t.spec.rows.len())
            .map(|i| {
                (
                    t.spec.rows[i].clone(),
                    [t.published(i, 0).count(), t.published(i, 1).count()],
                )
            })
            .collect();
        let _ = write!(
            o,
            "<h2>Requested vs actual invitations by stratum</h2>{}",
            grouped_svg(
                "Requested vs actual invitations by stratum",
                ["requested", "actual"],
                &items
            )
        );
    }
}

fn uptake(report: &Report, kind: ReportKind, o: &mut String) {
    if let Some(t) = report.tables(kind).next() {
        let (Some(n), Some(d)) = (t.spec.column_index("enrolled"), t.spec.column_index("delivered")) else {
            return;
        };
        let items: Vec<(String, Option<Estimate>)> = (0..t.spec.grid_rows())
            .map(|i| {
                (
                    t.spec.row_label(i).to_string(),
                    report.rate(t.published(i, n), t.published(i, d)),
                )
            })
            .collect();
        let hi = items
            .iter()
            .filter_map(|i| i.1.map(|e| e.upper))
            .fold(0.05f64, f64::max);
        let top = ((hi * 10.0).ceil() / 10.0).min(1.0);
        let _ = write!(
            o,
            "<h2>Enrolment rate by {} (95% CI)</h2>{}",
            esc(&t.spec.row_header),
            whisker_svg(
                &format!("Enrolment rate by {}", t.spec.row_header),
                &items,
                (0.0, top),
                None,
                true
            )
        );
    }
}

fn swat(report: &Report, o: &mut String) {
    if let Some(t) = report.protected.table("swat_outcome") {
        let items: Vec<(String, Option<Estimate>)> = (0..t.spec.grid_rows())
            .map(|i| {
                (
                    t.spec.row_label(i).to_string(),
                    report.rate(t.published(i, 0), t.published(i, t.spec.columns.len())),
                )
            })
            .collect();
        let hi = items
            .iter()
            .filter_map(|i| i.1.map(|e| e.upper))
            .fold(0.05f64, f64::max);
        let top = ((hi * 10.0).ceil() / 10.0).min(1.0);
        let _ = write!(
            o,
            "<h2>Enrolment rate by arm (95% CI)</h2>{}",
            whisker_svg("Enrolment rate by arm", &items, (0.0, top), None, true)
        );
    }
    if let Some(sw) = report.swat_comparisons() {
        let items: Vec<(String, Option<Estimate>)> = sw
            .comparisons
            .iter()
            .map(|c| {
                (
                    format!("{} − {}", c.arm, sw.control),
                    c.stats.as_ref().and_then(|s| s.risk_difference),
                )
            })
            .collect();
        let m = items
            .iter()
            .filter_map(|i| i.1.map(|e| e.lower.abs().max(e.upper.abs())))
            .fold(0.05f64, f64::max);
        let m = ((m * 10.0).ceil() / 10.0).min(1.0);
        let _ = write!(
            o,
            "<h2>Risk difference vs control (Newcombe 95% CI)</h2>{}",
            whisker_svg(
                "Risk difference in enrolment vs control",
                &items,
                (-m, m),
                Some(0.0),
                true
            )
        );
    }
}

fn returns(report: &Report, o: &mut String) {
    if let Some(t) = report.protected.table("returns_by_reason") {
        let items: Vec<(String, Option<u64>)> = (1..t.spec.rows.len())
            .map(|i| (t.spec.rows[i].clone(), t.published(i, 0).count()))
            .collect();
        let _ = write!(
            o,
            "<h2>Returns to sender by reason</h2>{}",
            hbar_svg("Returns to sender by reason", &items)
        );
    }
}

fn service(report: &Report, o: &mut String) {
    if let Some(t) = report.protected.table("service_studies") {
        let (Some(r), Some(a)) = (t.spec.column_index("requested"), t.spec.column_index("invited")) else {
            return;
        };
        let items: Vec<(String, [Option<u64>; 2])> = (0..t.spec.rows.len())
            .map(|i| {
                (
                    t.spec.rows[i].clone(),
                    [t.published(i, r).count(), t.published(i, a).count()],
                )
            })
            .collect();
        let _ = write!(
            o,
            "<h2>Requested vs invited by study</h2>{}",
            grouped_svg("Requested vs invited by study", ["requested", "invited"], &items)
        );
    }
    if let Some(t) = report.protected.table("service_frequency") {
        let items: Vec<(String, Option<u64>)> = (0..t.spec.rows.len())
            .map(|i| (t.spec.rows[i].clone(), t.published(i, 0).count()))
            .collect();
        let _ = write!(
            o,
            "<h2>People by number of invitations received</h2>{}",
            hbar_svg("People by number of invitations received", &items)
        );
    }
}
