//! Registry volunteers found by record linkage (`trialink link`), for
//! registry prioritisation beyond exact token matches.
//!
//! A links file is `trialink link` output whose right-hand file is the
//! cohort pseudonymised under the registry's key (`trialink pseudonymise
//! --key registry.key --input cohort.csv --allow-blank --clk-schema …`), with
//! rows identified by row number (no `--id-column`). Its `right` column then
//! names cohort rows: exact (token) and fuzzy (CLK) links alike. The chain
//! is checked through the manifests before a row number is trusted: the
//! links file's digest is the one its manifest records; its right-hand file
//! is the one the pseudonymise manifest records as output; that run rejected
//! no row (so row numbers line up); and its input is the cohort being
//! invited — compared with the cohort's BLAKE3 after the first pass, before
//! anything is written.

use std::path::{Path, PathBuf};

/// Why a registry links file was refused. Positions and names only.
#[derive(Debug, thiserror::Error)]
pub enum LinksError {
    /// A links file that cannot be trusted to name the cohort's rows.
    #[error("registry links {path}: {problem}")]
    Untrusted {
        /// The links file.
        path: PathBuf,
        /// What is wrong.
        problem: &'static str,
    },
    /// A malformed row.
    #[error("registry links {path}, line {line}, column `{column}`: expected {expected}")]
    Row {
        /// The links file.
        path: PathBuf,
        /// The line.
        line: u64,
        /// The column.
        column: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// The links were made from another cohort file.
    #[error("registry links {path} were made from a different cohort file than {cohort} (BLAKE3 differs)")]
    NotForCohort {
        /// The links file.
        path: PathBuf,
        /// The cohort.
        cohort: String,
    },
    /// CSV or manifest syntax.
    #[error(transparent)]
    Tabular(#[from] tabular::TabularError),
}

/// Cohort rows linked to the registry.
#[derive(Debug, Clone)]
pub struct RegistryLinks {
    /// Linked cohort record numbers (1-based data rows), sorted, unique.
    pub rows: Vec<u64>,
    /// Links by method.
    pub exact: u64,
    /// Fuzzy (CLK) links.
    pub fuzzy: u64,
    /// BLAKE3 of the cohort the links were made from.
    pub cohort_blake3: String,
    /// Its data rows.
    pub cohort_rows: u64,
    /// BLAKE3 of the links file.
    pub blake3: String,
    /// Its size in bytes.
    pub bytes: u64,
}

impl RegistryLinks {
    /// Whether cohort record `record` is linked.
    pub fn contains(&self, record: u64) -> bool {
        self.rows.binary_search(&record).is_ok()
    }

    /// Refuse links made from another cohort file than the one read
    /// (`blake3`, `rows`: the cohort's digest and data rows).
    pub fn check_cohort(&self, path: &Path, cohort: &str, blake3: &str, rows: u64) -> Result<(), LinksError> {
        if self.cohort_blake3 != blake3 || self.cohort_rows != rows {
            return Err(LinksError::NotForCohort {
                path: path.to_path_buf(),
                cohort: cohort.to_string(),
            });
        }
        Ok(())
    }
}

fn bad(path: &Path, problem: &'static str) -> LinksError {
    LinksError::Untrusted {
        path: path.to_path_buf(),
        problem,
    }
}

/// Find a file a manifest names: as recorded, else beside `near`.
fn locate(recorded: &str, near: &Path) -> Option<PathBuf> {
    let p = PathBuf::from(recorded);
    if p.exists() {
        return Some(p);
    }
    let name = p.file_name()?;
    let q = near.parent().unwrap_or(Path::new(".")).join(name);
    q.exists().then_some(q)
}

/// Read and check a links file (see the module docs).
pub fn load(path: &Path) -> Result<RegistryLinks, LinksError> {
    let mpath = tabular::sidecar_path(path, ".manifest.json");
    if !mpath.exists() {
        return Err(bad(
            path,
            "has no manifest beside it (trialink link writes <file>.manifest.json)",
        ));
    }
    let m = tabular::Manifest::read(&mpath)?;
    if m.command != "link" {
        return Err(bad(
            path,
            "is not `trialink link` output (its manifest names another command)",
        ));
    }
    if m.options.get("id_column").is_some_and(|v| !v.is_null()) {
        return Err(bad(
            path,
            "was linked with --id-column; registry links must identify cohort rows by row number",
        ));
    }
    let out = m
        .outputs
        .iter()
        .find(|f| f.role == "matches")
        .ok_or_else(|| bad(path, "has a manifest without its matches output"))?;
    let right = m
        .inputs
        .iter()
        .find(|f| f.role == "right")
        .ok_or_else(|| bad(path, "has a manifest without its right-hand input"))?;
    let right_path = locate(&right.path, path).ok_or_else(|| {
        bad(
            path,
            "names a right-hand (cohort token) file that is not found as recorded nor beside the links file",
        )
    })?;
    let rm_path = tabular::sidecar_path(&right_path, ".manifest.json");
    if !rm_path.exists() {
        return Err(bad(path, "names a right-hand file that has no manifest"));
    }
    let rm = tabular::Manifest::read(&rm_path)?;
    let tokens = rm.outputs.iter().find(|f| f.role == "tokens");
    let input = rm.inputs.iter().find(|f| f.role == "input");
    let (Some(tokens), Some(input)) = (tokens, input) else {
        return Err(bad(
            path,
            "names a right-hand file that is not `trialink pseudonymise` output",
        ));
    };
    if rm.command != "pseudonymise" || tokens.blake3 != right.blake3 {
        return Err(bad(
            path,
            "names a right-hand file whose manifest does not match it (a different or changed file)",
        ));
    }
    if rm.rows.rows_rejected != 0 || rm.rows.rows_out != rm.rows.rows_in {
        return Err(bad(
            path,
            "was made from a cohort token file that rejected rows, so its row numbers do not line up with the cohort (pseudonymise the cohort with --allow-blank)",
        ));
    }

    let p = path.to_string_lossy().into_owned();
    let mut src = tabular::Source::open(&p)?;
    let rcol = src.column(None, &["right"], "right")?;
    let mcol = src.column(None, &["method"], "method")?;
    let mut rows = Vec::new();
    let (mut exact, mut fuzzy) = (0u64, 0u64);
    let mut rec = csv::ByteRecord::new();
    while src.read(&mut rec)? {
        let line = src.position().line;
        let r = std::str::from_utf8(&rec[rcol])
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|&n| n >= 1 && n <= input.rows.unwrap_or(u64::MAX));
        let Some(r) = r else {
            return Err(LinksError::Row {
                path: path.to_path_buf(),
                line,
                column: "right",
                expected: "a cohort row number (1 to the cohort's rows)",
            });
        };
        match &rec[mcol] {
            b"exact" => exact += 1,
            b"fuzzy" => fuzzy += 1,
            _ => {
                return Err(LinksError::Row {
                    path: path.to_path_buf(),
                    line,
                    column: "method",
                    expected: "`exact` or `fuzzy`",
                })
            }
        }
        rows.push(r);
    }
    let summary = src.finish()?;
    if summary.blake3 != out.blake3 {
        return Err(bad(
            path,
            "differs from the file its manifest records (changed after linking)",
        ));
    }
    rows.sort_unstable();
    rows.dedup();
    Ok(RegistryLinks {
        rows,
        exact,
        fuzzy,
        cohort_blake3: input.blake3.clone(),
        cohort_rows: input.rows.unwrap_or(0),
        blake3: summary.blake3,
        bytes: summary.bytes,
    })
}
