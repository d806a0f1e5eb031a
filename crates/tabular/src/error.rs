//! Errors: positions and column names, never values from the data.

use std::path::PathBuf;

/// Errors from reading and writing tabular files.
#[derive(Debug, thiserror::Error)]
pub enum TabularError {
    /// The input could not be opened.
    #[error("{path}: cannot open: {source}")]
    Open { path: String, source: std::io::Error },
    /// The input has no header row.
    #[error("{path}: the file is empty (expected a header row)")]
    Empty { path: String },
    /// A header name is not UTF-8.
    #[error("{path}: line 1, column {column}: header name is not UTF-8")]
    HeaderNotUtf8 { path: String, column: usize },
    /// Two header names are the same (case-insensitively).
    #[error("{path}: line 1: columns {first} and {second} have the same name")]
    DuplicateHeader {
        path: String,
        first: usize,
        second: usize,
    },
    /// No column matched the candidates.
    #[error("{path}: no {what} column found; tried {tried}; the header has: {header}")]
    MissingColumn {
        path: String,
        what: String,
        tried: String,
        header: String,
    },
    /// Several columns matched the candidates.
    #[error("{path}: more than one column could be the {what} column: {matches}")]
    AmbiguousColumn {
        path: String,
        what: String,
        matches: String,
    },
    /// An explicitly named column is not in the header.
    #[error("{path}: no column named `{name}`; the header has: {header}")]
    NoSuchColumn {
        path: String,
        name: String,
        header: String,
    },
    /// A column asked to be passed through is an identifier column.
    #[error("--keep {name}: that is an identifier column and never leaves the input")]
    KeepIdentifier { name: String },
    /// A column asked to be passed through is asked for twice.
    #[error("--keep {name} is given twice")]
    KeepTwice { name: String },
    /// The CSV reader failed at a position.
    #[error("{path}: line {line} (record {record}, byte {byte}): {what}")]
    Read {
        path: String,
        line: u64,
        record: u64,
        byte: u64,
        what: String,
    },
    /// End of file inside a quoted field.
    #[error("{path}: line {line} (record {record}): a quoted field opens here and is never closed; the rest of the file would be read as one cell")]
    UnclosedQuote { path: String, line: u64, record: u64 },
    /// A record longer than the record-size limit.
    #[error("{path}: line {line} (record {record}): the row is longer than {limit} bytes (the record-size limit){note}")]
    RecordTooLong {
        path: String,
        line: u64,
        record: u64,
        limit: usize,
        note: String,
    },
    /// A record with more fields than the column limit.
    #[error(
        "{path}: line {line} (record {record}): the row has more than {limit} columns (the column limit)"
    )]
    TooManyColumns {
        path: String,
        line: u64,
        record: u64,
        limit: usize,
    },
    /// The output exists and overwriting was not asked for.
    #[error("{}: already exists; refusing to overwrite", path.display())]
    OutputExists { path: PathBuf },
    /// A sidecar of an earlier run (rejects, notes, manifest) is in the way.
    #[error("{}: already exists (written by an earlier run); refusing to replace it", path.display())]
    SidecarExists { path: PathBuf },
    /// The output's directory does not exist or is not writable.
    #[error("{}: cannot write: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    /// A Parquet file could not be read or written (row group and row where known).
    #[error("{path}: {what}")]
    Parquet { path: String, what: String },
    /// A table's format is not the one it would be read or written as.
    #[error("{path}: {what}")]
    FormatMismatch { path: String, what: String },
    /// A Parquet path given to a build without Parquet support.
    #[error("{path}: this trialink was built without Parquet support")]
    ParquetUnavailable { path: String },
    /// A manifest could not be read.
    #[error("{}: not a valid trialink manifest: {what}", path.display())]
    Manifest { path: PathBuf, what: String },
    /// A worker thread of the row pipeline stopped without finishing.
    #[error("a worker thread failed")]
    WorkerFailed,
}

impl TabularError {
    /// What the user should do next.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            TabularError::MissingColumn { .. } | TabularError::NoSuchColumn { .. } => {
                "name the column explicitly with the command's --*-column option"
            }
            TabularError::AmbiguousColumn { .. } => {
                "name the column explicitly with the command's --*-column option"
            }
            TabularError::SidecarExists { .. } => {
                "it records an earlier run's rejects or counts: move it away to keep it, or pass --force to replace it"
            }
            TabularError::KeepIdentifier { .. } => {
                "keep only non-identifying columns such as a reference or status"
            }
            TabularError::OutputExists { .. } => "choose a new output path, or remove the old file first",
            TabularError::Empty { .. } => "the first row must be a header naming the columns",
            TabularError::DuplicateHeader { .. } => {
                "rename one of the columns so every header name is unique"
            }
            TabularError::UnclosedQuote { .. } => {
                "close the quote (a quote inside a quoted field is written twice, \"\"), or remove the stray quote, then run again"
            }
            TabularError::RecordTooLong { .. } => {
                "check this is a CSV file with one record per line; if rows really are this long, raise the limit with --max-record-bytes"
            }
            TabularError::TooManyColumns { .. } => {
                "check the delimiter is a comma and the file is the expected CSV; no trialink input has this many columns"
            }
            TabularError::Read { .. } => "check the file is a comma-separated CSV with a header row",
            TabularError::Parquet { .. } => {
                "check the file is a Parquet file with columns of strings, numbers, booleans or dates"
            }
            TabularError::FormatMismatch { .. } => {
                "name the file for its format (.csv; .parquet, .parq or .pq), or say which it is with --format csv|parquet"
            }
            TabularError::ParquetUnavailable { .. } => {
                "convert the file to CSV, or use a trialink built with `--features parquet`"
            }
            _ => return None,
        })
    }
}
