//! Whole `trialink filter build|check` runs: the key fingerprint a filter
//! carries agreed with the token file's manifest, the token file read, the
//! filter (or the checked file) written with its manifest and rejects in
//! the one safe order.

use crate::filter_rows::{read_tokens, FilterCheck};
use crate::lists::SOURCE_ROWS_REJECTED;
use bloom::tlbf::{fingerprint_bytes, Tlbf, TlbfError};
use std::path::Path;
use tabular::{sidecar_path, KeyRecord, Manifest, OutputPlan, RunOutputs, Source, TabularError};

/// Why a filter could not be built or checked. Names files, columns and key
/// fingerprints, never a token.
#[derive(Debug, thiserror::Error)]
pub enum FilterRunError {
    /// No fingerprint was given and the token file has no manifest naming one.
    #[error("no key fingerprint for the filter header")]
    NoFingerprint,
    /// The fingerprint given is not the one the token file's manifest names.
    #[error("the token file's manifest names key {manifest}, but the filter would say {header}")]
    ManifestKey {
        /// The manifest's fingerprint.
        manifest: String,
        /// The fingerprint the filter would carry.
        header: String,
    },
    /// The token file's manifest records rejected rows.
    #[error("{tokens}: its manifest records {rejected} rejected row(s) when the tokens were made: those people would be missing from the filter")]
    SourceRejects {
        /// The token file.
        tokens: String,
        /// Rows rejected when it was made.
        rejected: u64,
    },
    /// The fingerprint is not 16 hex digits.
    #[error("--fingerprint: {0}")]
    Fingerprint(TlbfError),
    /// The false-positive rate cannot be met.
    #[error("--fpr: {0}")]
    Fpr(TlbfError),
    /// Filter and tokens were made under different keys.
    #[error(
        "the filter was made under key {filter}, the tokens under key {tokens}: they cannot be compared"
    )]
    KeyMismatch {
        /// The filter's fingerprint.
        filter: String,
        /// The token file manifest's fingerprint.
        tokens: String,
    },
    /// The token file could not be opened.
    #[error("tokens: {0}")]
    Open(TabularError),
    /// Reading or writing failed (its own position and hint).
    #[error(transparent)]
    Tabular(#[from] TabularError),
}

impl FilterRunError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            FilterRunError::NoFingerprint => Some(
                "pass --key FILE or --fingerprint HEX, or keep the token file's .manifest.json beside it",
            ),
            FilterRunError::ManifestKey { .. } => Some("use the key the tokens were made with"),
            FilterRunError::SourceRejects { .. } => Some("fix the rows at source (see the rejects file beside the token file) and make the tokens again, or pass --allow-source-rejects for a list where missing people do no harm (never an enrolled or objection list)"),
            FilterRunError::KeyMismatch { .. } => {
                Some("make both under the same scope key (see `trialink keys derive`)")
            }
            FilterRunError::Tabular(e) => e.hint(),
            FilterRunError::Fingerprint(_) | FilterRunError::Fpr(_) | FilterRunError::Open(_) => None,
        }
    }
}

/// The key fingerprint recorded in a token file's manifest, if there is one.
pub fn manifest_fingerprint(tokens: &str) -> Result<Option<String>, TabularError> {
    if tokens == "-" {
        return Ok(None);
    }
    let p = sidecar_path(Path::new(tokens), ".manifest.json");
    if !p.exists() {
        return Ok(None);
    }
    Ok(Manifest::read(&p)?.key_fingerprint)
}

/// A filter's parameters, for the manifest.
fn describe(filter: &Tlbf) -> serde_json::Value {
    serde_json::json!({ "n": filter.n(), "m": filter.m(), "k": filter.k(), "estimated_fpr": filter.estimated_fpr() })
}

/// Open the token file and find its token column.
fn open_tokens(tokens: &str, column: Option<&str>) -> Result<(Source, usize), FilterRunError> {
    let src = Source::open(tokens).map_err(FilterRunError::Open)?;
    let col = src.column(column, &["token"], "token")?;
    Ok((src, col))
}

/// Building a TLBF filter from a token file.
pub struct FilterBuild<'a> {
    /// The token file (`-` for stdin).
    pub tokens: &'a str,
    /// Target false-positive rate.
    pub fpr: f64,
    /// The filter file and its manifest.
    pub plan: OutputPlan<'a>,
    /// The token column (default `token`).
    pub column: Option<&'a str>,
    /// The fingerprint for the header, when given: `--fingerprint`, or the
    /// key the tokens were made with (with its record for the manifest).
    /// Without one, the token file's manifest names it.
    pub fingerprint: Option<(String, Option<KeyRecord>)>,
    /// Build even though the token file's manifest records rejected rows.
    pub allow_source_rejects: bool,
    /// The version recorded in the manifest.
    pub version: &'a str,
}

impl FilterBuild<'_> {
    /// The fingerprint for the header and the key's record: the one given,
    /// or the token file's manifest's; the two must agree.
    fn header_fingerprint(&self) -> Result<(String, Option<KeyRecord>), FilterRunError> {
        let from_manifest = manifest_fingerprint(self.tokens)?;
        let (fp_hex, key_rec) = match (&self.fingerprint, &from_manifest) {
            (Some((f, rec)), _) => (f.to_ascii_lowercase(), rec.clone()),
            (None, Some(m)) => (m.clone(), None),
            (None, None) => return Err(FilterRunError::NoFingerprint),
        };
        if let Some(m) = from_manifest.filter(|m| *m != fp_hex) {
            return Err(FilterRunError::ManifestKey {
                manifest: m,
                header: fp_hex,
            });
        }
        Ok((fp_hex, key_rec))
    }

    /// Rows the token file's manifest records as rejected when it was made
    /// (those people are missing from a filter built from it): refused
    /// unless allowed.
    fn source_rows_rejected(&self) -> Result<u64, FilterRunError> {
        let p = sidecar_path(Path::new(self.tokens), ".manifest.json");
        if self.tokens == "-" || !p.exists() {
            return Ok(0);
        }
        let rejected = Manifest::read(&p)?.rows.rows_rejected;
        if rejected > 0 && !self.allow_source_rejects {
            return Err(FilterRunError::SourceRejects {
                tokens: self.tokens.to_string(),
                rejected,
            });
        }
        Ok(rejected)
    }

    /// Build and write the filter; returns the line that describes it.
    pub fn run(&self) -> Result<String, FilterRunError> {
        let mut manifest = Manifest::new("filter build", self.version);
        let (fp_hex, key_rec) = self.header_fingerprint()?;
        let source_rejected = self.source_rows_rejected()?;
        let fp = fingerprint_bytes(&fp_hex).map_err(FilterRunError::Fingerprint)?;
        let (mut src, col) = open_tokens(self.tokens, self.column)?;
        let mut run = RunOutputs::create(self.plan)?;
        let (tokens, rows_ok) = read_tokens(&mut src, col, run.rejects())?;
        let filter = Tlbf::build(tokens.iter(), self.fpr, fp).map_err(FilterRunError::Fpr)?;
        run.write(&filter.to_bytes())?;
        let input = src.finish()?;
        manifest.option("tokens", self.tokens.to_string());
        manifest.option("output", self.plan.output.to_string());
        manifest.option("fpr", self.fpr);
        manifest.key_fingerprint = Some(fp_hex.clone());
        manifest.keys.extend(key_rec);
        manifest.extra.insert("tlbf".into(), describe(&filter));
        if source_rejected > 0 {
            manifest
                .extra
                .insert(SOURCE_ROWS_REJECTED.into(), source_rejected.into());
        }
        let done = run.commit(&mut manifest, ("tokens", &input), "filter", rows_ok, false)?;
        Ok(format!(
            "filter of {} distinct tokens ({} rows, {} rejected): m = {} bits, k = {}, key {}",
            filter.n(),
            input.rows,
            done.rejected,
            filter.m(),
            filter.k(),
            fp_hex
        ))
    }
}

/// Checking a token file against a TLBF filter.
pub struct FilterCheckRun<'a> {
    /// The filter, and its path for the manifest.
    pub filter: (&'a Tlbf, &'a Path),
    /// The token file (`-` for stdin).
    pub tokens: &'a str,
    /// The checked file and its manifest.
    pub plan: OutputPlan<'a>,
    /// The token column (default `token`).
    pub column: Option<&'a str>,
    /// Columns passed through.
    pub keep: &'a [String],
    /// Check even though the token file's manifest names another key.
    pub ignore_fingerprint: bool,
    /// The version recorded in the manifest.
    pub version: &'a str,
}

impl FilterCheckRun<'_> {
    /// Check every row and write `token,in_filter` and the kept columns;
    /// returns the line that tells what was found.
    pub fn run(&self) -> Result<String, FilterRunError> {
        let mut manifest = Manifest::new("filter check", self.version);
        let (filter, filter_path) = self.filter;
        if let Some(m) = manifest_fingerprint(self.tokens)? {
            if m != filter.fingerprint_hex() && !self.ignore_fingerprint {
                return Err(FilterRunError::KeyMismatch {
                    filter: filter.fingerprint_hex(),
                    tokens: m,
                });
            }
        }
        let (mut src, col) = open_tokens(self.tokens, self.column)?;
        let header = src.header().to_vec();
        let keep = self
            .keep
            .iter()
            .map(|k| src.column(Some(k), &[], k))
            .collect::<Result<Vec<_>, _>>()?;
        let mut run = RunOutputs::create(self.plan)?;
        let job = FilterCheck {
            filter,
            col,
            keep,
            width: header.len(),
        };
        let (rows_out, hits) = job.run(&mut src, &mut run)?;
        let input = src.finish()?;
        manifest.option("filter", filter_path.display().to_string());
        manifest.option("tokens", self.tokens.to_string());
        manifest.option("output", self.plan.output.to_string());
        let kept: Vec<String> = job.keep.iter().map(|&i| header[i].clone()).collect();
        manifest.option("keep", kept);
        manifest.key_fingerprint = Some(filter.fingerprint_hex());
        manifest.extra.insert("in_filter".into(), hits.into());
        manifest.extra.insert("tlbf".into(), describe(filter));
        let done = run.commit(&mut manifest, ("tokens", &input), "checked", rows_out, true)?;
        Ok(format!(
            "checked {} tokens: {} in the filter (expected false-positive rate {:.2e}), {} rejected",
            rows_out,
            hits,
            filter.estimated_fpr(),
            done.rejected
        ))
    }
}
