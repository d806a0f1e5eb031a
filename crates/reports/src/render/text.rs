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

/// A CSV text field under the one rule for every CSV trialink writes
/// (`tabular::cell`): neutralised when a spreadsheet would take it for a
/// formula, quoted when needed.
pub fn csv_text(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    tabular::cell::push_field(&mut out, tabular::cell::neutralise_str(s).as_bytes());
    String::from_utf8(out).expect("quoting UTF-8 text keeps it UTF-8")
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

#[cfg(test)]
mod tests {
    use super::csv_text;

    #[test]
    fn csv_text_follows_the_tabular_cell_rule() {
        for (raw, want) in [
            ("=SUM(A1)", "'=SUM(A1)"),
            ("+1+1", "'+1+1"),
            ("-5", "-5"),
            ("'=A1", "''=A1"),
            ("@x", "'@x"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("50-54", "50-54"),
        ] {
            assert_eq!(csv_text(raw), want, "{raw}");
            assert_eq!(
                tabular::cell::restore(&csv_text(raw).replace('"', "")),
                raw.replace('"', "")
            );
        }
    }
}
