//! Uptake feedback from trials and return-to-sender files from the mailer
//! (the last steps of the recruitment flow).
//!
//! Every row is accounted for: matched by reference, matched by token,
//! unmatched (unknown reference or token, or an invitation of another
//! study), QA seed, or rejected (malformed) — with the line number of every
//! row that was not matched, never its value. A run is one store
//! transaction: killed part-way, it leaves nothing; run again, it changes
//! nothing it already recorded.

use pseudonym::{Key, Scope, Token};
use std::path::Path;
use store::{OutcomeEffect, ReturnEffect, Store};

pub use store::UptakeStatus;

/// Why a feedback or returns file was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    /// The store.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The file's manifest: wrong key or study.
    #[error(transparent)]
    List(#[from] suppression::ListError),
    /// CSV: missing columns, malformed CSV.
    #[error(transparent)]
    Tabular(#[from] tabular::TabularError),
    /// Neither a `reference` nor a `token` column.
    #[error("{path}: no `reference`, `token` or `nhs_token` column; feedback rows need one of them")]
    NoKeyColumn {
        /// The file.
        path: String,
    },
    /// Not a valid study id.
    #[error("study `{0}` is not a valid study id (lowercase letters, digits, `:._-`)")]
    BadStudy(String),
}

impl FeedbackError {
    /// What to fix, for the command line.
    pub fn hint(&self) -> &'static str {
        match self {
            FeedbackError::List(_) => {
                "the file was made with another key or for another study: ask the trial to pseudonymise with the key from `trialink keys derive --scope trial:<study>`"
            }
            FeedbackError::NoKeyColumn { .. } => {
                "add a `reference` column (invitation references) or `token` / `nhs_token` columns"
            }
            FeedbackError::Tabular(t) => t.hint().unwrap_or("check the file's header and CSV syntax"),
            _ => "see the message above",
        }
    }
}

/// The row outcome codes used in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RowOutcome {
    /// Matched an invitation of the study by its reference.
    MatchedByReference,
    /// Matched an invitation of the study by the study-scope token.
    MatchedByToken,
    /// A reference no invitation has.
    UnmatchedReference,
    /// A token no invitation of the study has.
    UnmatchedToken,
    /// A reference of another study's invitation.
    OtherStudy,
    /// A QA seed's reference (never an invitation).
    QaSeed,
    /// Malformed.
    Rejected(&'static str),
}

impl RowOutcome {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            RowOutcome::MatchedByReference => "matched_by_reference",
            RowOutcome::MatchedByToken => "matched_by_token",
            RowOutcome::UnmatchedReference => "unmatched_reference",
            RowOutcome::UnmatchedToken => "unmatched_token",
            RowOutcome::OtherStudy => "other_study",
            RowOutcome::QaSeed => "qa_seed",
            RowOutcome::Rejected(c) => c,
        }
    }
}

/// Counts of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FeedbackCounts {
    /// Data rows read.
    pub rows_in: u64,
    /// Matched by reference.
    pub matched_by_reference: u64,
    /// Matched by token.
    pub matched_by_token: u64,
    /// Not matched (unknown reference/token, or another study's invitation).
    pub unmatched: u64,
    /// QA seed rows.
    pub qa_seed: u64,
    /// Malformed rows.
    pub rejected: u64,
    /// Matched rows that became the invitation's current status / were recorded.
    pub recorded: u64,
    /// Matched rows kept in history only (an equal-or-later status is current).
    pub history_only: u64,
    /// Matched rows recorded before (re-submission): nothing changed.
    pub already_recorded: u64,
    /// People newly recorded as enrolled in the study.
    pub enrolled_added: u64,
}

impl FeedbackCounts {
    /// Add another file's row counts (rows in, matched, unmatched, QA seed,
    /// rejected) to these.
    pub fn add(&mut self, c: &FeedbackCounts) {
        self.rows_in += c.rows_in;
        self.rejected += c.rejected;
        self.matched_by_reference += c.matched_by_reference;
        self.matched_by_token += c.matched_by_token;
        self.unmatched += c.unmatched;
        self.qa_seed += c.qa_seed;
    }

    /// Whether every row is accounted for.
    pub fn balanced(&self) -> bool {
        self.rows_in
            == self.matched_by_reference
                + self.matched_by_token
                + self.unmatched
                + self.qa_seed
                + self.rejected
    }
}

/// One row that was not matched, or was rejected: line, column, outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Line number in the file.
    pub line: u64,
    /// Header name of the column concerned (empty when the row as a whole).
    pub column: String,
    /// Outcome code.
    pub outcome: &'static str,
}

impl Note {
    /// Whether the row was rejected (unreadable), as opposed to read but
    /// not matched (an unknown reference, a QA seed, another study's).
    pub fn is_rejection(&self) -> bool {
        !matches!(
            self.outcome,
            "matched_by_reference"
                | "matched_by_token"
                | "unmatched_reference"
                | "unmatched_token"
                | "other_study"
                | "qa_seed"
                | "unknown_reference"
        )
    }
}

/// The result of one file.
#[derive(Debug)]
pub struct FileResult {
    /// Counts.
    pub counts: FeedbackCounts,
    /// Rows not matched (with reasons), in line order.
    pub notes: Vec<Note>,
    /// The input's digest and size.
    pub input: tabular::InputSummary,
    /// Whether a manifest was found and checked.
    pub manifest_checked: bool,
    /// The study scope key fingerprint the tokens were checked against.
    pub fingerprint: Option<String>,
}

fn is_uuid(s: &[u8]) -> bool {
    s.len() == 36
        && s.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A feedback status as trials write it: the code in any letter case, with
/// spaces or hyphens for underscores, and the US spelling `randomized`.
/// Anything else is not a status (the row is rejected, never guessed).
fn parse_status(s: &[u8]) -> Option<UptakeStatus> {
    let mut code: Vec<u8> = s
        .iter()
        .map(|&b| match b.to_ascii_lowercase() {
            b' ' | b'-' => b'_',
            c => c,
        })
        .collect();
    if code == b"randomized" {
        code = b"randomised".to_vec();
    }
    UptakeStatus::from_code(&code)
}

fn is_date(s: &[u8]) -> bool {
    std::str::from_utf8(s)
        .ok()
        .and_then(pseudonym::Date::parse_iso)
        .is_some()
}

/// Record a trial's uptake feedback for `study`. Columns: `reference` and/or
/// `token` and/or `nhs_token`, `status`, `date` (also `status_date`). A row
/// without a reference is matched by `token` (NHS number + DOB), else by
/// `nhs_token` (the NHS number alone: a date of birth one day out in the
/// trial's records still finds the person). A file with a token column
/// must have its manifest, made under the study key (`Store::study_key`) of
/// `trial:<study>`; any manifest present is checked.
pub fn record_uptake(
    store: &mut Store,
    master: &Key,
    study: &str,
    path: &Path,
) -> Result<FileResult, FeedbackError> {
    let scope = Scope::trial(study).map_err(|_| FeedbackError::BadStudy(study.to_string()))?;
    let study_key = store.study_key(master, study)?;
    let p = path.to_string_lossy().into_owned();
    let mut src = tabular::Source::open(&p)?;
    let ref_col = src.optional_column(None, &["reference", "invitation_reference"], "reference")?;
    let tok_col = src.optional_column(None, &["token", "token_nhs_dob"], "token")?;
    let nhs_col = src.optional_column(None, &["nhs_token", "token_nhs"], "nhs_token")?;
    if ref_col.is_none() && tok_col.is_none() && nhs_col.is_none() {
        return Err(FeedbackError::NoKeyColumn { path: p });
    }
    let tokens = tok_col.is_some() || nhs_col.is_some();
    let (fp, manifest_checked) = suppression::check_manifest_key(path, &study_key.key, &scope, tokens)?;
    let cols = UptakeColumns {
        reference: ref_col,
        token: tok_col,
        nhs: nhs_col,
        status: src.column(None, &["status", "outcome"], "status")?,
        date: src.column(None, &["date", "status_date"], "date")?,
    };
    let header = src.header().to_vec();
    let source = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut counts = FeedbackCounts::default();
    let mut notes = Vec::new();
    let mut rec = csv::ByteRecord::new();
    store.begin()?;
    let result = (|| -> Result<(), FeedbackError> {
        while src.read(&mut rec)? {
            counts.rows_in += 1;
            let line = src.position().line;
            let verdict = if rec.len() != header.len() {
                Verdict::Skip(None, RowOutcome::Rejected("ragged_row"))
            } else {
                judge_row(store, study, &cols, &rec)?
            };
            match verdict {
                Verdict::Skip(col, outcome) => {
                    counts.skipped(outcome);
                    notes.push(Note {
                        line,
                        column: col.map(|i| header[i].clone()).unwrap_or_default(),
                        outcome: outcome.code(),
                    });
                }
                Verdict::Match(m) => record_match(store, study, &source, &m, &mut counts)?,
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => store.commit()?,
        Err(e) => {
            let _ = store.rollback();
            return Err(e);
        }
    }
    let input = src.finish()?;
    debug_assert!(counts.balanced());
    Ok(FileResult {
        counts,
        notes,
        input,
        manifest_checked,
        fingerprint: Some(fp),
    })
}

/// The columns of an uptake file.
struct UptakeColumns {
    reference: Option<usize>,
    token: Option<usize>,
    nhs: Option<usize>,
    status: usize,
    date: usize,
}

/// A feedback row matched to an invitation of the study.
struct Matched<'r> {
    found: store::FoundInvitation,
    by: RowOutcome,
    status: UptakeStatus,
    date: &'r str,
}

/// What becomes of one feedback row: recorded against an invitation, or
/// noted (at a column, when one is to blame) and left out.
enum Verdict<'r> {
    Match(Matched<'r>),
    Skip(Option<usize>, RowOutcome),
}

impl FeedbackCounts {
    /// Count a row that was noted and left out.
    fn skipped(&mut self, outcome: RowOutcome) {
        match outcome {
            RowOutcome::Rejected(_) => self.rejected += 1,
            RowOutcome::QaSeed => self.qa_seed += 1,
            _ => self.unmatched += 1,
        }
    }
}

/// Judge one feedback row (of the header's width): its status and date,
/// then the invitation it names by reference, else by token.
fn judge_row<'r>(
    store: &Store,
    study: &str,
    c: &UptakeColumns,
    rec: &'r csv::ByteRecord,
) -> Result<Verdict<'r>, FeedbackError> {
    let Some(status) = parse_status(rec[c.status].trim_ascii()) else {
        return Ok(Verdict::Skip(Some(c.status), RowOutcome::Rejected("bad_status")));
    };
    let date = rec[c.date].trim_ascii();
    if !is_date(date) {
        return Ok(Verdict::Skip(Some(c.date), RowOutcome::Rejected("bad_date")));
    }
    let date = std::str::from_utf8(date).expect("checked ISO date");
    let cell = |col: Option<usize>| col.map(|i| rec[i].trim_ascii()).filter(|v| !v.is_empty());
    let (reference, token, nhs_token) = (cell(c.reference), cell(c.token), cell(c.nhs));
    let found = match (reference, token.or(nhs_token)) {
        (Some(r), _) => by_reference(store, study, c, r)?,
        (None, Some(_)) => by_token(store, study, c, token, nhs_token)?,
        (None, None) => Err((None, RowOutcome::Rejected("no_reference_or_token"))),
    };
    Ok(match found {
        Ok((found, by)) => Verdict::Match(Matched {
            found,
            by,
            status,
            date,
        }),
        Err((col, outcome)) => Verdict::Skip(col, outcome),
    })
}

/// An invitation found for a row, or why none was (and at which column).
type Found = Result<(store::FoundInvitation, RowOutcome), (Option<usize>, RowOutcome)>;

/// The invitation a row names by its reference.
fn by_reference(store: &Store, study: &str, c: &UptakeColumns, r: &[u8]) -> Result<Found, FeedbackError> {
    let col = c.reference;
    if !is_uuid(r) {
        return Ok(Err((col, RowOutcome::Rejected("bad_reference"))));
    }
    let r = std::str::from_utf8(r).expect("ASCII").to_ascii_lowercase();
    Ok(match store.invitation_by_reference(&r)? {
        Some(f) if f.study == study => Ok((f, RowOutcome::MatchedByReference)),
        Some(_) => Err((col, RowOutcome::OtherStudy)),
        None if store.is_qa_reference(&r)? => Err((col, RowOutcome::QaSeed)),
        None => Err((col, RowOutcome::UnmatchedReference)),
    })
}

/// The invitation a row names by its person. The person is their NHS
/// number: the NHS+DOB token first (the exact person and date of birth),
/// then the NHS number alone, so that a date of birth that differs in the
/// trial's records still finds the invitation.
fn by_token(
    store: &Store,
    study: &str,
    c: &UptakeColumns,
    token: Option<&[u8]>,
    nhs_token: Option<&[u8]>,
) -> Result<Found, FeedbackError> {
    let dob_tok = token.map(Token::from_hex_bytes);
    let nhs_tok = nhs_token.map(Token::from_hex_bytes);
    if let Some(Err(_)) = dob_tok {
        return Ok(Err((c.token, RowOutcome::Rejected("bad_token"))));
    }
    if let Some(Err(_)) = nhs_tok {
        return Ok(Err((c.nhs, RowOutcome::Rejected("bad_nhs_token"))));
    }
    let by_dob = match dob_tok {
        Some(Ok(t)) => store.invitation_by_study_token(study, &t.0)?,
        _ => None,
    };
    let found = match (by_dob, nhs_tok) {
        (Some(f), _) => Some(f),
        (None, Some(Ok(t))) => store.invitation_by_study_nhs_token(study, &t.0)?,
        _ => None,
    };
    Ok(match found {
        Some(f) => Ok((f, RowOutcome::MatchedByToken)),
        None => Err((c.token.or(c.nhs), RowOutcome::UnmatchedToken)),
    })
}

/// Record a matched row's outcome (and, for a consent, the person as
/// enrolled), counting what it changed.
fn record_match(
    store: &mut Store,
    study: &str,
    source: &str,
    m: &Matched<'_>,
    counts: &mut FeedbackCounts,
) -> Result<(), FeedbackError> {
    match m.by {
        RowOutcome::MatchedByReference => counts.matched_by_reference += 1,
        _ => counts.matched_by_token += 1,
    }
    match store.record_outcome(m.found.id, m.status, m.date, source)? {
        OutcomeEffect::Current => counts.recorded += 1,
        OutcomeEffect::HistoryOnly => counts.history_only += 1,
        OutcomeEffect::AlreadyRecorded => counts.already_recorded += 1,
    }
    if m.status.consented() && store.add_enrolled_one(study, &m.found.study_token, source)? {
        counts.enrolled_added += 1;
    }
    Ok(())
}

/// Counts of a returns run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReturnCounts {
    /// Data rows read.
    pub rows_in: u64,
    /// Newly recorded against an invitation.
    pub recorded: u64,
    /// Recorded before (re-submission).
    pub already_recorded: u64,
    /// References of QA seeds.
    pub qa_seed: u64,
    /// References no invitation has.
    pub unknown_reference: u64,
    /// Malformed rows.
    pub rejected: u64,
}

impl ReturnCounts {
    /// Whether every row is accounted for.
    pub fn balanced(&self) -> bool {
        self.rows_in
            == self.recorded + self.already_recorded + self.qa_seed + self.unknown_reference + self.rejected
    }
}

/// Record the mailer's return-to-sender file: `reference`, `reason` (also
/// `reason_code`), `date` (also `return_date`).
pub fn record_returns(
    store: &mut Store,
    path: &Path,
) -> Result<(ReturnCounts, Vec<Note>, tabular::InputSummary), FeedbackError> {
    let p = path.to_string_lossy().into_owned();
    let mut src = tabular::Source::open(&p)?;
    let ref_col = src.column(None, &["reference", "invitation_reference"], "reference")?;
    let reason_col = src.column(None, &["reason", "reason_code"], "reason")?;
    let date_col = src.column(None, &["date", "return_date"], "date")?;
    let header = src.header().to_vec();
    let source = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut c = ReturnCounts::default();
    let mut notes = Vec::new();
    let mut rec = csv::ByteRecord::new();
    store.begin()?;
    let result = (|| -> Result<(), FeedbackError> {
        while src.read(&mut rec)? {
            c.rows_in += 1;
            let line = src.position().line;
            let mut note = |col: Option<usize>, outcome: &'static str| {
                notes.push(Note {
                    line,
                    column: col.map(|i| header[i].clone()).unwrap_or_default(),
                    outcome,
                });
            };
            if rec.len() != header.len() {
                c.rejected += 1;
                note(None, "ragged_row");
                continue;
            }
            let r = rec[ref_col].trim_ascii();
            if !is_uuid(r) {
                c.rejected += 1;
                note(Some(ref_col), "bad_reference");
                continue;
            }
            let reason = rec[reason_col].trim_ascii();
            let reason_ok = !reason.is_empty()
                && reason.len() <= 32
                && reason
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !reason_ok {
                c.rejected += 1;
                note(Some(reason_col), "bad_reason");
                continue;
            }
            let date = rec[date_col].trim_ascii();
            if !is_date(date) {
                c.rejected += 1;
                note(Some(date_col), "bad_date");
                continue;
            }
            let r = std::str::from_utf8(r).expect("ASCII").to_ascii_lowercase();
            match store.invitation_by_reference(&r)? {
                Some(f) => {
                    let reason = std::str::from_utf8(reason).expect("ASCII");
                    let date = std::str::from_utf8(date).expect("ASCII");
                    match store.record_return(f.id, reason, date, &source)? {
                        ReturnEffect::Recorded => c.recorded += 1,
                        ReturnEffect::AlreadyRecorded => c.already_recorded += 1,
                    }
                }
                None if store.is_qa_reference(&r)? => {
                    c.qa_seed += 1;
                    note(Some(ref_col), "qa_seed");
                }
                None => {
                    c.unknown_reference += 1;
                    note(Some(ref_col), "unknown_reference");
                }
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => store.commit()?,
        Err(e) => {
            let _ = store.rollback();
            return Err(e);
        }
    }
    let input = src.finish()?;
    Ok((c, notes, input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_read_in_the_spellings_trials_use() {
        for (s, want) in [
            (&b"consented"[..], UptakeStatus::Consented),
            (b"Consented", UptakeStatus::Consented),
            (b"CONSENTED", UptakeStatus::Consented),
            (b"randomized", UptakeStatus::Randomised),
            (b"Randomised", UptakeStatus::Randomised),
            (b"Expressed interest", UptakeStatus::ExpressedInterest),
            (b"expressed-interest", UptakeStatus::ExpressedInterest),
        ] {
            assert_eq!(parse_status(s), Some(want), "{}", String::from_utf8_lossy(s));
        }
        for s in [&b"signed_up"[..], b"", b"consent", b"randomisedd", b"consented!"] {
            assert_eq!(parse_status(s), None, "{}", String::from_utf8_lossy(s));
        }
    }
}
