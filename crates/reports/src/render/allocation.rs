//! The response-adjusted allocation in the selection report: per stratum
//! the target and the rate used with its 95% interval (whole percent), and
//! the expected total against the requested one (rounded to 5).

use super::text::{esc, md};
use crate::build::Report;
use crate::data::AllocationSummary;
use std::fmt::Write as _;

fn intro(a: &AllocationSummary) -> String {
    format!(
        "Invitations were allocated so that the expected number {o} matches the target in each stratum, at rates estimated from the service's uptake history across studies (shrunk towards what each stratum's demographic margins predict). Requested {o}: {}; expected: about {}.",
        a.requested,
        a.expected,
        o = a.outcome
    )
}

/// The section in Markdown (empty without an allocation).
pub fn markdown(report: &Report) -> String {
    let Some(a) = &report.allocation else {
        return String::new();
    };
    let mut o = format!(
        "## Response-adjusted allocation\n\n{}\n\n| stratum | target | rate (95% CI) |\n| --- | --- | --- |\n",
        md(&intro(a))
    );
    for s in &a.strata {
        let [r, lo, hi] = s.rate_percent;
        let _ = writeln!(
            o,
            "| {} | {} | {r}% ({lo}–{hi}%) |",
            md(&s.labels.join(" / ")),
            s.target
        );
    }
    o.push('\n');
    o
}

/// The section in HTML (empty without an allocation).
pub fn html(report: &Report) -> String {
    let Some(a) = &report.allocation else {
        return String::new();
    };
    let mut o = format!(
        "<h2>Response-adjusted allocation</h2><p>{}</p><table><thead><tr><th scope=\"col\">stratum</th><th scope=\"col\">target</th><th scope=\"col\">rate (95% CI)</th></tr></thead><tbody>",
        esc(&intro(a))
    );
    for s in &a.strata {
        let [r, lo, hi] = s.rate_percent;
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{r}% ({lo}–{hi}%)</td></tr>",
            esc(&s.labels.join(" / ")),
            s.target
        );
    }
    o.push_str("</tbody></table>");
    o
}
