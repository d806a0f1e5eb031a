//! Escaping for HTML, CSV and Markdown text, and how numbers are shown.

use crate::stats::Estimate;

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
pub fn md(s: &str) -> String {
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

pub fn pct(e: &Estimate) -> String {
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
pub fn p_eq(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("= {p:.3}")
    }
}

pub fn p_fmt(p: f64) -> String {
    if p < 0.001 {
        "<0.001".into()
    } else {
        format!("{p:.3}")
    }
}
