//! Markdown output: one file per report, for review.

use super::rates::{rate_columns, rate_of};
use super::text::{md, p_eq, p_fmt, pct};
use crate::build::{Report, ReportKind};
use disclosure::Published;
use std::fmt::Write as _;

fn policy_line(report: &Report) -> String {
    let p = &report.protected.policy;
    format!(
        "Disclosure control: policy `{}` ({}). {} cell(s) in this report and {} in the release are suppressed (`*`). Rates are computed from the published counts and withheld when a count they rest on is suppressed.",
        p.name,
        p.description,
        "{n}",
        report.protected.suppressed()
    )
}

/// One report as Markdown.
pub fn markdown(report: &Report, kind: ReportKind) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {} — study {}\n", kind.title(), md(&report.study));
    if !report.as_of.is_empty() {
        let _ = writeln!(o, "Figures as of {}.\n", md(&report.as_of));
    }
    let _ = writeln!(
        o,
        "{}\n",
        policy_line(report).replace("{n}", &report.suppressed_in(kind).to_string())
    );
    for t in report.tables(kind) {
        let s = &t.spec;
        let rates = rate_columns(t);
        let _ = writeln!(o, "## {}\n", md(&s.title));
        let mut head = vec![md(&s.row_header)];
        head.extend((0..s.grid_columns()).map(|j| md(s.column_label(j))));
        head.extend(rates.iter().map(|r| md(r.name)));
        let _ = writeln!(o, "| {} |", head.join(" | "));
        let _ = writeln!(o, "|{}", " --- |".repeat(head.len()));
        for i in 0..s.grid_rows() {
            let mut line = vec![md(s.row_label(i))];
            line.extend((0..s.grid_columns()).map(|j| match t.published(i, j) {
                Published::Count(v) => v.to_string(),
                Published::Suppressed => "\\*".into(),
            }));
            line.extend(rates.iter().map(|r| {
                rate_of(report, t, i, r)
                    .map(|e| pct(&e))
                    .unwrap_or_else(|| "—".into())
            }));
            let _ = writeln!(o, "| {} |", line.join(" | "));
        }
        o.push('\n');
    }
    if kind == ReportKind::Swat {
        o.push_str(&swat_markdown(report));
    }
    if kind == ReportKind::Recruitment {
        o.push_str(&super::recruitment::markdown(report));
    }
    if kind == ReportKind::Selection {
        o.push_str(&super::allocation::markdown(report));
    }
    o
}

fn swat_markdown(report: &Report) -> String {
    let mut o = String::new();
    let Some(sw) = report.swat_comparisons() else {
        return o;
    };
    let _ = writeln!(o, "## Comparisons with the control arm ({})\n", md(&sw.control));
    let _ = writeln!(
        o,
        "| arm | risk difference (95% CI) | odds ratio (95% CI) | Fisher p | Holm p | chi-square p |"
    );
    let _ = writeln!(o, "| --- | --- | --- | --- | --- | --- |");
    for c in &sw.comparisons {
        match &c.stats {
            None => {
                let _ = writeln!(
                    o,
                    "| {} | withheld (suppressed cells) | — | — | — | — |",
                    md(&c.arm)
                );
            }
            Some(s) => {
                let rd = s.risk_difference.map(|e| pct(&e)).unwrap_or_else(|| "—".into());
                let or = s
                    .odds_ratio
                    .map(|e| format!("{:.2} ({:.2}–{:.2})", e.estimate, e.lower, e.upper))
                    .unwrap_or_else(|| "—".into());
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} |",
                    md(&c.arm),
                    rd,
                    or,
                    s.fisher_p.map(p_fmt).unwrap_or_else(|| "—".into()),
                    c.holm_p.map(p_fmt).unwrap_or_else(|| "—".into()),
                    s.chi_square
                        .map(|c| p_fmt(c.p_value))
                        .unwrap_or_else(|| "—".into())
                );
            }
        }
    }
    if let Some(ch) = sw.overall {
        let _ = writeln!(
            o,
            "\nChi-square test of independence over all arms: χ² = {:.3}, df = {}, p {}.",
            ch.statistic,
            ch.df,
            p_eq(ch.p_value)
        );
    }
    o.push('\n');
    o
}
