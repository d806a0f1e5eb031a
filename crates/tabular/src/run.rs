//! The files of one run that turns an input into an output: the output, its
//! rejects file and its manifest, written atomically and put in place in
//! the one safe order by [`RunOutputs::commit`] — sidecars first, the output
//! last, so that wherever an output exists its manifest and rejects do too.

use crate::batch::RowsOut;
use crate::error::TabularError;
use crate::input::InputSummary;
use crate::manifest::{FileRecord, Manifest, RowCounts};
use crate::output::{sidecar_path, OutputMode, OutputSummary};
use crate::parquet::TableOutput;
use crate::rejects::Rejects;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A sidecar's path: `explicit` if given, else `<output><suffix>` beside a
/// file output, else none (the output is stdout).
pub fn sidecar(output: &str, explicit: Option<&Path>, suffix: &str) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None if output == "-" => None,
        None => Some(sidecar_path(Path::new(output), suffix)),
    }
}

/// A line of a run's console output, handed to the caller in order as the
/// run goes (so that what is shown before a failure is shown still): a note
/// for the operator (stderr) or a figure the run reports (stdout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Say {
    /// For the operator: progress, warnings, counts (stderr).
    Note(String),
    /// A result the caller may read (stdout).
    Figure(String),
}

/// Where a run writes: the output (`-` for stdout), whether it may replace
/// an existing one, and explicit sidecar paths (default: beside the output).
#[derive(Debug, Clone, Copy)]
pub struct OutputPlan<'a> {
    pub output: &'a str,
    pub force: bool,
    pub manifest: Option<&'a Path>,
    pub rejects: Option<&'a Path>,
}

impl<'a> OutputPlan<'a> {
    /// A run whose only sidecar is its manifest (rejects, if any, beside
    /// the output).
    pub fn with_manifest(output: &'a str, force: bool, manifest: Option<&'a Path>) -> Self {
        OutputPlan {
            output,
            force,
            manifest,
            rejects: None,
        }
    }
}

/// What a committed run wrote.
#[derive(Debug)]
pub struct Committed {
    /// The output.
    pub output: OutputSummary,
    /// Rows rejected, and by reason code.
    pub rejected: u64,
    pub by_reason: BTreeMap<String, u64>,
    /// Where the manifest was written, if anywhere.
    pub manifest: Option<PathBuf>,
}

impl Committed {
    /// `code: n, …` for the rejects by reason (empty when none).
    pub fn reasons(&self) -> String {
        self.by_reason
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A run's output, rejects and manifest, being written.
pub struct RunOutputs {
    out: TableOutput,
    rejects: Rejects,
    manifest: Option<PathBuf>,
}

impl RunOutputs {
    /// Start the output (refused now if it exists and `force` is not given)
    /// and the rejects file (`<output>.rejects.csv` unless given).
    pub fn create(plan: OutputPlan<'_>) -> Result<RunOutputs, TabularError> {
        let mode = if plan.force {
            OutputMode::Replace
        } else {
            OutputMode::New
        };
        // CSV, or Parquet by the output's extension (with the `parquet` feature).
        let out = TableOutput::create(plan.output, mode)?;
        let rejects = Rejects::create(
            sidecar(plan.output, plan.rejects, ".rejects.csv"),
            OutputMode::Replace,
        )?;
        Ok(RunOutputs {
            out,
            rejects,
            manifest: sidecar(plan.output, plan.manifest, ".manifest.json"),
        })
    }

    /// The output being written.
    pub fn output(&mut self) -> &mut TableOutput {
        &mut self.out
    }

    /// The rejects being written.
    pub fn rejects(&mut self) -> &mut Rejects {
        &mut self.rejects
    }

    /// Append bytes to the output.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), TabularError> {
        self.out.write_all(bytes).map_err(|e| TabularError::Write {
            path: PathBuf::from(self.out.path()),
            source: e,
        })
    }

    /// Write a batch's lines and rejects (columns named from `header`).
    pub fn write_rows(&mut self, o: &RowsOut, header: &[String]) -> Result<(), TabularError> {
        self.write(&o.bytes)?;
        for r in &o.rejects {
            let name = r
                .column
                .and_then(|c| header.get(c))
                .map(String::as_str)
                .unwrap_or("");
            self.rejects.add(r.line, name, r.reason)?;
        }
        Ok(())
    }

    /// Finish every file, complete `manifest` (the input, the output as
    /// `output_role` with `rows_out` rows if `count_rows`, the rejects, the
    /// row counts) and put everything in place: rejects, manifest, output.
    pub fn commit(
        self,
        manifest: &mut Manifest,
        input: (&str, &InputSummary),
        output_role: &str,
        rows_out: u64,
        count_rows: bool,
    ) -> Result<Committed, TabularError> {
        let pending = self.out.finish()?;
        let rej = self.rejects.finish()?;
        manifest.inputs.push(FileRecord::input(input.0, input.1));
        manifest.outputs.push(FileRecord::output(
            output_role,
            pending.summary(),
            count_rows.then_some(rows_out),
        ));
        if let Some(p) = &rej.pending {
            manifest
                .outputs
                .push(FileRecord::output("rejects", p.summary(), Some(rej.total)));
        }
        manifest.rows = RowCounts {
            rows_in: input.1.rows,
            rows_out,
            rows_rejected: rej.total,
            rejected_by_reason: rej.by_reason.clone(),
        };
        if let Some(p) = rej.pending {
            p.persist()?;
        }
        if let Some(mp) = &self.manifest {
            manifest.write(mp)?;
        }
        let output = pending.persist()?;
        Ok(Committed {
            output,
            rejected: rej.total,
            by_reason: rej.by_reason,
            manifest: self.manifest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Reject;

    #[test]
    fn commit_writes_every_file_with_balanced_counts() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("o.csv");
        let out_s = out.to_str().unwrap();
        let mut src =
            crate::Source::from_reader("in", Box::new(std::io::Cursor::new(b"a\n1\n2\n".to_vec()))).unwrap();
        let mut rec = csv::ByteRecord::new();
        while src.read(&mut rec).unwrap() {}
        let input = src.finish().unwrap();
        let mut run = RunOutputs::create(OutputPlan {
            output: out_s,
            force: false,
            manifest: None,
            rejects: None,
        })
        .unwrap();
        let rows = RowsOut {
            bytes: b"a\n1\n".to_vec(),
            rejects: vec![Reject {
                line: 3,
                column: Some(0),
                reason: "bad",
            }],
            rows_out: 1,
        };
        run.write_rows(&rows, &["a".to_string()]).unwrap();
        assert!(!out.exists(), "nothing in place before the commit");
        let mut m = Manifest::new("t", "0");
        let c = run.commit(&mut m, ("input", &input), "out", 1, true).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"a\n1\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("o.csv.rejects.csv")).unwrap(),
            "line,column,reason\n3,a,bad\n"
        );
        let back = Manifest::read(&dir.path().join("o.csv.manifest.json")).unwrap();
        assert!(back.rows.balanced());
        assert_eq!((back.rows.rows_in, back.rows.rows_out, c.rejected), (2, 1, 1));
        assert_eq!(c.reasons(), "bad: 1");
        assert_eq!(back.outputs.len(), 2);
    }

    #[test]
    fn an_existing_output_is_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("o.csv");
        std::fs::write(&out, b"old").unwrap();
        let plan = OutputPlan {
            output: out.to_str().unwrap(),
            force: false,
            manifest: None,
            rejects: None,
        };
        assert!(matches!(
            RunOutputs::create(plan),
            Err(TabularError::OutputExists { .. })
        ));
        assert!(RunOutputs::create(OutputPlan { force: true, ..plan }).is_ok());
    }

    #[test]
    fn stdout_has_no_sidecars_unless_named() {
        assert_eq!(sidecar("-", None, ".x"), None);
        assert_eq!(sidecar("-", Some(Path::new("m")), ".x"), Some(PathBuf::from("m")));
        assert_eq!(sidecar("o.csv", None, ".x"), Some(PathBuf::from("o.csv.x")));
    }
}
