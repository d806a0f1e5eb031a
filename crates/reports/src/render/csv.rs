//! CSV output: one file per table, and the derived statistics.

use super::rates::{rate_columns, rate_of};
use super::text::csv_text;
use crate::build::Report;
use crate::stats::Estimate;
use disclosure::ProtectedTable;
use std::fmt::Write as _;

/// One table as CSV: a header, one line per row, the `Total` row and
/// column labelled `Total`; suppressed cells are `*`.
pub fn table_csv(t: &ProtectedTable) -> String {
    let s = &t.spec;
    let mut o = String::new();
    let mut head = vec![csv_text(&s.row_header)];
    head.extend((0..s.grid_columns()).map(|j| csv_text(s.column_label(j))));
    o.push_str(&head.join(","));
    o.push('\n');
    for i in 0..s.grid_rows() {
        let mut line = vec![csv_text(s.row_label(i))];
        line.extend((0..s.grid_columns()).map(|j| t.published(i, j).to_string()));
        o.push_str(&line.join(","));
        o.push('\n');
    }
    o
}

/// Derived statistics as CSV: `table,row,statistic,estimate,lower,upper,p_value,note`.
pub fn statistics_csv(report: &Report) -> String {
    let mut o = String::from("table,row,statistic,estimate,lower,upper,p_value,note\n");
    let num = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
    for t in &report.protected.tables {
        for rc in rate_columns(t) {
            for i in 0..t.spec.grid_rows() {
                let e = rate_of(report, t, i, &rc);
                let note = if e.is_none() {
                    "withheld: a count it rests on is suppressed"
                } else {
                    ""
                };
                let _ = writeln!(
                    o,
                    "{},{},{},{},{},{},,{}",
                    csv_text(&t.spec.id),
                    csv_text(t.spec.row_label(i)),
                    csv_text(rc.name),
                    num(e.map(|e| e.estimate)),
                    num(e.map(|e| e.lower)),
                    num(e.map(|e| e.upper)),
                    note
                );
            }
        }
    }
    if let Some(sw) = report.swat_comparisons() {
        for c in &sw.comparisons {
            let row = csv_text(&format!("{} vs {}", c.arm, sw.control));
            match &c.stats {
                None => {
                    let _ = writeln!(
                        o,
                        "swat_outcome,{row},comparison,,,,,withheld: a count it rests on is suppressed"
                    );
                }
                Some(s) => {
                    let est = |name: &str, e: Option<Estimate>, o: &mut String| {
                        let _ = writeln!(
                            o,
                            "swat_outcome,{row},{name},{},{},{},,",
                            num(e.map(|e| e.estimate)),
                            num(e.map(|e| e.lower)),
                            num(e.map(|e| e.upper))
                        );
                    };
                    est("risk difference (Newcombe)", s.risk_difference, &mut o);
                    est("odds ratio (logit)", s.odds_ratio, &mut o);
                    let _ = writeln!(
                        o,
                        "swat_outcome,{row},fisher exact (two-sided),,,,{},",
                        num(s.fisher_p)
                    );
                    let _ = writeln!(
                        o,
                        "swat_outcome,{row},fisher exact (Holm-adjusted),,,,{},",
                        num(c.holm_p)
                    );
                    if let Some(ch) = s.chi_square {
                        let _ = writeln!(
                            o,
                            "swat_outcome,{row},chi-square (df {}),{:.6},,,{:.6},",
                            ch.df, ch.statistic, ch.p_value
                        );
                    }
                }
            }
        }
        if let Some(ch) = sw.overall {
            let _ = writeln!(
                o,
                "swat_outcome,all arms,chi-square (df {}),{:.6},,,{:.6},",
                ch.df, ch.statistic, ch.p_value
            );
        }
    }
    o
}
