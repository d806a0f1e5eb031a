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

/// A whole `report` run: where the figures come from (the store's study
/// or service figures, or a JSON file of [`ReportInput`]), what is changed
/// in them, how they are protected and shown, and where they are written.
/// Under a store, figures come from the invitations, outcomes and returns
/// recorded for the study (uptake by arm, by registry match, by quota
/// stratum, by age band, sex, ethnic group and region: linked tables with
/// the same grand totals; SWAT arms; returns), and the release is recorded
/// so that the next report of the study is audited against it
/// (differencing of cumulative figures).
pub struct ReportRun<'a> {
    /// The study id (from the store, or checked against the input file's).
    pub study: Option<&'a str>,
    /// A JSON input file instead of the store's figures.
    pub input: Option<&'a Path>,
    /// The service evaluation instead of a study's reports.
    pub service: bool,
    /// The as-of date shown, replacing the input's.
    pub as_of: Option<&'a str>,
    /// The SWAT control arm, replacing the input's.
    pub control: Option<&'a str>,
    /// The disclosure-control policy.
    pub policy: &'a Policy,
    /// Interval options.
    pub options: Options,
    /// The output directory.
    pub out: &'a Path,
    /// The formats written beside `tables.json`.
    pub formats: Formats,
    /// Replace a report already in `out`.
    pub force: bool,
}

/// What a report run published.
pub struct Published {
    /// The report.
    pub report: Report,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// One line saying what was published and how it was protected.
    pub summary: String,
}

impl ReportRun<'_> {
    /// The checks made before any store is opened: `out` holds no report
    /// (unless `force`) and the service evaluation has a store.
    pub fn check(&self, with_store: bool) -> Result<(), ReportError> {
        if self.out.join("tables.json").exists() && !self.force {
            return Err(ReportError::Exists {
                out: self.out.display().to_string(),
            });
        }
        if self.service && !with_store {
            return Err(ReportError::ServiceNeedsStore);
        }
        Ok(())
    }

    /// The report input: the service evaluation or a study's figures from
    /// the store, or the JSON file; with the as-of date and control arm
    /// asked for.
    pub fn input(&self, store: Option<&store::Store>) -> Result<ReportInput, ReportError> {
        let mut input = if self.service {
            crate::service_input(store.expect("store opened"))?
        } else if let Some(path) = self.input {
            let mut i = read_input(path)?;
            if self.study.is_some_and(|s| s != i.study) {
                return Err(ReportError::StudyDiffers);
            }
            if i.study.is_empty() {
                i.study = self.study.unwrap_or_default().to_string();
            }
            i
        } else {
            let study = self.study.ok_or(ReportError::StudyRequired)?;
            crate::study_input(store.expect("store opened"), study, self.control)?
        };
        if let Some(d) = self.as_of {
            input.as_of = d.to_string();
        }
        if let (Some(c), Some(sw)) = (self.control, input.swat.as_mut()) {
            sw.control = c.to_string();
        }
        Ok(input)
    }

    /// Read the input and [`publish`] it (as the service's series or the
    /// study's), with its summary line.
    pub fn run(&self, store: Option<&mut store::Store>) -> Result<Published, ReportError> {
        let input = self.input(store.as_deref())?;
        let table = if self.service {
            SERVICE_TABLE
        } else {
            RELEASE_TABLE
        };
        let (report, files) = publish(
            store,
            &input,
            self.policy,
            self.options.clone(),
            table,
            self.out,
            self.formats,
        )?;
        let p = &report.protected;
        use disclosure::CellStatus as S;
        let summary = format!(
            "report: study {}, release {}, policy {}: {} table(s), {} suppressed cell(s) ({} small, {} secondary, {} added after the audit); audit over {} release(s) passed",
            input.study,
            p.sequence,
            self.policy.name,
            p.tables.len(),
            p.suppressed(),
            p.count(S::Primary),
            p.count(S::Secondary),
            p.count(S::Repair) + p.count(S::Margin),
            p.audit.releases
        );
        Ok(Published {
            report,
            files,
            summary,
        })
    }
}
