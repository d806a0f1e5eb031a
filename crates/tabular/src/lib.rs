//! CSV input and output for trialink: column mapping, positions for errors,
//! rejects files, run manifests and atomic writes.
//!
//! * [`Source`] reads a CSV (a path or `-` for stdin) as byte records, hashing
//!   the bytes as they stream past (BLAKE3) and reporting positions (record,
//!   line, byte) — never values — in errors. [`Source::column`] finds a column
//!   by explicit name or by case-insensitive candidate names.
//! * [`AtomicOutput`] writes to a temporary file beside the target, hashes
//!   what it writes, and renames into place only when the run succeeds; it
//!   never overwrites unless asked. `-` writes to stdout.
//! * [`Rejects`] writes `<output>.rejects.csv` (line, column, reason code).
//! * [`Manifest`] is `<output>.manifest.json` (DESIGN §4.7).
//! * [`neutralise`] defuses spreadsheet formula injection in cells a person
//!   may open.
//!
//! ```no_run
//! use tabular::{Source, AtomicOutput, OutputMode};
//! let mut src = Source::open("cohort.csv").unwrap();
//! let nhs = src.column(None, &["nhs_number", "nhs_no"], "NHS number").unwrap();
//! let mut out = AtomicOutput::create("tokens.csv", OutputMode::New).unwrap();
//! let mut rec = csv::ByteRecord::new();
//! while src.read(&mut rec).unwrap() {
//!     let _field = &rec[nhs];
//! }
//! let pending = out.finish().unwrap();
//! pending.persist().unwrap();
//! ```

#![forbid(unsafe_code)]

mod csvread;
mod error;
#[cfg(any(fuzzing, test))]
pub mod fuzz_hooks;
mod input;
pub mod limited;
mod manifest;
mod output;
pub mod parquet;
mod rejects;
mod time;

pub use csvread::{Limits, DEFAULT_MAX_COLUMNS, DEFAULT_MAX_RECORD_BYTES};
pub use error::TabularError;
pub use input::{default_limits, display_header, set_default_limits, InputSummary, Position, Source};
pub use manifest::{FileRecord, KeyRecord, Manifest, RowCounts};
pub use output::{claim_sidecars, sidecar_path, AtomicOutput, OutputMode, OutputSummary, PendingOutput};
pub use parquet::{Format, TableOutput};
pub use rejects::{FinishedRejects, Rejects};
pub use time::now_rfc3339;

/// Prefix a cell that a spreadsheet would run as a formula (`=`, `+`, `-`,
/// `@`, tab, carriage return at the start) with a single quote, as OWASP
/// recommends for CSV files people open. Plain signed numbers (`-5`, `+1.5`)
/// and other cells are returned unchanged.
pub fn neutralise(cell: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let signed_number = |rest: &[u8]| {
        !rest.is_empty()
            && rest.iter().all(|c| c.is_ascii_digit() || *c == b'.')
            && rest.iter().filter(|&&c| c == b'.').count() <= 1
            && rest[0].is_ascii_digit()
    };
    match cell.first() {
        Some(b'+' | b'-') if signed_number(&cell[1..]) => std::borrow::Cow::Borrowed(cell),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => {
            let mut v = Vec::with_capacity(cell.len() + 1);
            v.push(b'\'');
            v.extend_from_slice(cell);
            std::borrow::Cow::Owned(v)
        }
        _ => std::borrow::Cow::Borrowed(cell),
    }
}

/// Fuzzing hook: read arbitrary bytes as a CSV with column lookup; never panics.
#[doc(hidden)]
pub mod hooks {
    /// Parse `data` as a CSV source and walk every record.
    pub fn read_any(data: &[u8]) {
        if let Ok(mut src) = crate::Source::from_reader("fuzz", Box::new(std::io::Cursor::new(data.to_vec())))
        {
            let _ = src.column(None, &["nhs_number", "nhs_no"], "NHS number");
            let mut rec = csv::ByteRecord::new();
            while let Ok(true) = src.read(&mut rec) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralise_formulae() {
        assert_eq!(&*neutralise(b"=SUM(A1)"), b"'=SUM(A1)");
        assert_eq!(&*neutralise(b"@cmd"), b"'@cmd");
        assert_eq!(&*neutralise(b"+1"), b"+1");
        assert_eq!(&*neutralise(b"-1.5"), b"-1.5");
        assert_eq!(&*neutralise(b"-1+2"), b"'-1+2");
        assert_eq!(&*neutralise(b"+A1"), b"'+A1");
        assert_eq!(&*neutralise(b"-"), b"'-");
        assert_eq!(&*neutralise(b"Smith"), b"Smith");
        assert_eq!(&*neutralise(b""), b"");
    }
}
