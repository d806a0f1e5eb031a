//! The files written beside a feedback or returns input: the notes (line,
//! column and outcome of every row not matched or rejected, never a value)
//! and the run's manifest. Earlier sidecars are never replaced without
//! `force`, checked before the store is touched. [`record_uptake_files`]
//! and [`record_returns_file`] are whole `trialink uptake` and `trialink
//! returns` runs: each file recorded, its sidecars written, its counts told.

use crate::feedback::{self, FeedbackCounts, FeedbackError, FileResult, Note, ReturnCounts};
use pseudonym::Key;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use store::Store;
use tabular::{FileRecord, KeyRecord, Manifest, OutputMode, RowCounts, Say, TabularError};

/// Why a feedback run stopped: a file refused as a whole, or a sidecar
/// (notes or manifest) that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The file was refused.
    #[error(transparent)]
    Feedback(#[from] FeedbackError),
    /// A sidecar could not be written.
    #[error(transparent)]
    Sidecar(#[from] TabularError),
    /// The study id is not one.
    #[error("--study `{0}` is not a valid study id")]
    StudyId(String),
    /// The store could not be read.
    #[error(transparent)]
    Store(store::StoreError),
    /// The store has no invitation of the study.
    #[error("study `{0}` has no invitations in this store")]
    NoInvitations(String),
    /// Rows named no invitation of the study (the matched rows are
    /// recorded): a check that failed, not an error in the files.
    #[error("{count} feedback rows matched no invitation of study {study}: {}", files.join("; "))]
    Unmatched {
        /// Rows matching no invitation.
        count: u64,
        /// The study.
        study: String,
        /// Per file: the count and where they are listed.
        files: Vec<String>,
    },
}

impl RunError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            RunError::Feedback(e) => e.hint(),
            RunError::Sidecar(e) => return e.hint(),
            RunError::StudyId(_) => "study ids are lowercase letters, digits and `:._-`, as in the request file",
            RunError::Store(_) => return None,
            RunError::NoInvitations(_) => "check --study and --store",
            RunError::Unmatched { .. } => {
                "the other rows were recorded. Check --study, and that token rows were pseudonymised with \
                 `--with-nhs-token` under the key from `trialink keys derive --scope trial:<study>` \
                 (nhs_token finds a person whose date of birth differs); people not matched can still be reminded. \
                 --allow-unmatched once the listed lines are reviewed"
            }
        })
    }
}

/// Tell `say` the rejected rows ([`rejected_lines`]) unless `allow`;
/// whether any were told (the run then exits 1: a row not recorded may
/// leave its person remindable).
pub fn tell_rejects(
    (rejected, rows): (u64, u64),
    first: Option<&(PathBuf, Note)>,
    allow: bool,
    say: &mut dyn FnMut(Say),
) -> bool {
    if allow {
        return false;
    }
    let lines = rejected_lines(rejected, rows, first);
    let told = !lines.is_empty();
    lines.into_iter().for_each(|l| say(Say::Note(l)));
    told
}

/// A whole `trialink uptake` run: the study checked, the files' sidecars
/// claimed ([`UptakeRun::claim`]), then ([`UptakeRun::run`]) every file
/// recorded ([`record_uptake_files`]), rejected rows told, and rows that
/// named no invitation refused unless allowed.
pub struct UptakeRun<'a> {
    /// The study the feedback is for.
    pub study: &'a str,
    /// The feedback files.
    pub inputs: &'a [PathBuf],
    /// Replace the sidecars of an earlier run.
    pub force: bool,
    /// Exit 0 even when rows were rejected.
    pub allow_rejects: bool,
    /// Succeed even when rows matched no invitation.
    pub allow_unmatched: bool,
}

impl UptakeRun<'_> {
    /// Check the study id and claim the files' sidecars (before the store
    /// is touched).
    pub fn claim(&self) -> Result<OutputMode, RunError> {
        pseudonym::Scope::trial(self.study).map_err(|_| RunError::StudyId(self.study.to_string()))?;
        Ok(claim(self.inputs, &UPTAKE, self.force)?)
    }

    /// Record the files in `store` (bound to `master`); whether rejected
    /// rows were told (exit 1). Rows matching no invitation are an
    /// [`RunError::Unmatched`] after the rest is recorded: a person who
    /// consented or declined, left unrecorded, is remindable.
    pub fn run(
        &self,
        store: &mut Store,
        master: &Key,
        mode: OutputMode,
        say: &mut dyn FnMut(Say),
    ) -> Result<bool, RunError> {
        if !store.study_exists(self.study).map_err(RunError::Store)? {
            return Err(RunError::NoInvitations(self.study.to_string()));
        }
        let t = record_uptake_files(store, master, self.study, self.inputs, mode, say)?;
        let rejected = (t.total.rejected, t.total.rows_in);
        let told = tell_rejects(rejected, t.first_reject.as_ref(), self.allow_rejects, say);
        if !t.unmatched_in.is_empty() && !self.allow_unmatched {
            return Err(RunError::Unmatched {
                count: t.total.unmatched,
                study: self.study.to_string(),
                files: t.unmatched_in,
            });
        }
        Ok(told)
    }
}

/// What to tell the operator when `rejected` of `rows` rows were rejected
/// (nothing when none were): the count, and the first rejected row's file,
/// line, column and reason code (never its value), then what to do.
pub fn rejected_lines(rejected: u64, rows: u64, first: Option<&(PathBuf, Note)>) -> Vec<String> {
    if rejected == 0 {
        return Vec::new();
    }
    let at = first.map_or(String::new(), |(path, n)| {
        let col = if n.column.is_empty() {
            String::new()
        } else {
            format!(", column {}", n.column)
        };
        format!(
            " (the first: {}: line {}{col}: {})",
            path.display(),
            n.line,
            n.outcome
        )
    });
    vec![
        format!("trialink: {rejected} of {rows} rows were rejected and not recorded{at}; the other rows are recorded"),
        "hint: fix the rejected rows (each listed by line, column and reason in the notes file beside the input) and run the file again with --force (recording is idempotent), or pass --allow-rejects once they are reviewed".into(),
    ]
}

/// What an uptake run over one or more files found.
#[derive(Debug, Default)]
pub struct UptakeTotals {
    /// The counts of all files.
    pub total: FeedbackCounts,
    /// Per file with rows matching no invitation: the file, the count and
    /// where they are listed.
    pub unmatched_in: Vec<String>,
    /// The first rejected row, and its file.
    pub first_reject: Option<(PathBuf, Note)>,
}

/// Record each uptake file in turn (each one store transaction), writing
/// its notes and manifest beside it (`mode` from [`claim`]) and telling
/// `say` its counts; with several files, the total last.
///
/// Each feedback row names an invitation by `reference`, or a person by
/// `token` (NHS number + DOB under `trial:<study>`) and/or `nhs_token` (the
/// NHS number alone), made by the trial with `trialink pseudonymise
/// --with-nhs-token` (the file's manifest fingerprint must match the
/// key the master key derives for the study), with a `status`
/// (expressed_interest, consented, randomised, ineligible, withdrawn) and a
/// `date`. Matched rows become outcomes (history kept; a later status
/// supersedes); consented/randomised people count as already enrolled for
/// later batches. Every row is accounted for: matched by reference, matched
/// by token, unmatched, QA seed, rejected — unmatched, QA-seed and rejected
/// rows are listed by line in `<input>.uptake.csv`. Re-running the same file
/// changes nothing; the whole file is one store transaction. Unmatched rows
/// make the run exit 1 (the matched rows are recorded) unless
/// `--allow-unmatched`.
///
/// Statuses are read in any letter case, with spaces or hyphens, and `randomized`.
///
/// Exit status 1 when any row was rejected (the good rows are recorded
/// first; a rejected consent would leave the person remindable), unless
/// --allow-rejects.
pub fn record_uptake_files(
    store: &mut Store,
    master: &Key,
    study: &str,
    inputs: &[PathBuf],
    mode: OutputMode,
    say: &mut dyn FnMut(Say),
) -> Result<UptakeTotals, RunError> {
    let mut t = UptakeTotals::default();
    for input in inputs {
        let r = feedback::record_uptake(store, master, study, input)?;
        let written = write_notes(input, UPTAKE[0], &r.notes, mode)?;
        uptake_manifest(store.path(), study, input, &r, &written)?;
        if t.first_reject.is_none() {
            t.first_reject = r
                .notes
                .iter()
                .find(|n| n.is_rejection())
                .map(|n| (input.clone(), n.clone()));
        }
        let c = &r.counts;
        say(Say::Figure(format!(
            "{}: {} rows — matched by reference {}, matched by token {}, unmatched {}, QA seed {}, rejected {}",
            input.display(),
            c.rows_in,
            c.matched_by_reference,
            c.matched_by_token,
            c.unmatched,
            c.qa_seed,
            c.rejected
        )));
        say(Say::Figure(format!(
            "  recorded {}, history only {}, already recorded {}, newly enrolled {}",
            c.recorded, c.history_only, c.already_recorded, c.enrolled_added
        )));
        t.total.add(c);
        if c.unmatched + c.qa_seed + c.rejected > 0 {
            say(Say::Figure(format!(
                "  lines not matched are listed in {}",
                written.path
            )));
        }
        if c.unmatched > 0 {
            t.unmatched_in.push(format!(
                "{} ({} rows, listed in {})",
                input.display(),
                c.unmatched,
                written.path
            ));
        }
    }
    if inputs.len() > 1 {
        let c = &t.total;
        say(Say::Figure(format!(
            "total: {} rows — matched {}, unmatched {}, QA seed {}, rejected {}",
            c.rows_in,
            c.matched_by_reference + c.matched_by_token,
            c.unmatched,
            c.qa_seed,
            c.rejected
        )));
    }
    Ok(t)
}

/// Record a returns file (one store transaction), write its notes and
/// manifest beside it (`mode` from [`claim`]) and tell `say` its counts;
/// returns the counts and the first rejected row.
///
/// The mailer's extract has `reference`, `reason` (a reason code) and `date`.
/// Each return is recorded against its invitation (delivered = invited −
/// returned in reports); references of QA seeds and unknown references are
/// counted and listed by line in `<input>.returns.csv`. Re-running the same
/// file changes nothing. Exit status 1 when any row was rejected (a return
/// not recorded leaves its invitee remindable), unless --allow-rejects.
pub fn record_returns_file(
    store: &mut Store,
    input: &Path,
    mode: OutputMode,
    say: &mut dyn FnMut(Say),
) -> Result<(ReturnCounts, Option<(PathBuf, Note)>), RunError> {
    let (c, found, read) = feedback::record_returns(store, input)?;
    let written = write_notes(input, RETURNS[0], &found, mode)?;
    returns_manifest(store.path(), input, &c, &read, &found, &written)?;
    say(Say::Figure(format!(
        "{}: {} rows — recorded {}, already recorded {}, QA seed {}, unknown reference {}, rejected {}",
        input.display(),
        c.rows_in,
        c.recorded,
        c.already_recorded,
        c.qa_seed,
        c.unknown_reference,
        c.rejected
    )));
    if c.qa_seed + c.unknown_reference + c.rejected > 0 {
        say(Say::Figure(format!(
            "  lines not recorded are listed in {}",
            written.path
        )));
    }
    let first = found
        .iter()
        .find(|n| n.is_rejection())
        .map(|n| (input.to_path_buf(), n.clone()));
    Ok((c, first))
}

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

    #[test]
    fn rejected_lines_name_the_first_row_by_position_only() {
        assert!(rejected_lines(0, 5, None).is_empty());
        let first = (
            PathBuf::from("u.csv"),
            Note {
                line: 3,
                column: "status".into(),
                outcome: "bad_status",
            },
        );
        let lines = rejected_lines(2, 5, Some(&first));
        assert_eq!(
            lines[0],
            "trialink: 2 of 5 rows were rejected and not recorded (the first: u.csv: line 3, column status: bad_status); the other rows are recorded"
        );
        assert!(lines[1].starts_with("hint: "));
    }
}
