//! Run manifests, `<output>.manifest.json` (docs/formats.md (manifest)).

use crate::error::TabularError;
use crate::input::InputSummary;
use crate::output::{write_small, OutputMode, OutputSummary};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A file read or written by a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRecord {
    /// What the file is to the command (`input`, `output`, `rejects`, …).
    pub role: String,
    /// The path as given.
    pub path: String,
    /// BLAKE3 digest, hex.
    pub blake3: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Data rows (header excluded), where the file is a table.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rows: Option<u64>,
    /// The table format (`csv` or `parquet`), where the file is a table
    /// read or written as one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub format: Option<String>,
}

impl FileRecord {
    /// From an input summary.
    pub fn input(role: &str, s: &InputSummary) -> FileRecord {
        FileRecord {
            role: role.into(),
            path: s.path.clone(),
            blake3: s.blake3.clone(),
            bytes: s.bytes,
            rows: Some(s.rows),
            format: s.format.map(|f| f.as_str().to_string()),
        }
    }
    /// From an output summary.
    pub fn output(role: &str, s: &OutputSummary, rows: Option<u64>) -> FileRecord {
        FileRecord {
            role: role.into(),
            path: s.path.clone(),
            blake3: s.blake3.clone(),
            bytes: s.bytes,
            rows,
            format: s.format.map(|f| f.as_str().to_string()),
        }
    }
}

/// A key used by a run: its role, scope and fingerprint (never the key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyRecord {
    /// What the key did (`token`, `master`, `clk`, …).
    pub role: String,
    /// The scope, where known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
    /// The 16-hex-character fingerprint.
    pub fingerprint: String,
}

/// Row accounting: `rows_in = rows_out + rows_rejected`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RowCounts {
    #[serde(rename = "in")]
    pub rows_in: u64,
    #[serde(rename = "out")]
    pub rows_out: u64,
    #[serde(rename = "rejected")]
    pub rows_rejected: u64,
    /// Rejected rows by reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
}

impl RowCounts {
    /// Whether every row is accounted for.
    pub fn balanced(&self) -> bool {
        self.rows_in == self.rows_out + self.rows_rejected
            && self.rejected_by_reason.values().sum::<u64>() == self.rows_rejected
    }
}

/// The manifest of one run. Options hold no secrets (key *paths* and
/// fingerprints only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub tool: String,
    pub version: String,
    /// The subcommand, e.g. `pseudonymise`.
    pub command: String,
    /// Options as given (no secrets).
    pub options: BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub as_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seed: Option<u64>,
    /// The scope of the tokens written, where known (docs/formats.md (token file)).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
    /// The fingerprint of the key the tokens were made with (docs/formats.md (token file)).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key_fingerprint: Option<String>,
    /// Every key used.
    #[serde(default)]
    pub keys: Vec<KeyRecord>,
    pub inputs: Vec<FileRecord>,
    pub outputs: Vec<FileRecord>,
    pub rows: RowCounts,
    /// Command-specific facts (CLK schema digest, hardening options, …).
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
    pub started: String,
    pub finished: String,
}

impl Manifest {
    /// A manifest for `command`, started now.
    pub fn new(command: &str, version: &str) -> Manifest {
        Manifest {
            tool: "trialink".into(),
            version: version.into(),
            command: command.into(),
            options: BTreeMap::new(),
            as_of: None,
            seed: None,
            scope: None,
            key_fingerprint: None,
            keys: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            rows: RowCounts::default(),
            extra: BTreeMap::new(),
            started: crate::time::now_rfc3339(),
            finished: String::new(),
        }
    }

    /// Record an option.
    pub fn option(&mut self, name: &str, value: impl Into<serde_json::Value>) -> &mut Self {
        self.options.insert(name.into(), value.into());
        self
    }

    /// Stamp the end time and write `path` atomically (replacing a stale
    /// manifest: the manifest belongs to the output it sits beside).
    pub fn write(&mut self, path: &Path) -> Result<OutputSummary, TabularError> {
        self.finished = crate::time::now_rfc3339();
        let mut text = serde_json::to_string_pretty(self).expect("manifest serialises");
        text.push('\n');
        write_small(path, text.as_bytes(), OutputMode::Replace)
    }

    /// Read a manifest (e.g. beside a token file received from a registry).
    pub fn read(path: &Path) -> Result<Manifest, TabularError> {
        let text = crate::limited::read_to_string(path, crate::limited::MANIFEST).map_err(|e| {
            TabularError::Manifest {
                path: path.to_path_buf(),
                what: e.to_string(),
            }
        })?;
        serde_json::from_str(&text).map_err(|e| TabularError::Manifest {
            path: path.to_path_buf(),
            what: format!("line {}, column {}: {}", e.line(), e.column(), classify(&e)),
        })
    }
}

fn classify(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Syntax => "JSON syntax error",
        serde_json::error::Category::Data => "unexpected or missing field",
        serde_json::error::Category::Eof => "unexpected end of file",
        serde_json::error::Category::Io => "read error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.manifest.json");
        let mut m = Manifest::new("pseudonymise", "0.1.0");
        m.option("with_nhs_token", true);
        m.scope = Some("registry:bpor".into());
        m.key_fingerprint = Some("df669beb65955670".into());
        m.rows = RowCounts {
            rows_in: 10,
            rows_out: 8,
            rows_rejected: 2,
            rejected_by_reason: [("nhs_format".to_string(), 2)].into(),
        };
        assert!(m.rows.balanced());
        m.write(&p).unwrap();
        let back = Manifest::read(&p).unwrap();
        assert_eq!(back.key_fingerprint.as_deref(), Some("df669beb65955670"));
        assert_eq!(back.rows, m.rows);
        std::fs::write(&p, b"{not json").unwrap();
        assert!(matches!(Manifest::read(&p), Err(TabularError::Manifest { .. })));
    }
}
