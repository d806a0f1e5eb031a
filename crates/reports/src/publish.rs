//! Publishing a release: read the report input (from a JSON file, or the
//! store), protect it against every earlier release the store has
//! published, record it in the store's release log and write its files —
//! recorded only if its files are written.

use crate::build::store_error;
use crate::build::{build, Options, Report, ReportError};
use crate::data::ReportInput;
use crate::render::{write_report, Formats};
use disclosure::{Policy, Release};
use std::path::{Path, PathBuf};

/// The store's release-log table name for a study's report release.
pub const RELEASE_TABLE: &str = "report-release";

/// The release-log key of the service evaluation (a key no study can have:
/// study ids are lowercase trial scopes without a colon).
pub use crate::store_input::SERVICE_KEY;

/// The release-log table name of the service evaluation.
pub const SERVICE_TABLE: &str = "service-release";

/// Read a report input from a JSON file (size-capped); errors give the
/// line and column and what is wrong, never a value.
pub fn read_input(path: &Path) -> Result<ReportInput, ReportError> {
    let text = tabular::limited::read_to_string(path, tabular::limited::REPORT_JSON).map_err(|source| {
        ReportError::Read {
            path: path.display().to_string(),
            source,
        }
    })?;
    serde_json::from_str(&text).map_err(|e| ReportError::InputFile {
        path: path.display().to_string(),
        line: e.line(),
        column: e.column(),
        what: match e.classify() {
            serde_json::error::Category::Data => {
                "a value has the wrong type or a field is missing or unknown"
            }
            serde_json::error::Category::Eof => "the JSON ends early",
            _ => "not valid JSON",
        }
        .into(),
    })
}

/// Every release of every study and of the service series in the store: a
/// reader holds them all, so a new release is protected against all of them.
pub fn earlier_releases(store: &store::Store) -> Result<Vec<Release>, ReportError> {
    store
        .all_releases(&[RELEASE_TABLE, SERVICE_TABLE])
        .map_err(store_error("reading the release log"))?
        .into_iter()
        .enumerate()
        .map(|(k, (_, _, _, content))| {
            serde_json::from_str::<Release>(&content).map_err(|_| ReportError::ReleaseLog { entry: k + 1 })
        })
        .collect()
}

/// Protect `input` as the next release (against every earlier release in
/// `store`, when given), record it in the store's release log under
/// `release_table` and write its files into `out`, together: the release
/// is logged only if its files are written. Returns the report and the
/// files written.
pub fn publish(
    mut store: Option<&mut store::Store>,
    input: &ReportInput,
    policy: &Policy,
    options: Options,
    release_table: &str,
    out: &Path,
    formats: Formats,
) -> Result<(Report, Vec<PathBuf>), ReportError> {
    let earlier = match store.as_deref() {
        Some(s) => earlier_releases(s)?,
        None => Vec::new(),
    };
    let report = build(input, policy, &earlier, options)?;
    let json = serde_json::to_string(&report.release()).expect("release serialises");
    if let Some(s) = store.as_deref_mut() {
        s.begin().map_err(store_error("starting a store transaction"))?;
        if let Err(e) = s.log_release(&input.study, release_table, &policy.name, &json) {
            let _ = s.rollback();
            return Err(store_error("recording the release")(e));
        }
    }
    let files = match write_report(&report, out, formats) {
        Ok(f) => f,
        Err(e) => {
            if let Some(s) = store.as_deref_mut() {
                let _ = s.rollback();
            }
            return Err(e);
        }
    };
    if let Some(s) = store {
        s.commit().map_err(store_error("recording the release"))?;
    }
    Ok((report, files))
}
