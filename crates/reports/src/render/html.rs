//! HTML output: one self-contained page per report (inline CSS and SVG;
//! no scripts, no external resources).

use super::charts::charts;
use super::rates::{rate_columns, rate_of};
use super::text::{esc, p_eq, p_fmt, pct};
use crate::build::{Report, ReportKind};
use disclosure::{ProtectedTable, Published};
use std::fmt::Write as _;

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;margin:2rem auto;max-width:60rem;color:#1b1b1b;line-height:1.45;padding:0 1rem}\
h1{font-size:1.6rem;border-bottom:3px solid #005eb8;padding-bottom:.3rem}h2{font-size:1.2rem;margin-top:2rem}\
.policy{background:#f0f4f5;border-left:4px solid #005eb8;padding:.6rem 1rem}\
table{border-collapse:collapse;margin:.5rem 0 1rem;font-variant-numeric:tabular-nums}th,td{border:1px solid #bbb;padding:.25rem .6rem;text-align:right}\
th:first-child,td:first-child{text-align:left}thead th{background:#e8edee}tr.total td{font-weight:bold;border-top:2px solid #444}\
td.supp{color:#8a1538}.chart{max-width:100%;height:auto;display:block;margin:.5rem 0 1.5rem}\
.chart .bar,.chart .s1{fill:#005eb8}.chart .s0{fill:#aeb7bd}.chart .lbl{font-size:12px;fill:#222}.chart .val,.chart .tick{font-size:11px;fill:#444}\
.chart .supp{fill:#8a1538}.chart .axis{stroke:#444}.chart .ref{stroke:#8a1538;stroke-dasharray:4 3}.chart .whisker{stroke:#005eb8;stroke-width:2}.chart .pt{fill:#003087}\
footer{margin-top:3rem;font-size:.85rem;color:#555}\
@media print{body{margin:0;max-width:none;font-size:10pt}h2{break-after:avoid}table,.chart{break-inside:avoid}.policy{border:1px solid #999}a{color:inherit;text-decoration:none}}";

fn html_table(report: &Report, t: &ProtectedTable) -> String {
    let s = &t.spec;
    let rates = rate_columns(t);
    let mut o = String::from("<table><thead><tr>");
    let _ = write!(o, "<th scope=\"col\">{}</th>", esc(&s.row_header));
    for j in 0..s.grid_columns() {
        let _ = write!(o, "<th scope=\"col\">{}</th>", esc(s.column_label(j)));
    }
    for r in &rates {
        let _ = write!(o, "<th scope=\"col\">{} (95% CI)</th>", esc(r.name));
    }
    o.push_str("</tr></thead><tbody>");
    for i in 0..s.grid_rows() {
        let _ = write!(
            o,
            "<tr{}><td>{}</td>",
            if s.is_total_row(i) { " class=\"total\"" } else { "" },
            esc(s.row_label(i))
        );
        for j in 0..s.grid_columns() {
            match t.published(i, j) {
                Published::Count(v) => {
                    let _ = write!(o, "<td>{v}</td>");
                }
                Published::Suppressed => o.push_str("<td class=\"supp\">*</td>"),
            }
        }
        for r in &rates {
            let _ = write!(
                o,
                "<td>{}</td>",
                rate_of(report, t, i, r)
                    .map(|e| esc(&pct(&e)))
                    .unwrap_or_else(|| "—".into())
            );
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table>");
    o
}

/// One report as a self-contained HTML page (inline CSS and SVG; no
/// scripts, no external resources).
pub fn html(report: &Report, kind: ReportKind) -> String {
    let p = &report.protected.policy;
    let mut o = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    o.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">");
    let _ = write!(
        o,
        "<title>{} — {}</title><style>{CSS}</style></head><body>",
        esc(kind.title()),
        esc(&report.study)
    );
    let _ = write!(o, "<h1>{} — study {}</h1>", esc(kind.title()), esc(&report.study));
    if !report.as_of.is_empty() {
        let _ = write!(
            o,
            "<p>Figures as of {}. Release {}.</p>",
            esc(&report.as_of),
            report.protected.sequence
        );
    }
    let _ = write!(
        o,
        "<p class=\"policy\">Disclosure control: policy <strong>{}</strong> — {}. <span id=\"suppressed-count\">{}</span> cell(s) in this report ({} in the whole release) are suppressed and shown as <code>*</code>. Rates and statistics are computed from the published counts and withheld where a count they rest on is suppressed.</p>",
        esc(&p.name),
        esc(&p.description),
        report.suppressed_in(kind),
        report.protected.suppressed()
    );
    o.push_str(&charts(report, kind));
    for t in report.tables(kind) {
        let _ = write!(o, "<h2>{}</h2>{}", esc(&t.spec.title), html_table(report, t));
    }
    if kind == ReportKind::Recruitment {
        o.push_str(&super::recruitment::html(report));
    }
    if kind == ReportKind::Selection {
        o.push_str(&super::allocation::html(report));
    }
    if kind == ReportKind::Swat {
        if let Some(sw) = report.swat_comparisons() {
            let _ = write!(o, "<h2>Comparisons with the control arm ({})</h2><table><thead><tr><th>arm</th><th>risk difference (95% CI)</th><th>odds ratio (95% CI)</th><th>Fisher p</th><th>Holm p</th><th>chi-square p</th></tr></thead><tbody>", esc(&sw.control));
            for c in &sw.comparisons {
                match &c.stats {
                    None => {
                        let _ = write!(o, "<tr><td>{}</td><td colspan=\"5\">withheld: a count it rests on is suppressed</td></tr>", esc(&c.arm));
                    }
                    Some(s) => {
                        let _ = write!(
                            o,
                            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                            esc(&c.arm),
                            s.risk_difference
                                .map(|e| esc(&pct(&e)))
                                .unwrap_or_else(|| "—".into()),
                            s.odds_ratio
                                .map(|e| format!("{:.2} ({:.2}–{:.2})", e.estimate, e.lower, e.upper))
                                .unwrap_or_else(|| "—".into()),
                            s.fisher_p.map(p_fmt).unwrap_or_else(|| "—".into()),
                            c.holm_p.map(p_fmt).unwrap_or_else(|| "—".into()),
                            s.chi_square
                                .map(|c| p_fmt(c.p_value))
                                .unwrap_or_else(|| "—".into())
                        );
                    }
                }
            }
            o.push_str("</tbody></table>");
            if let Some(ch) = sw.overall {
                let _ = write!(
                    o,
                    "<p>Chi-square test of independence over all arms: χ² = {:.3}, df = {}, p {}.</p>",
                    ch.statistic,
                    ch.df,
                    esc(&p_eq(ch.p_value))
                );
            }
        }
    }
    o.push_str("<footer>Produced by trialink. Machine-readable tables: <code>tables.json</code> (audit with <code>trialink audit --report DIR</code>).</footer></body></html>\n");
    o
}
