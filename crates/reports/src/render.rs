//! Output: CSV (machine), Markdown (review), one self-contained HTML file
//! per report with inline SVG charts (people), and `tables.json` (the
//! release, for `trialink audit` and the store's release log).
//!
//! Everything written into HTML or SVG is escaped; every CSV text cell that
//! a spreadsheet would read as a formula (leading `=`, `+`, `-`, `@`, tab or
//! carriage return) is prefixed with `'`.

use crate::build::{Report, ReportError, ReportKind};
use crate::stats::Estimate;
use disclosure::{ProtectedTable, Published};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    /// CSV tables and statistics.
    pub csv: bool,
    /// Markdown.
    pub markdown: bool,
    /// HTML.
    pub html: bool,
}

impl Default for Formats {
    fn default() -> Self {
        Formats {
            csv: true,
            markdown: true,
            html: true,
        }
    }
}

/// Escape text for HTML/SVG content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A CSV text field: quoted when needed, and neutralised when a spreadsheet
/// would take it for a formula.
pub fn csv_text(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Markdown table text: pipes and markup neutralised.
fn md(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '|' | '\\' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' => {
                o.push('\\');
                o.push(c);
            }
            '\n' | '\r' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

fn pct(e: &Estimate) -> String {
    let sep = if e.lower < 0.0 || e.upper < 0.0 {
        " to "
    } else {
        "–"
    };
    format!(
        "{:.1}% ({:.1}{sep}{:.1})",
        e.estimate * 100.0,
        e.lower * 100.0,
        e.upper * 100.0
    )
}

/// `= 0.123` or `< 0.001`, to follow "p".
fn p_eq(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("= {p:.3}")
    }
}

fn p_fmt(p: f64) -> String {
    if p < 0.001 {
        "<0.001".into()
    } else {
        format!("{p:.3}")
    }
}

/// A derived column: a rate of two columns of a table.
struct RateColumn {
    name: &'static str,
    numerator: &'static str,
    denominator: &'static str,
}

fn rate_columns(t: &ProtectedTable) -> Vec<RateColumn> {
    match ReportKind::of_table(&t.spec.id) {
        _ if t.spec.id == "service_studies" => rate_columns_uptake(),
        ReportKind::Uptake => rate_columns_uptake(),
        ReportKind::Swat => vec![RateColumn {
            name: "enrolment rate",
            numerator: "enrolled",
            denominator: TOTAL_COL,
        }],
        _ => vec![],
    }
}

fn rate_columns_uptake() -> Vec<RateColumn> {
    vec![
        RateColumn {
            name: "response rate",
            numerator: "responded",
            denominator: "delivered",
        },
        RateColumn {
            name: "enrolment rate",
            numerator: "enrolled",
            denominator: "delivered",
        },
    ]
}

const TOTAL_COL: &str = disclosure::TOTAL;

fn rate_of(report: &Report, t: &ProtectedTable, i: usize, rc: &RateColumn) -> Option<Estimate> {
    let n = t.spec.column_index(rc.numerator)?;
    let d = t.spec.column_index(rc.denominator)?;
    report.rate(t.published(i, n), t.published(i, d))
}

// ---------------------------------------------------------------- CSV

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

// ---------------------------------------------------------------- Markdown

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

// ---------------------------------------------------------------- SVG charts

const W: f64 = 640.0;

/// Horizontal bars; `None` values are drawn as a `*` marker.
fn hbar_svg(title: &str, items: &[(String, Option<u64>)]) -> String {
    let row_h = 24.0;
    let left = 220.0;
    let h = 40.0 + row_h * items.len() as f64;
    let max = items.iter().filter_map(|i| i.1).max().unwrap_or(1).max(1) as f64;
    let mut o = format!(
        "<svg class=\"chart hbar\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    let _ = write!(o, "<title>{}</title>", esc(title));
    for (k, (label, v)) in items.iter().enumerate() {
        let y = 20.0 + row_h * k as f64;
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"lbl\">{}</text>",
            left - 8.0,
            y + 16.0,
            esc(label)
        );
        match v {
            Some(v) => {
                let w = (W - left - 70.0) * (*v as f64) / max;
                let _ = write!(
                    o,
                    "<rect class=\"bar\" x=\"{left}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\"/>",
                    y + 3.0,
                    row_h - 6.0
                );
                let _ = write!(
                    o,
                    "<text x=\"{:.1}\" y=\"{}\" class=\"val\">{v}</text>",
                    left + w + 4.0,
                    y + 16.0
                );
            }
            None => {
                let _ = write!(
                    o,
                    "<text x=\"{left}\" y=\"{}\" class=\"val supp\">* suppressed</text>",
                    y + 16.0
                );
            }
        }
    }
    o.push_str("</svg>");
    o
}

/// Grouped vertical bars: two series (e.g. requested, actual).
fn grouped_svg(title: &str, series: [&str; 2], items: &[(String, [Option<u64>; 2])]) -> String {
    let h = 300.0;
    let (top, bottom, left) = (30.0, 90.0, 50.0);
    let plot_h = h - top - bottom;
    let n = items.len().max(1) as f64;
    let group_w = (W - left - 10.0) / n;
    let bar_w = (group_w * 0.8 / 2.0).min(40.0);
    let max = items
        .iter()
        .flat_map(|i| i.1.iter().flatten())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut o = format!(
        "<svg class=\"chart grouped\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    let _ = write!(o, "<title>{}</title>", esc(title));
    for (s, name) in series.iter().enumerate() {
        let _ = write!(
            o,
            "<rect class=\"s{s}\" x=\"{}\" y=\"6\" width=\"12\" height=\"12\"/><text x=\"{}\" y=\"16\" class=\"lbl\">{}</text>",
            left + 140.0 * s as f64,
            left + 16.0 + 140.0 * s as f64,
            esc(name)
        );
    }
    let base = top + plot_h;
    let _ = write!(
        o,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>",
        W - 10.0
    );
    for (k, (label, vals)) in items.iter().enumerate() {
        let gx = left + group_w * k as f64 + group_w * 0.1;
        for (s, v) in vals.iter().enumerate() {
            let x = gx + bar_w * s as f64;
            match v {
                Some(v) => {
                    let bh = plot_h * (*v as f64) / max;
                    let _ = write!(o, "<rect class=\"s{s}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{bh:.1}\"><title>{}: {v}</title></rect>", base - bh, esc(series[s]));
                }
                None => {
                    let _ = write!(
                        o,
                        "<text x=\"{:.1}\" y=\"{:.1}\" class=\"val supp\" text-anchor=\"middle\">*</text>",
                        x + bar_w / 2.0,
                        base - 4.0
                    );
                }
            }
        }
        let lx = gx + bar_w;
        let _ = write!(
            o,
            "<text class=\"lbl\" transform=\"translate({lx:.1},{:.1}) rotate(-35)\" text-anchor=\"end\">{}</text>",
            base + 14.0,
            esc(label)
        );
    }
    o.push_str("</svg>");
    o
}

/// Point estimates with interval whiskers on a common axis.
fn whisker_svg(
    title: &str,
    items: &[(String, Option<Estimate>)],
    axis: (f64, f64),
    reference: Option<f64>,
    percent: bool,
) -> String {
    let row_h = 28.0;
    let left = 200.0;
    let right = 30.0;
    let h = 60.0 + row_h * items.len() as f64;
    let (a0, a1) = axis;
    let sx = |v: f64| left + (W - left - right) * ((v - a0) / (a1 - a0)).clamp(0.0, 1.0);
    let fmt = |v: f64| {
        if percent {
            let p = v * 100.0;
            if (p - p.round()).abs() < 1e-9 {
                format!("{p:.0}%")
            } else {
                format!("{p:.1}%")
            }
        } else {
            format!("{v:.2}")
        }
    };
    let mut o = format!(
        "<svg class=\"chart whisker\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    let _ = write!(o, "<title>{}</title>", esc(title));
    let base = 20.0 + row_h * items.len() as f64;
    let _ = write!(
        o,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>",
        W - right
    );
    for k in 0..=4 {
        let v = a0 + (a1 - a0) * k as f64 / 4.0;
        let _ = write!(
            o,
            "<text x=\"{:.1}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
            sx(v),
            base + 16.0,
            fmt(v)
        );
    }
    if let Some(r) = reference {
        let _ = write!(
            o,
            "<line class=\"ref\" x1=\"{:.1}\" y1=\"10\" x2=\"{:.1}\" y2=\"{base}\"/>",
            sx(r),
            sx(r)
        );
    }
    for (k, (label, e)) in items.iter().enumerate() {
        let y = 20.0 + row_h * k as f64 + row_h / 2.0;
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"lbl\">{}</text>",
            left - 8.0,
            y + 4.0,
            esc(label)
        );
        match e {
            Some(e) => {
                let _ = write!(
                    o,
                    "<g class=\"est\"><title>{}: {} ({}–{})</title><line class=\"whisker\" x1=\"{:.1}\" y1=\"{y}\" x2=\"{:.1}\" y2=\"{y}\"/><line class=\"whisker\" x1=\"{:.1}\" y1=\"{}\" x2=\"{:.1}\" y2=\"{}\"/><line class=\"whisker\" x1=\"{:.1}\" y1=\"{}\" x2=\"{:.1}\" y2=\"{}\"/><circle class=\"pt\" cx=\"{:.1}\" cy=\"{y}\" r=\"4\"/></g>",
                    esc(label),
                    fmt(e.estimate),
                    fmt(e.lower),
                    fmt(e.upper),
                    sx(e.lower),
                    sx(e.upper),
                    sx(e.lower),
                    y - 6.0,
                    sx(e.lower),
                    y + 6.0,
                    sx(e.upper),
                    y - 6.0,
                    sx(e.upper),
                    y + 6.0,
                    sx(e.estimate)
                );
            }
            None => {
                let _ = write!(
                    o,
                    "<text x=\"{left}\" y=\"{}\" class=\"val supp\">withheld (suppressed counts)</text>",
                    y + 4.0
                );
            }
        }
    }
    o.push_str("</svg>");
    o
}

// ---------------------------------------------------------------- HTML

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

fn charts(report: &Report, kind: ReportKind) -> String {
    let mut o = String::new();
    match kind {
        ReportKind::Selection => {
            if let Some(t) = report.protected.table("selection_funnel") {
                let mut items: Vec<(String, Option<u64>)> =
                    vec![("cohort".into(), t.published(t.spec.rows.len(), 0).count())];
                items.extend(
                    (0..t.spec.rows.len()).map(|i| (t.spec.rows[i].clone(), t.published(i, 0).count())),
                );
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
        ReportKind::Uptake => {
            if let Some(t) = report.tables(kind).next() {
                let (Some(n), Some(d)) = (t.spec.column_index("enrolled"), t.spec.column_index("delivered"))
                else {
                    return o;
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
        ReportKind::Swat => {
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
        ReportKind::Returns => {
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
        ReportKind::Service => {
            if let Some(t) = report.protected.table("service_studies") {
                let (Some(r), Some(a)) = (t.spec.column_index("requested"), t.spec.column_index("invited"))
                else {
                    return o;
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
    }
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

// ---------------------------------------------------------------- files

/// Write `content` to `path` atomically through [`tabular::AtomicOutput`]:
/// a fresh, randomly named temporary created with `O_EXCL` in the same
/// directory (never a predictable `<file>.tmp` that a planted symlink could
/// redirect), fsynced, then renamed over `path`.
fn write_atomic(path: &Path, content: &str) -> Result<(), ReportError> {
    let io = |source| ReportError::Io {
        path: path.display().to_string(),
        source,
    };
    let tab = |e: tabular::TabularError| io(std::io::Error::other(e.to_string()));
    let name = path.to_str().ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the output path is not valid UTF-8",
        ))
    })?;
    let mut out = tabular::AtomicOutput::create(name, tabular::OutputMode::Replace).map_err(tab)?;
    std::io::Write::write_all(&mut out, content.as_bytes()).map_err(io)?;
    out.finish().and_then(|p| p.persist()).map_err(tab)?;
    Ok(())
}

/// Write the report set into `dir` (created if missing): `tables.json`
/// always; with CSV, one `<table>.csv` per table and `statistics.csv`;
/// with Markdown/HTML, one `<report>.md`/`.html` per report. Returns the
/// files written, in order.
pub fn write_report(report: &Report, dir: &Path, formats: Formats) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut files = Vec::new();
    let mut put = |name: String, content: String| -> Result<(), ReportError> {
        let p = dir.join(name);
        write_atomic(&p, &content)?;
        files.push(p);
        Ok(())
    };
    let json = serde_json::to_string_pretty(&report.release()).expect("release serialises") + "\n";
    put("tables.json".into(), json)?;
    if formats.csv {
        for t in &report.protected.tables {
            put(format!("{}.csv", t.spec.id), table_csv(t))?;
        }
        put("statistics.csv".into(), statistics_csv(report))?;
    }
    for kind in report.kinds() {
        if formats.markdown {
            put(format!("{}.md", kind.stem()), markdown(report, kind))?;
        }
        if formats.html {
            put(format!("{}.html", kind.stem()), html(report, kind))?;
        }
    }
    Ok(files)
}
