//! `trialink uptake`: record a trial's uptake feedback (DESIGN §1 step 4).

use crate::cmd::noncontact::{load_master, open_existing_store};
use crate::cmd::pseudonymise::tab_err;
use crate::error::{CliError, CliResult};
use recruitment::feedback::{self, FeedbackError, Note};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tabular::{FileRecord, KeyRecord, Manifest, OutputMode, RowCounts};

/// Options for `trialink uptake`.
///
/// Each feedback row names an invitation by `reference`, or a person by
/// `token` (NHS number + DOB under `trial:<study>`, made by the trial with
/// `trialink pseudonymise`; the file's manifest fingerprint must match the
/// key the master key derives for the study), with a `status`
/// (expressed_interest, consented, randomised, ineligible, withdrawn) and a
/// `date`. Matched rows become outcomes (history kept; a later status
/// supersedes); consented/randomised people count as already enrolled for
/// later batches. Every row is accounted for: matched by reference, matched
/// by token, unmatched, QA seed, rejected — unmatched, QA-seed and rejected
/// rows are listed by line in `<input>.uptake.csv`. Re-running the same file
/// changes nothing; the whole file is one store transaction.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
trialink uptake --store service.sqlite --key master.key --study galleri-2 --input uptake.tokens.csv\n\n\
Several --input files may be given (e.g. rows by reference and rows by token).")]
pub struct Args {
    /// The service store (default: $TRIALINK_STORE, else ./trialink-store.sqlite).
    #[arg(long, value_name = "DB")]
    pub store: Option<PathBuf>,
    /// The service's master key file.
    #[arg(long, value_name = "MASTER")]
    pub key: PathBuf,
    /// The study the feedback is for.
    #[arg(long, value_name = "ID")]
    pub study: String,
    /// Feedback CSV (`reference` and/or `token`, `status`, `date`). Repeat for several.
    #[arg(long, value_name = "FILE", required = true)]
    pub input: Vec<PathBuf>,
    /// Replace the notes and manifest of an earlier run (without it, an
    /// existing one is an error, checked before the store is touched).
    #[arg(long)]
    pub force: bool,
}

/// Refuse, before anything is recorded, to replace the sidecars
/// (`<input><suffix>` for each suffix) of an earlier run unless `force`.
pub fn claim_notes(inputs: &[PathBuf], suffixes: &[&str], force: bool) -> Result<OutputMode, CliError> {
    let paths: Vec<PathBuf> = inputs
        .iter()
        .flat_map(|i| suffixes.iter().map(move |s| tabular::sidecar_path(i, s)))
        .collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    tabular::claim_sidecars(&refs, force).map_err(tab_err)
}

/// Write `<input><suffix>` with `line,column,outcome` rows (`mode` from
/// [`claim_notes`]).
pub fn write_notes(
    input: &Path,
    suffix: &str,
    notes: &[Note],
    mode: OutputMode,
) -> Result<tabular::OutputSummary, CliError> {
    let path = tabular::sidecar_path(input, suffix);
    let p = path.to_string_lossy().into_owned();
    let mut out = tabular::AtomicOutput::create(&p, mode).map_err(tab_err)?;
    let mut text = String::from("line,column,outcome\n");
    for n in notes {
        text.push_str(&format!("{},{},{}\n", n.line, n.column, n.outcome));
    }
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::new(format!("{p}: {e}")))?;
    out.finish().and_then(|o| o.persist()).map_err(tab_err)
}

pub fn feedback_error(e: FeedbackError) -> CliError {
    let hint = match &e {
        FeedbackError::List(_) => {
            "the file was made with another key or for another study: ask the trial to pseudonymise with the key from `trialink keys derive --scope trial:<study>`"
        }
        FeedbackError::NoKeyColumn { .. } => "add a `reference` column (invitation references) or a `token` column",
        FeedbackError::Tabular(t) => t.hint().unwrap_or("check the file's header and CSV syntax"),
        _ => "see the message above",
    };
    CliError::new(e).hint(hint)
}

pub fn run(a: Args) -> CliResult {
    let master = load_master(&a.key)?;
    let scope = pseudonym::Scope::trial(&a.study).map_err(|_| {
        CliError::new(format!("--study `{}` is not a valid study id", a.study))
            .hint("study ids are lowercase letters, digits and `:._-`, as in the request file")
    })?;
    let mode = claim_notes(&a.input, &[".uptake.csv", ".uptake.manifest.json"], a.force)?;
    let mut store = open_existing_store(a.store.as_deref())?;
    if !store.study_exists(&a.study).map_err(CliError::new)? {
        return Err(
            CliError::new(format!("study `{}` has no invitations in this store", a.study))
                .hint("check --study and --store"),
        );
    }
    let mut total = feedback::FeedbackCounts::default();
    for input in &a.input {
        let mut m = Manifest::new("uptake", env!("CARGO_PKG_VERSION"));
        let r = feedback::record_uptake(&mut store, &master, &a.study, input).map_err(feedback_error)?;
        let notes = write_notes(input, ".uptake.csv", &r.notes, mode)?;
        let c = &r.counts;
        m.option("store", store.path().display().to_string());
        m.option("study", a.study.clone());
        m.option("input", input.display().to_string());
        m.scope = Some(scope.to_string());
        m.key_fingerprint = r.fingerprint.clone();
        m.keys = vec![KeyRecord {
            role: "study".into(),
            scope: Some(scope.to_string()),
            fingerprint: r.fingerprint.clone().unwrap_or_default(),
        }];
        m.inputs.push(FileRecord::input("feedback", &r.input));
        m.outputs
            .push(FileRecord::output("notes", &notes, Some(r.notes.len() as u64)));
        let mut by_reason = std::collections::BTreeMap::new();
        for n in r.notes.iter().filter(|n| {
            !matches!(
                n.outcome,
                "unmatched_reference" | "unmatched_token" | "other_study" | "qa_seed"
            )
        }) {
            *by_reason.entry(n.outcome.to_string()).or_insert(0u64) += 1;
        }
        m.rows = RowCounts {
            rows_in: c.rows_in,
            rows_out: c.rows_in - c.rejected,
            rows_rejected: c.rejected,
            rejected_by_reason: by_reason,
        };
        m.extra.insert(
            "counts".into(),
            serde_json::to_value(c).expect("counts serialise"),
        );
        m.extra
            .insert("manifest_checked".into(), r.manifest_checked.into());
        m.write(&tabular::sidecar_path(input, ".uptake.manifest.json"))
            .map_err(tab_err)?;
        outln!(
            "{}: {} rows — matched by reference {}, matched by token {}, unmatched {}, QA seed {}, rejected {}",
            input.display(),
            c.rows_in,
            c.matched_by_reference,
            c.matched_by_token,
            c.unmatched,
            c.qa_seed,
            c.rejected
        );
        outln!(
            "  recorded {}, history only {}, already recorded {}, newly enrolled {}",
            c.recorded,
            c.history_only,
            c.already_recorded,
            c.enrolled_added
        );
        total.rows_in += c.rows_in;
        total.rejected += c.rejected;
        total.matched_by_reference += c.matched_by_reference;
        total.matched_by_token += c.matched_by_token;
        total.unmatched += c.unmatched;
        total.qa_seed += c.qa_seed;
        if c.unmatched + c.qa_seed + c.rejected > 0 {
            outln!("  lines not matched are listed in {}", notes.path);
        }
    }
    if a.input.len() > 1 {
        outln!(
            "total: {} rows — matched {}, unmatched {}, QA seed {}, rejected {}",
            total.rows_in,
            total.matched_by_reference + total.matched_by_token,
            total.unmatched,
            total.qa_seed,
            total.rejected
        );
    }
    Ok(ExitCode::SUCCESS)
}
