//! The files written beside a feedback or returns input: the notes (line,
//! column and outcome of every row not matched or rejected, never a value)
//! and the run's manifest. Earlier sidecars are never replaced without
//! `force`, checked before the store is touched.

use crate::feedback::{FileResult, Note, ReturnCounts};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use tabular::{FileRecord, KeyRecord, Manifest, OutputMode, RowCounts, TabularError};

/// Suffixes of `trialink uptake`'s sidecars.
pub const UPTAKE: [&str; 2] = [".uptake.csv", ".uptake.manifest.json"];
/// Suffixes of `trialink returns`' sidecars.
pub const RETURNS: [&str; 2] = [".returns.csv", ".returns.manifest.json"];

/// Refuse, before anything is recorded, to replace the sidecars
/// (`<input><suffix>` for each suffix) of an earlier run unless `force`.
pub fn claim(inputs: &[PathBuf], suffixes: &[&str], force: bool) -> Result<OutputMode, TabularError> {
    let paths: Vec<PathBuf> = inputs
        .iter()
        .flat_map(|i| suffixes.iter().map(move |s| tabular::sidecar_path(i, s)))
        .collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    tabular::claim_sidecars(&refs, force)
}

/// Write `<input><suffix>` with `line,column,outcome` rows (`mode` from
/// [`claim`]).
pub fn write_notes(
    input: &Path,
    suffix: &str,
    notes: &[Note],
    mode: OutputMode,
) -> Result<tabular::OutputSummary, TabularError> {
    let path = tabular::sidecar_path(input, suffix);
    let p = path.to_string_lossy().into_owned();
    let mut out = tabular::AtomicOutput::create(&p, mode)?;
    let mut text = String::from("line,column,outcome\n");
    for n in notes {
        text.push_str(&format!("{},{},{}\n", n.line, n.column, n.outcome));
    }
    out.write_all(text.as_bytes())
        .map_err(|source| TabularError::Write { path, source })?;
    out.finish().and_then(|o| o.persist())
}

/// Rejected rows by reason: every note whose outcome is not one of `not`.
fn by_reason(notes: &[Note], not: &[&str]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for n in notes.iter().filter(|n| !not.contains(&n.outcome)) {
        *m.entry(n.outcome.to_string()).or_insert(0u64) += 1;
    }
    m
}

/// The manifest of one uptake file, written beside it.
pub fn uptake_manifest(
    store: &Path,
    study: &str,
    input: &Path,
    r: &FileResult,
    notes: &tabular::OutputSummary,
) -> Result<PathBuf, TabularError> {
    let scope = format!("trial:{study}");
    let c = &r.counts;
    let mut m = Manifest::new("uptake", env!("CARGO_PKG_VERSION"));
    m.option("store", store.display().to_string());
    m.option("study", study.to_string());
    m.option("input", input.display().to_string());
    m.scope = Some(scope.clone());
    m.key_fingerprint = r.fingerprint.clone();
    m.keys = vec![KeyRecord {
        role: "study".into(),
        scope: Some(scope),
        fingerprint: r.fingerprint.clone().unwrap_or_default(),
    }];
    m.inputs.push(FileRecord::input("feedback", &r.input));
    m.outputs
        .push(FileRecord::output("notes", notes, Some(r.notes.len() as u64)));
    m.rows = RowCounts {
        rows_in: c.rows_in,
        rows_out: c.rows_in - c.rejected,
        rows_rejected: c.rejected,
        rejected_by_reason: by_reason(
            &r.notes,
            &["unmatched_reference", "unmatched_token", "other_study", "qa_seed"],
        ),
    };
    m.extra.insert(
        "counts".into(),
        serde_json::to_value(c).expect("counts serialise"),
    );
    m.extra
        .insert("manifest_checked".into(), r.manifest_checked.into());
    let path = tabular::sidecar_path(input, UPTAKE[1]);
    m.write(&path)?;
    Ok(path)
}

/// The manifest of one returns file, written beside it.
pub fn returns_manifest(
    store: &Path,
    input: &Path,
    c: &ReturnCounts,
    read: &tabular::InputSummary,
    notes: &[Note],
    written: &tabular::OutputSummary,
) -> Result<PathBuf, TabularError> {
    let mut m = Manifest::new("returns", env!("CARGO_PKG_VERSION"));
    m.option("store", store.display().to_string());
    m.option("input", input.display().to_string());
    m.inputs.push(FileRecord::input("returns", read));
    m.outputs
        .push(FileRecord::output("notes", written, Some(notes.len() as u64)));
    m.rows = RowCounts {
        rows_in: c.rows_in,
        rows_out: c.rows_in - c.rejected,
        rows_rejected: c.rejected,
        rejected_by_reason: by_reason(notes, &["unknown_reference", "qa_seed"]),
    };
    m.extra.insert(
        "counts".into(),
        serde_json::to_value(c).expect("counts serialise"),
    );
    let path = tabular::sidecar_path(input, RETURNS[1]);
    m.write(&path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_reasons_leave_out_the_unmatched() {
        let n = |outcome| Note {
            line: 2,
            column: String::new(),
            outcome,
        };
        let m = by_reason(
            &[n("bad_date"), n("qa_seed"), n("bad_date"), n("bad_status")],
            &["qa_seed"],
        );
        assert_eq!(
            m,
            BTreeMap::from([("bad_date".into(), 2), ("bad_status".into(), 1)])
        );
    }
}
