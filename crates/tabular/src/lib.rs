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
//! * [`Manifest`] is `<output>.manifest.json` (format: `docs/formats.md`).
//! * [`RunOutputs`] holds a run's output, rejects and manifest and commits
//!   them in the safe order (sidecars first, the output last).
//! * [`run_ordered`] is the one parallel row pipeline: batches read here,
//!   a [`RowJob`] run on worker threads, outputs handed back in input order.
//! * [`cell`] holds the one CSV quoting rule and the one formula-defusing
//!   rule ([`neutralise`]) for cells a person may open.
//! * [`columns`] lists the names each identifying column is found by.
//! * [`calendar`] is the day-count calendar every date in trialink uses.
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

mod batch;
pub mod calendar;
pub mod cell;
pub mod columns;
mod csvread;
mod error;
pub mod format;
#[cfg(any(fuzzing, test))]
pub mod fuzz_hooks;
mod input;
pub mod limited;
mod manifest;
mod output;
pub mod parquet;
mod rejects;
mod run;
mod time;

pub use batch::{run_ordered, BatchOut, CellRows, Reject, RowCells, RowJob, RowsOut, BATCH_ROWS};
pub use cell::{neutralise, neutralise_str};
/// The record type every reader here fills.
pub use csv::ByteRecord;
pub use csvread::{Limits, DEFAULT_MAX_COLUMNS, DEFAULT_MAX_RECORD_BYTES};
pub use error::TabularError;
pub use format::{default_format, set_default_format, Format};
pub use input::{default_limits, display_header, set_default_limits, InputSummary, Position, Source};
pub use manifest::{FileRecord, KeyRecord, Manifest, RowCounts};
pub use output::{claim_sidecars, sidecar_path, AtomicOutput, OutputMode, OutputSummary, PendingOutput};
pub use parquet::TableOutput;
pub use rejects::{FinishedRejects, Rejects};
pub use run::{sidecar, Committed, OutputPlan, RunOutputs, Say};
pub use time::now_rfc3339;

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
