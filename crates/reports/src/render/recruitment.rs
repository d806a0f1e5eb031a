//! Recruitment over time as a reader sees it: the cumulative series
//! derived from the published weekly counts only, as a table (Markdown,
//! HTML; the CSV is the weekly table itself, whose running sums these are)
//! and a line chart against the study's targets.
//!
//! A week's cumulative count is the sum of the published weeks up to it;
//! when one of those is suppressed it is the published total less the
//! later weeks (when those are all published); otherwise it is not
//! derivable and is shown as `*` (the chart's line breaks there). Under a
//! rounding policy the running sums of rounded weeks may differ from the
//! rounded total by a few.

use super::svg::line_svg;
use super::text::{esc, md};
use crate::build::Report;
use disclosure::ProtectedTable;
use std::fmt::Write as _;

/// The weekly table's id.
const TABLE: &str = "recruitment_by_week";

/// Weeks and, per column, the cumulative count at the end of each week.
pub struct Cumulative {
    /// Week labels (first day).
    pub weeks: Vec<String>,
    /// `(column, values)`, `None` where not derivable from published cells.
    pub series: Vec<(String, Vec<Option<u64>>)>,
}

/// The cumulative series of the weekly table.
pub fn cumulative(t: &ProtectedTable) -> Cumulative {
    let rows = t.spec.rows.len();
    let series = t
        .spec
        .columns
        .iter()
        .enumerate()
        .map(|(j, c)| {
            let cell = |i: usize| t.published(i, j).count();
            let total = if t.spec.total_row { cell(rows) } else { None };
            let values = (0..rows)
                .map(|k| {
                    let prefix: Option<u64> = (0..=k).map(cell).sum();
                    let suffix: Option<u64> = (k + 1..rows).map(cell).sum();
                    prefix.or_else(|| total?.checked_sub(suffix?))
                })
                .collect();
            (c.clone(), values)
        })
        .collect();
    Cumulative {
        weeks: t.spec.rows.clone(),
        series,
    }
}

fn show(v: Option<u64>) -> String {
    v.map_or_else(|| "*".to_string(), |v| v.to_string())
}

fn targets_line(report: &Report) -> String {
    if report.targets.is_empty() {
        return "No target is recorded for the study.".into();
    }
    let t: Vec<String> = report.targets.iter().map(|(n, v)| format!("{n}: {v}")).collect();
    format!("Targets: {}.", t.join("; "))
}

/// The cumulative table in Markdown.
pub fn markdown(report: &Report) -> String {
    let Some(t) = report.protected.table(TABLE) else {
        return String::new();
    };
    let c = cumulative(t);
    let mut o = format!(
        "## Cumulative recruitment (sums of the published weekly counts)\n\n{}\n\n| week starting |",
        md(&targets_line(report))
    );
    for (name, _) in &c.series {
        let _ = write!(o, " {} |", md(name));
    }
    let _ = writeln!(o, "\n|{}", " --- |".repeat(c.series.len() + 1));
    for (k, w) in c.weeks.iter().enumerate() {
        let _ = write!(o, "| {} |", md(w));
        for (_, v) in &c.series {
            let _ = write!(o, " {} |", show(v[k]).replace('*', "\\*"));
        }
        o.push('\n');
    }
    o.push('\n');
    o
}

/// The cumulative table in HTML.
pub fn html(report: &Report) -> String {
    let Some(t) = report.protected.table(TABLE) else {
        return String::new();
    };
    let c = cumulative(t);
    let mut o = format!(
        "<h2>Cumulative recruitment (sums of the published weekly counts)</h2><p>{}</p><table><thead><tr><th scope=\"col\">week starting</th>",
        esc(&targets_line(report))
    );
    for (name, _) in &c.series {
        let _ = write!(o, "<th scope=\"col\">{}</th>", esc(name));
    }
    o.push_str("</tr></thead><tbody>");
    for (k, w) in c.weeks.iter().enumerate() {
        let _ = write!(o, "<tr><td>{}</td>", esc(w));
        for (_, v) in &c.series {
            match v[k] {
                Some(v) => {
                    let _ = write!(o, "<td>{v}</td>");
                }
                None => o.push_str("<td class=\"supp\">*</td>"),
            }
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table>");
    o
}

/// The line chart of the cumulative series against the targets.
pub fn chart(report: &Report) -> String {
    let Some(t) = report.protected.table(TABLE) else {
        return String::new();
    };
    let c = cumulative(t);
    let title = "Cumulative recruitment by week against target";
    format!(
        "<h2>{title}</h2>{}",
        line_svg(title, &c.weeks, &c.series, &report.targets)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use disclosure::{Policy, Table, TableSpec};

    fn weekly(counts: Vec<Vec<u64>>) -> ProtectedTable {
        let spec = TableSpec {
            id: TABLE.into(),
            title: "t".into(),
            row_header: "week starting".into(),
            rows: (0..counts.len())
                .map(|k| format!("2026-01-{:02}", 1 + 7 * k))
                .collect(),
            columns: vec!["invited".into()],
            total_row: true,
            total_column: false,
            column_order: vec![],
            exempt_columns: vec![],
            cumulative: true,
            may_fall: vec![],
            shared: vec![],
            row_sums: vec![],
            weighted_sums: vec![],
            quotes: vec![],
            running_order: vec![],
            running_cumulative: false,
        };
        let p = disclosure::protect_release(
            "s",
            &[Table { spec, counts }],
            &Policy::builtin("nhs-hes").unwrap(),
            &[],
        )
        .unwrap();
        p.tables[0].clone()
    }

    #[test]
    fn cumulative_from_prefixes_or_from_the_total() {
        // weeks 100, 3 (suppressed), 50: the last point comes from the total
        let t = weekly(vec![vec![100], vec![3], vec![50], vec![40]]);
        let c = cumulative(&t);
        let v = &c.series[0].1;
        assert_eq!(v[0], Some(100));
        assert_eq!(v[3], t.published(4, 0).count());
        for (k, x) in v.iter().enumerate() {
            let prefix: Option<u64> = (0..=k).map(|i| t.published(i, 0).count()).sum();
            if let (Some(p), Some(x)) = (prefix, x) {
                assert_eq!(p, *x);
            }
        }
        // nothing shown that the published cells do not give
        assert!(v.windows(2).all(|w| match w {
            [Some(a), Some(b)] => a <= b,
            _ => true,
        }));
    }
}
