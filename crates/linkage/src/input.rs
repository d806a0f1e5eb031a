//! Reading what `trialink link` and `trialink evaluate` are given: the two
//! files of pseudonymised rows (tokens, NHS tokens, CLKs and blocking
//! keys), their manifests, and `left,right` pair files. Errors name the
//! file, line and column, never a value.

use crate::config::Mode;
use crate::side::{parse_blocking, Side};
use pseudonym::Token;
use std::collections::BTreeMap;
use std::path::Path;
use tabular::{sidecar_path, Manifest, Source, TabularError};

/// Why a link input could not be read. Its `Display` names positions and
/// column names only.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be opened or its header read.
    #[error("{path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: TabularError,
    },
    /// Reading the file failed (its own position and hint).
    #[error(transparent)]
    Read(#[from] TabularError),
    /// Neither evidence column the mode uses is present.
    #[error("{path}: no {wanted} column (header: {header})")]
    NoEvidence {
        /// The file.
        path: String,
        /// The columns looked for.
        wanted: &'static str,
        /// The header, as `tabular::display_header` shows it.
        header: String,
    },
    /// A row has a different number of fields from the header.
    #[error("{path}: line {line}: expected {expected} fields, found {found}")]
    FieldCount {
        /// The file.
        path: String,
        /// 1-based line.
        line: u64,
        /// Header fields.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// A row lacks a column of a pair file.
    #[error("{path}: line {line}: missing fields")]
    MissingFields {
        /// The file.
        path: String,
        /// 1-based line.
        line: u64,
    },
    /// A cell is malformed.
    #[error("{path}: line {line}, column `{column}`: {what}")]
    Cell {
        /// The file.
        path: String,
        /// 1-based line.
        line: u64,
        /// The column's name.
        column: String,
        /// What was expected.
        what: String,
    },
}

impl InputError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            InputError::Read(e) => e.hint().map(str::to_string),
            InputError::NoEvidence { .. } => Some(
                "link token files from `trialink pseudonymise` and/or CLK files from `trialink encode`"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// One side read from a file: the rows, their identifiers for the output,
/// what the file had, and the rows refused by reason code.
#[derive(Debug)]
pub struct LinkInput {
    /// The rows.
    pub side: Side,
    /// Per row, the identifier written to the match file (the id column's
    /// value, or the 1-based row number).
    pub ids: Vec<String>,
    /// The file as read (for the manifest).
    pub summary: tabular::InputSummary,
    /// Whether it has a `clk` column (read).
    pub has_clk: bool,
    /// Whether it has a `blocking` column (read).
    pub has_blocking: bool,
    /// Rows refused, by reason code.
    pub rejected: BTreeMap<&'static str, u64>,
}

/// Column positions of one link file.
struct Columns {
    tok: Option<usize>,
    clk: Option<usize>,
    nhs: Option<usize>,
    blk: Option<usize>,
    id: Option<usize>,
}

fn columns(src: &mut Source, path: &str, id_column: Option<&str>, mode: Mode) -> Result<Columns, InputError> {
    let (want_tokens, want_clks) = (mode != Mode::ClkOnly, mode != Mode::TokenOnly);
    let opt = |on: bool, name: &str| -> Result<Option<usize>, InputError> {
        Ok(if on {
            src.optional_column(None, &[name], name)?
        } else {
            None
        })
    };
    let tok = opt(want_tokens, "token")?;
    let clk = opt(want_clks, "clk")?;
    let nhs = opt(want_tokens && want_clks, "nhs_token")?;
    let blk = opt(want_clks, "blocking")?;
    if tok.is_none() && clk.is_none() {
        return Err(InputError::NoEvidence {
            path: path.to_string(),
            wanted: match (want_tokens, want_clks) {
                (true, true) => "`token` or `clk`",
                (true, false) => "`token`",
                _ => "`clk`",
            },
            header: tabular::display_header(src.header()),
        });
    }
    let id = match id_column {
        Some(c) => Some(src.column(Some(c), &[], c)?),
        None => None,
    };
    Ok(Columns {
        tok,
        clk,
        nhs,
        blk,
        id,
    })
}

/// Read one side of a linkage (`-` for stdin): the columns `mode` uses,
/// identifiers from `id_column` (default: row numbers). A row whose
/// blocking keys are refused keeps its place and is counted in
/// [`LinkInput::rejected`]; a malformed cell stops the read.
pub fn read_side(path: &str, id_column: Option<&str>, mode: Mode) -> Result<LinkInput, InputError> {
    let mut src = Source::open(path).map_err(|source| InputError::Open {
        path: path.to_string(),
        source,
    })?;
    let header = src.header().to_vec();
    let cols = columns(&mut src, path, id_column, mode)?;
    let mut side = Side::new(0);
    let mut rejected = BTreeMap::new();
    let mut ids = Vec::new();
    let mut clk_bytes: Option<usize> = None;
    let mut rec = csv::ByteRecord::new();
    let cell_err = |line: u64, column: &str, what: &str| InputError::Cell {
        path: path.to_string(),
        line,
        column: column.to_string(),
        what: what.to_string(),
    };
    let token = |rec: &csv::ByteRecord, c: Option<usize>, line: u64| match c {
        Some(c) if !rec[c].is_empty() => Token::from_hex_bytes(&rec[c])
            .map(|t| Some(t.0))
            .map_err(|_| cell_err(line, &header[c], "expected 64 hexadecimal characters")),
        _ => Ok(None),
    };
    while src.read(&mut rec)? {
        let line = src.position().line;
        if rec.len() != header.len() {
            return Err(InputError::FieldCount {
                path: path.to_string(),
                line,
                expected: header.len(),
                found: rec.len(),
            });
        }
        let tok = token(&rec, cols.tok, line)?;
        let clk_v = match cols.clk {
            Some(c) if !rec[c].is_empty() => {
                let s = std::str::from_utf8(&rec[c])
                    .map_err(|_| cell_err(line, "clk", "expected standard base64"))?;
                let b = bloom::clk::from_base64(s, clk_bytes)
                    .map_err(|e| cell_err(line, "clk", &e.to_string()))?;
                if clk_bytes.is_none() {
                    let t = s.trim();
                    let n = t.len() / 4 * 3 - t.bytes().rev().take_while(|&c| c == b'=').count();
                    clk_bytes = Some(n);
                    side.enable_clks(n * 8);
                }
                Some(b)
            }
            _ => None,
        };
        let blocks = match cols.blk {
            Some(c) => {
                let cell =
                    std::str::from_utf8(&rec[c]).map_err(|_| cell_err(line, "blocking", "not UTF-8"))?;
                parse_blocking(cell).ok_or_else(|| {
                    cell_err(
                        line,
                        "blocking",
                        "expected `name=16 hex digits` items separated by `;`",
                    )
                })?
            }
            None => Vec::new(),
        };
        ids.push(match cols.id {
            Some(c) => String::from_utf8_lossy(&rec[c]).into_owned(),
            None => (ids.len() + 1).to_string(),
        });
        let nhs_token = token(&rec, cols.nhs, line)?;
        if let Err(why) = side.try_push_with_nhs(tok, nhs_token, clk_v.as_deref(), &blocks) {
            *rejected.entry(why.code()).or_insert(0) += 1;
        }
    }
    let summary = src.finish()?;
    Ok(LinkInput {
        side,
        ids,
        summary,
        has_clk: cols.clk.is_some(),
        has_blocking: cols.blk.is_some(),
        rejected,
    })
}

/// Read a `left,right` pair file (a truth file or a match file).
pub fn read_pairs(path: &str) -> Result<Vec<(String, String)>, InputError> {
    let mut src = Source::open(path).map_err(|source| InputError::Open {
        path: path.to_string(),
        source,
    })?;
    let l = src.column(None, &["left"], "left")?;
    let r = src.column(None, &["right"], "right")?;
    let mut out = Vec::new();
    let mut rec = csv::ByteRecord::new();
    while src.read(&mut rec)? {
        if rec.len() <= l.max(r) {
            return Err(InputError::MissingFields {
                path: path.to_string(),
                line: src.position().line,
            });
        }
        out.push((
            String::from_utf8_lossy(&rec[l]).into_owned(),
            String::from_utf8_lossy(&rec[r]).into_owned(),
        ));
    }
    Ok(out)
}

/// One column of a file, as text (e.g. a match file's `evidence`).
pub fn read_column(path: &str, name: &str) -> Result<Vec<String>, InputError> {
    let mut src = Source::open(path).map_err(|source| InputError::Open {
        path: path.to_string(),
        source,
    })?;
    let c = src.column(None, &[name], name)?;
    let mut out = Vec::new();
    let mut rec = csv::ByteRecord::new();
    while src.read(&mut rec)? {
        out.push(
            rec.get(c)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
        );
    }
    Ok(out)
}

/// The manifest beside a file (`<file>.manifest.json`), if there is a
/// readable one.
pub fn manifest_of(path: &str) -> Option<Manifest> {
    if path == "-" {
        return None;
    }
    let p = sidecar_path(Path::new(path), ".manifest.json");
    p.exists().then(|| Manifest::read(&p).ok()).flatten()
}

/// Why two inputs cannot be linked, from their manifests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestMismatch {
    /// Tokens made under different keys never agree.
    #[error("the left tokens were made under key {left}, the right under key {right}: they can never match")]
    TokenKeys {
        /// Left key fingerprint.
        left: String,
        /// Right key fingerprint.
        right: String,
    },
    /// CLKs made with different schemas are not comparable.
    #[error(
        "the two files' CLKs were made with different schemas (their manifests' clk_schema_sha256 differ)"
    )]
    ClkSchemas,
}

impl ManifestMismatch {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            ManifestMismatch::TokenKeys { .. } => {
                "pseudonymise both under the same scope key, or use --mode clk"
            }
            ManifestMismatch::ClkSchemas => {
                "encode both with the same schema and secret, or use --mode token"
            }
        }
    }
}

/// Check that the two manifests (when both exist) allow linking in `mode`:
/// tokens under one key (unless CLK-only), CLKs under one schema (unless
/// token-only).
pub fn check_manifests(
    left: Option<&Manifest>,
    right: Option<&Manifest>,
    mode: Mode,
) -> Result<(), ManifestMismatch> {
    let (Some(lm), Some(rm)) = (left, right) else {
        return Ok(());
    };
    if let (Some(x), Some(y)) = (&lm.key_fingerprint, &rm.key_fingerprint) {
        if x != y && mode != Mode::ClkOnly {
            return Err(ManifestMismatch::TokenKeys {
                left: x.clone(),
                right: y.clone(),
            });
        }
    }
    if let (Some(x), Some(y)) = (
        lm.extra.get("clk_schema_sha256"),
        rm.extra.get("clk_schema_sha256"),
    ) {
        if x != y && mode != Mode::TokenOnly {
            return Err(ManifestMismatch::ClkSchemas);
        }
    }
    Ok(())
}
