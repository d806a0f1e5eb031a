//! Output: CSV (machine), Markdown (review), one self-contained HTML file
//! per report with inline SVG charts (people), and `tables.json` (the
//! release, for `trialink audit` and the store's release log).
//!
//! Everything written into HTML or SVG is escaped; every CSV text cell that
//! a spreadsheet would read as a formula (leading `=`, `+`, `-`, `@`, tab or
//! carriage return) is prefixed with `'`.
//!
//! * [`text`] — escaping for HTML, CSV and Markdown, and number formats;
//! * [`csv`], [`markdown`], [`html`] — one module per output format;
//! * [`svg`] — the inline charts; `charts` picks them for each report.

mod allocation;
mod charts;
pub mod csv;
pub mod html;
pub mod markdown;
mod rates;
pub mod recruitment;
pub mod svg;
pub mod text;

pub use self::csv::{statistics_csv, table_csv};
pub use self::html::html;
pub use self::markdown::markdown;
pub use self::text::{csv_text, esc};

use crate::build::{Report, ReportError};
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

impl Formats {
    /// Parse a comma-separated list of `csv`, `md` (or `markdown`) and
    /// `html`; an unknown name is returned as the error.
    pub fn parse(list: &str) -> Result<Formats, String> {
        let mut f = Formats {
            csv: false,
            markdown: false,
            html: false,
        };
        for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match part {
                "csv" => f.csv = true,
                "md" | "markdown" => f.markdown = true,
                "html" => f.html = true,
                _ => return Err(part.to_string()),
            }
        }
        Ok(f)
    }
}

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
