//! `<output>.rejects.csv`: one row per rejected input row, with its line, the
//! column at fault and a reason code — never the value.

use crate::error::TabularError;
use crate::output::{AtomicOutput, OutputMode, PendingOutput};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// A completed rejects file (not yet in place) and its counts.
pub struct FinishedRejects {
    /// The file, to persist once the main output is ready.
    pub pending: Option<PendingOutput>,
    /// Counts by reason code.
    pub by_reason: BTreeMap<String, u64>,
    /// Rows rejected.
    pub total: u64,
}

/// A rejects file being written, with counts by reason.
pub struct Rejects {
    out: Option<AtomicOutput>,
    path: PathBuf,
    by_reason: BTreeMap<String, u64>,
    total: u64,
}

impl Rejects {
    /// Start `path` (header `line,column,reason`). `None` keeps counts only
    /// (e.g. when the output is stdout and no rejects path was given).
    pub fn create(path: Option<PathBuf>, mode: OutputMode) -> Result<Rejects, TabularError> {
        let out = match &path {
            Some(p) => {
                let s = p.to_str().ok_or_else(|| TabularError::Write {
                    path: p.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path is not UTF-8"),
                })?;
                let mut o = AtomicOutput::create(s, mode)?;
                o.write_all(b"line,column,reason\n")
                    .map_err(|e| TabularError::Write {
                        path: p.clone(),
                        source: e,
                    })?;
                Some(o)
            }
            None => None,
        };
        Ok(Rejects {
            out,
            path: path.unwrap_or_default(),
            by_reason: BTreeMap::new(),
            total: 0,
        })
    }

    /// Record a rejected row. `column` is a header name (not data); `reason`
    /// a stable code such as `nhs_check_digit`.
    pub fn add(&mut self, line: u64, column: &str, reason: &str) -> Result<(), TabularError> {
        self.total += 1;
        match self.by_reason.get_mut(reason) {
            Some(n) => *n += 1,
            None => {
                self.by_reason.insert(reason.to_string(), 1);
            }
        }
        if let Some(o) = &mut self.out {
            let mut bytes = Vec::with_capacity(64);
            let mut l = crate::cell::Line::new(&mut bytes);
            l.plain(line.to_string().as_bytes())
                .field(column.as_bytes())
                .field(reason.as_bytes());
            l.end();
            o.write_all(&bytes).map_err(|e| TabularError::Write {
                path: self.path.clone(),
                source: e,
            })?;
        }
        Ok(())
    }

    /// Rows rejected so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Counts by reason code.
    pub fn by_reason(&self) -> &BTreeMap<String, u64> {
        &self.by_reason
    }

    /// Complete the file (not yet in place).
    pub fn finish(self) -> Result<FinishedRejects, TabularError> {
        let pending = match self.out {
            Some(o) => Some(o.finish()?),
            None => None,
        };
        Ok(FinishedRejects {
            pending,
            by_reason: self.by_reason,
            total: self.total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.rejects.csv");
        let mut r = Rejects::create(Some(p.clone()), OutputMode::New).unwrap();
        r.add(3, "nhs_number", "nhs_check_digit").unwrap();
        r.add(7, "dob", "dob_format").unwrap();
        r.add(9, "nhs_number", "nhs_check_digit").unwrap();
        let f = r.finish().unwrap();
        f.pending.unwrap().persist().unwrap();
        assert_eq!(f.total, 3);
        assert_eq!(f.by_reason["nhs_check_digit"], 2);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text, "line,column,reason\n3,nhs_number,nhs_check_digit\n7,dob,dob_format\n9,nhs_number,nhs_check_digit\n");
    }
}
