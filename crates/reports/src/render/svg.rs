//! Inline SVG charts: horizontal bars, grouped bars, estimates with
//! interval whiskers, and cumulative lines over time. Every label is
//! escaped; suppressed values are drawn as markers, never as numbers.

use super::text::esc;
use crate::stats::Estimate;
use std::fmt::Write as _;

/// Chart width.
pub const W: f64 = 640.0;

/// Horizontal bars; `None` values are drawn as a `*` marker.
pub fn hbar_svg(title: &str, items: &[(String, Option<u64>)]) -> String {
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
pub fn grouped_svg(title: &str, series: [&str; 2], items: &[(String, [Option<u64>; 2])]) -> String {
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
pub fn whisker_svg(
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

/// Series colours of [`line_svg`] (presentation attributes: the page's
/// style sheet is shared by every report).
const LINE_COLOURS: [&str; 4] = ["#005eb8", "#768692", "#ed8b00", "#009639"];

/// Cumulative lines over time, one per series, with horizontal target
/// lines. A `None` point (a value readers cannot derive) breaks its line.
pub fn line_svg(
    title: &str,
    x_labels: &[String],
    series: &[(String, Vec<Option<u64>>)],
    targets: &[(String, u64)],
) -> String {
    let h = 320.0;
    let (top, bottom, left, right) = (40.0, 70.0, 70.0, 20.0);
    let plot_h = h - top - bottom;
    let max = series
        .iter()
        .flat_map(|s| s.1.iter().flatten())
        .chain(targets.iter().map(|t| &t.1))
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.05;
    let n = x_labels.len().max(1);
    let step = if n > 1 {
        (W - left - right) / (n - 1) as f64
    } else {
        0.0
    };
    let x = |k: usize| left + step * k as f64 + if n == 1 { (W - left - right) / 2.0 } else { 0.0 };
    let y = |v: f64| top + plot_h * (1.0 - v / max);
    let mut o = format!(
        "<svg class=\"chart line\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    let _ = write!(o, "<title>{}</title>", esc(title));
    let base = top + plot_h;
    let _ = write!(
        o,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/><line class=\"axis\" x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{base}\"/>",
        W - right
    );
    for k in 0..=4 {
        let v = max / 1.05 * k as f64 / 4.0;
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{:.0}</text>",
            left - 6.0,
            y(v) + 4.0,
            v
        );
    }
    for (k, l) in x_labels.iter().enumerate() {
        let _ = write!(
            o,
            "<text class=\"tick\" transform=\"translate({:.1},{:.1}) rotate(-35)\" text-anchor=\"end\">{}</text>",
            x(k),
            base + 14.0,
            esc(l)
        );
    }
    for (name, v) in targets {
        let _ = write!(
            o,
            "<line class=\"ref\" x1=\"{left}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\"><title>{}: {v}</title></line><text x=\"{}\" y=\"{:.1}\" class=\"val\" text-anchor=\"end\">{}: {v}</text>",
            y(*v as f64),
            W - right,
            y(*v as f64),
            esc(name),
            W - right,
            y(*v as f64) - 4.0,
            esc(name)
        );
    }
    for (s, (name, points)) in series.iter().enumerate() {
        let colour = LINE_COLOURS[s % LINE_COLOURS.len()];
        let _ = write!(
            o,
            "<rect x=\"{}\" y=\"8\" width=\"12\" height=\"12\" fill=\"{colour}\"/><text x=\"{}\" y=\"18\" class=\"lbl\">{}</text>",
            left + 120.0 * s as f64,
            left + 16.0 + 120.0 * s as f64,
            esc(name)
        );
        let mut run: Vec<String> = Vec::new();
        let flush = |run: &mut Vec<String>, o: &mut String| {
            if run.len() > 1 {
                let _ = write!(
                    o,
                    "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
                    run.join(" ")
                );
            }
            run.clear();
        };
        for (k, p) in points.iter().enumerate() {
            match p {
                Some(v) => {
                    run.push(format!("{:.1},{:.1}", x(k), y(*v as f64)));
                    let _ = write!(
                        o,
                        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"><title>{} to {}: {v}</title></circle>",
                        x(k),
                        y(*v as f64),
                        esc(name),
                        esc(&x_labels[k])
                    );
                }
                None => flush(&mut run, &mut o),
            }
        }
        flush(&mut run, &mut o);
    }
    o.push_str("</svg>");
    o
}
