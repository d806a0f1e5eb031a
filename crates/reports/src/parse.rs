//! Reading published tables back, for `trialink audit`: a release file
//! (`tables.json`, [`read_release`]) and a CSV table ([`read_table_csv`]),
//! the exact inverse of the CSV the renderer writes.
//!
//! The first column holds the row labels, the other columns one category
//! each; a last row labelled `Total` and a last column headed `Total` are
//! sums; suppressed cells are `*`. Labels were written through the one CSV
//! cell-safety rule ([`tabular::cell::neutralise`]); they are read back
//! through its exact inverse ([`tabular::cell::restore`]), so a label that
//! really starts with `'` keeps it. Errors give the file, line and column,
//! never a cell's value.

use disclosure::{Published, PublishedTable, Release, TableSpec, RELEASE_FORMAT, TOTAL};
use std::path::{Path, PathBuf};
use tabular::{Source, TabularError};

/// Why a release file could not be read. Never quotes the file's content.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseFileError {
    /// Unreadable, too large, or not a regular file.
    #[error("reading {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// Not a release in JSON (by category only: serde_json's messages
    /// quote values from the file).
    #[error("{}:{line}:{column}: {what}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        what: &'static str,
    },
    /// A release of another format version.
    #[error("{}: format is not `{RELEASE_FORMAT}`", path.display())]
    Format { path: PathBuf },
    /// The tables are inconsistent.
    #[error("{}: {what}", path.display())]
    Invalid { path: PathBuf, what: String },
}

/// What was wrong with a release file, by serde_json's category only.
fn classify(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match e.classify() {
        Category::Io => "could not be read",
        Category::Syntax => "not valid JSON",
        Category::Eof => "ends before the JSON is complete",
        Category::Data => {
            "a value has the wrong type or a field is missing or unknown (expected a release: format, study, sequence, policy, tables with spec and cells of non-negative counts or \"*\")"
        }
    }
}

/// Read a release file (`tables.json`). It may come from anywhere: it is
/// bounded like every whole-file input (the report JSON cap), and a FIFO
/// or device is refused.
pub fn read_release(path: &Path) -> Result<Release, ReleaseFileError> {
    let p = || path.to_path_buf();
    let cap = tabular::limited::Cap {
        regular_only: true,
        ..tabular::limited::REPORT_JSON
    };
    let text = tabular::limited::read_to_string(path, cap)
        .map_err(|source| ReleaseFileError::Read { path: p(), source })?;
    let r: Release = serde_json::from_str(&text).map_err(|e| ReleaseFileError::Json {
        path: p(),
        line: e.line(),
        column: e.column(),
        what: classify(&e),
    })?;
    if r.format != RELEASE_FORMAT {
        return Err(ReleaseFileError::Format { path: p() });
    }
    r.validate().map_err(|e| ReleaseFileError::Invalid {
        path: p(),
        what: e.to_string(),
    })?;
    Ok(r)
}

/// Why a CSV table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TableCsvError {
    /// The file could not be read as a CSV.
    #[error(transparent)]
    Csv(#[from] TabularError),
    /// A line has a different number of fields from the header.
    #[error("{}: line {line}: wrong number of fields", path.display())]
    Ragged { path: PathBuf, line: u64 },
    /// A cell is not UTF-8.
    #[error("{}: line {line}, column {column}: not valid UTF-8", path.display())]
    NotUtf8 { path: PathBuf, line: u64, column: usize },
    /// Too little to be a table.
    #[error("{}: expected a label column, at least one count column and one row", path.display())]
    TooSmall { path: PathBuf },
    /// A cell is neither a count nor `*`.
    #[error("{}: line {line}, column {column}: expected a count or `*`", path.display())]
    NotACount { path: PathBuf, line: u64, column: usize },
    /// The labels do not make a table.
    #[error("{}: {what}", path.display())]
    Invalid { path: PathBuf, what: String },
}

impl TableCsvError {
    /// What the user should do next.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            TableCsvError::Csv(e) => e.hint(),
            TableCsvError::Ragged { .. } => Some("every line needs the same number of fields"),
            TableCsvError::Invalid { .. } => Some("row and column labels must be unique and non-empty"),
            _ => None,
        }
    }
}

fn label(s: &str) -> String {
    tabular::cell::restore(s.trim()).to_string()
}

/// Read one CSV table; `exempt` names columns that hold quotas, not counts
/// of people. The table's id is the file's stem.
pub fn read_table_csv(path: &Path, exempt: &[String]) -> Result<PublishedTable, TableCsvError> {
    let p = path.to_path_buf();
    let mut src = Source::open(&path.to_string_lossy())?;
    let header = src.header().to_vec();
    let mut rows = Vec::new();
    let mut cells = Vec::new();
    let mut rec = tabular::ByteRecord::new();
    while src.read(&mut rec)? {
        let line = src.position().line;
        if rec.len() != header.len() {
            return Err(TableCsvError::Ragged { path: p, line });
        }
        let text = |j: usize| {
            std::str::from_utf8(&rec[j]).map_err(|_| TableCsvError::NotUtf8 {
                path: p.clone(),
                line,
                column: j + 1,
            })
        };
        rows.push(label(text(0)?));
        let mut row = Vec::with_capacity(header.len() - 1);
        for j in 1..header.len() {
            let v = text(j)?.trim();
            row.push(if v == "*" {
                Published::Suppressed
            } else {
                Published::Count(v.parse().map_err(|_| TableCsvError::NotACount {
                    path: p.clone(),
                    line,
                    column: j + 1,
                })?)
            });
        }
        cells.push(row);
    }
    if header.len() < 2 || rows.is_empty() {
        return Err(TableCsvError::TooSmall { path: p });
    }
    let mut columns: Vec<String> = header.iter().skip(1).map(|s| label(s)).collect();
    let total_column = columns.last().is_some_and(|c| c == TOTAL);
    if total_column {
        columns.pop();
    }
    let total_row = rows.last().is_some_and(|r| r == TOTAL);
    if total_row {
        rows.pop();
    }
    let spec = TableSpec {
        id: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "table".into()),
        title: String::new(),
        row_header: label(&header[0]),
        rows,
        columns,
        total_row,
        total_column,
        column_order: vec![],
        exempt_columns: exempt.to_vec(),
        cumulative: false,
        may_fall: vec![],
        shared: vec![],
        row_sums: vec![],
        weighted_sums: vec![],
        quotes: vec![],
        running_order: vec![],
        running_cumulative: false,
    };
    let t = PublishedTable { spec, cells };
    t.validate().map_err(|e| TableCsvError::Invalid {
        path: path.to_path_buf(),
        what: e.to_string(),
    })?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<PublishedTable, TableCsvError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("uptake.csv");
        std::fs::write(&p, text).unwrap();
        read_table_csv(&p, &[])
    }

    #[test]
    fn labels_read_back_exactly() {
        let t = read("Arm,Invited,Total\n'=A,5,5\n'quoted,*,3\n'-x,1,1\nTotal,9,9\n").unwrap();
        assert_eq!(t.spec.rows, vec!["=A", "'quoted", "-x"]);
        assert_eq!(t.spec.columns, vec!["Invited"]);
        assert!(t.spec.total_row && t.spec.total_column);
        assert_eq!(t.cells[1][0], Published::Suppressed);
        assert_eq!(t.spec.id, "uptake");
    }

    #[test]
    fn release_errors_name_positions_not_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tables.json");
        std::fs::write(&p, r#"{"format": "trialink-release-v1", "study": 9991335056}"#).unwrap();
        let e = read_release(&p).unwrap_err();
        assert!(matches!(e, ReleaseFileError::Json { line: 1, .. }), "{e}");
        assert!(!e.to_string().contains("9991335056"));
        std::fs::write(&p, "{").unwrap();
        assert!(e.to_string().contains("tables.json:1:"));
        assert!(matches!(
            read_release(&p).unwrap_err(),
            ReleaseFileError::Json {
                what: "ends before the JSON is complete",
                ..
            }
        ));
        assert!(matches!(
            read_release(dir.path()).unwrap_err(),
            ReleaseFileError::Read { .. }
        ));
    }

    #[test]
    fn errors_name_positions_not_values() {
        let e = read("Arm,Invited\nA,5\nB,9991335056x\n").unwrap_err();
        assert!(
            matches!(
                e,
                TableCsvError::NotACount {
                    line: 3,
                    column: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert!(!e.to_string().contains("9991335056"));
        assert!(matches!(
            read("Arm,Invited\nA\n").unwrap_err(),
            TableCsvError::Ragged { line: 2, .. }
        ));
        assert!(matches!(
            read("Arm\nA\n").unwrap_err(),
            TableCsvError::TooSmall { .. }
        ));
        assert!(matches!(
            read("Arm,X\nA,1\nA,2\n").unwrap_err(),
            TableCsvError::Invalid { .. }
        ));
    }
}
