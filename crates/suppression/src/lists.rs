//! Reading token lists (token CSV + manifest, or TLBF) with the key check of
//! docs/formats.md (token file): the service derives the scope key named by the list (or the
//! one expected) from its master key and refuses a list made under another
//! key, naming both fingerprints.

use crate::{TokenBytes, TokenSet};
use pseudonym::{Key, Scope, Token};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a token list was refused. Never carries a token.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A token CSV without its manifest.
    #[error(
        "{path}: no manifest beside it (expected {manifest}); the key it was made with cannot be checked"
    )]
    NoManifest {
        /// The token file.
        path: PathBuf,
        /// The manifest path looked for.
        manifest: PathBuf,
    },
    /// The manifest could not be read.
    #[error("{0}")]
    Manifest(#[from] tabular::TabularError),
    /// The manifest names no key fingerprint.
    #[error("{manifest}: the manifest names no key_fingerprint")]
    NoFingerprint {
        /// The manifest.
        manifest: PathBuf,
    },
    /// No scope in the manifest and none given.
    #[error("{path}: the manifest names no scope and none was given; pass the scope as an option")]
    NoScope {
        /// The token file.
        path: PathBuf,
    },
    /// The list names a scope other than the one required.
    #[error(
        "{path}: made for scope {found} with key fingerprint {found_fingerprint}, but this needs scope {expected}, key fingerprint {expected_fingerprint} (a file for another study or registry)"
    )]
    WrongScope {
        /// The token file.
        path: PathBuf,
        /// The scope named by the list.
        found: String,
        /// The fingerprint named by the list (`unknown` if none).
        found_fingerprint: String,
        /// The scope required.
        expected: String,
        /// The fingerprint of the master key derived for the required scope.
        expected_fingerprint: String,
    },
    /// A scope label that breaks the grammar.
    #[error("{path}: the scope named in the manifest is not a valid scope")]
    BadScope {
        /// The token file.
        path: PathBuf,
    },
    /// Made with another key.
    #[error(
        "{path}: made with key fingerprint {found}, but the master key derives {expected} for scope {scope}; the list was made with a different key"
    )]
    FingerprintMismatch {
        /// The token file.
        path: PathBuf,
        /// The fingerprint in the list's manifest or filter header.
        found: String,
        /// The fingerprint of the derived scope key.
        expected: String,
        /// The scope.
        scope: String,
    },
    /// A safety list (enrolled) whose file is not the one its manifest
    /// describes: edited or truncated after it was made.
    #[error(
        "{path}: the file's BLAKE3 digest is not the one its manifest {manifest} records: it was changed after it was made (rows added or removed by hand?); make the list again with `trialink pseudonymise`"
    )]
    ChangedSinceManifest {
        /// The token file.
        path: PathBuf,
        /// The manifest.
        manifest: PathBuf,
    },
    /// A safety list (enrolled) made from a file some of whose rows were
    /// rejected: the people on those rows are missing from it and would be
    /// invited.
    #[error(
        "{path}: its manifest records {rejected} rejected row(s) when the list was made: those people are missing from the list and would be invited; fix the rows at source (see the rejects file made beside the list) and make the list again"
    )]
    SourceRowsRejected {
        /// The token file.
        path: PathBuf,
        /// Rows the maker rejected.
        rejected: u64,
    },
    /// A TLBF file that does not parse.
    #[error("{path}: {source}")]
    Tlbf {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: bloom::tlbf::TlbfError,
    },
    /// A CSV problem (missing `token` column, malformed CSV).
    #[error("{0}")]
    Csv(tabular::TabularError),
    /// A `token` cell that is not 64 hex characters.
    #[error("{path}: line {line}, column `{column}`: expected 64 hexadecimal characters")]
    BadToken {
        /// The file.
        path: PathBuf,
        /// Line number.
        line: u64,
        /// The column.
        column: &'static str,
    },
}

/// Which scope a list must be under.
#[derive(Debug, Clone)]
pub enum ScopeRule {
    /// Exactly this scope (e.g. `trial:<study>` for an enrolled list): a list
    /// naming another scope is refused.
    Exactly(Scope),
    /// The scope the list names, else this default (e.g. a registry).
    NamedOr(Option<Scope>),
}

/// A loaded, key-checked token list.
#[derive(Debug)]
pub struct TokenList {
    /// The tokens (`token`: NHS number + DOB).
    pub set: TokenSet,
    /// The `nhs_token` column's tokens (NHS number alone), when the list
    /// has one (`pseudonymise --with-nhs-token`); empty otherwise.
    pub nhs_set: TokenSet,
    /// The scope they are under.
    pub scope: Scope,
    /// The scope key fingerprint (checked).
    pub fingerprint: String,
    /// Data rows read (token CSV) or tokens inserted (filter).
    pub rows: u64,
    /// Whether the list is a TLBF filter.
    pub is_filter: bool,
    /// BLAKE3 of the file, hex (for manifests).
    pub blake3: String,
    /// Bytes.
    pub bytes: u64,
}

/// The key, in a TLBF filter's manifest, of the rows its token file's maker
/// rejected (`filter build --allow-source-rejects`): a safety list (enrolled)
/// with any is refused, like a token list.
pub const SOURCE_ROWS_REJECTED: &str = "source_rows_rejected";

/// Read a token list, check its key against `master` derived for its scope,
/// and return it with the derived scope key (to pseudonymise the cohort
/// under the same scope). A TLBF file is recognised by its magic bytes.
pub fn load_token_list(path: &Path, master: &Key, rule: &ScopeRule) -> Result<(TokenList, Key), ListError> {
    load_token_list_with(path, &|s: &Scope| master.derive(s), rule, true)
}

/// [`load_token_list`] with the scope keys given by `derive` (e.g. a
/// registered study's key, which includes a secret the store holds).
/// `allow_blank`: whether a row with neither `token` nor `nhs_token` is
/// skipped (a registry's CLK-only rows) or refused (a safety list).
pub fn load_token_list_with(
    path: &Path,
    derive: &dyn Fn(&Scope) -> Key,
    rule: &ScopeRule,
    allow_blank: bool,
) -> Result<(TokenList, Key), ListError> {
    let io = |source| ListError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Read three times (magic, digest, body): a pipe or device is refused.
    let mut f = tabular::limited::open_regular(path, "token list").map_err(io)?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut f, &mut magic).map_err(io)?;
    drop(f);
    let blake3 = blake3_file(path).map_err(io)?;
    let bytes = std::fs::metadata(path).map_err(io)?.len();
    let manifest_path = tabular::sidecar_path(path, ".manifest.json");
    let manifest = if manifest_path.exists() {
        Some(tabular::Manifest::read(&manifest_path)?)
    } else {
        None
    };
    let scope = choose_scope(path, manifest.as_ref(), derive, rule)?;
    let key = derive(&scope);
    let expected = key.fingerprint().to_string();
    let mismatch = |found: String| ListError::FingerprintMismatch {
        path: path.to_path_buf(),
        found,
        expected: expected.clone(),
        scope: scope.to_string(),
    };

    if n == 4 && magic == bloom::tlbf::MAGIC {
        let filter = bloom::tlbf::Tlbf::read_file(path).map_err(|source| ListError::Tlbf {
            path: path.to_path_buf(),
            source,
        })?;
        if filter.fingerprint_hex() != expected {
            return Err(mismatch(filter.fingerprint_hex()));
        }
        if let Some(fp) = manifest.as_ref().and_then(|m| m.key_fingerprint.clone()) {
            if fp != expected {
                return Err(mismatch(fp));
            }
        }
        if !allow_blank {
            // A safety list fails closed, as a token list does: the filter
            // needs the manifest `filter build` wrote beside it, describing
            // this very file, and made from tokens without a lost row.
            let m = manifest.as_ref().ok_or_else(|| ListError::NoManifest {
                path: path.to_path_buf(),
                manifest: manifest_path.clone(),
            })?;
            if !m.outputs.is_empty() && !m.outputs.iter().any(|o| o.blake3 == blake3) {
                return Err(ListError::ChangedSinceManifest {
                    path: path.to_path_buf(),
                    manifest: manifest_path.clone(),
                });
            }
            // rows lost when the tokens were made, or when the filter was
            // built from them (an unreadable token)
            let source_rejected = m
                .extra
                .get(SOURCE_ROWS_REJECTED)
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            let source_rejected = source_rejected.saturating_add(m.rows.rows_rejected);
            if source_rejected > 0 {
                return Err(ListError::SourceRowsRejected {
                    path: path.to_path_buf(),
                    rejected: source_rejected,
                });
            }
        }
        let rows = filter.n();
        return Ok((
            TokenList {
                set: TokenSet::Filter(Box::new(filter)),
                nhs_set: TokenSet::empty(),
                scope,
                fingerprint: expected,
                rows,
                is_filter: true,
                blake3,
                bytes,
            },
            key,
        ));
    }

    let manifest = manifest.ok_or_else(|| ListError::NoManifest {
        path: path.to_path_buf(),
        manifest: manifest_path.clone(),
    })?;
    let fp = manifest.key_fingerprint.clone().ok_or(ListError::NoFingerprint {
        manifest: manifest_path.clone(),
    })?;
    if fp != expected {
        return Err(mismatch(fp));
    }
    if !allow_blank {
        // A safety list fails closed: it must be the file its manifest
        // describes, made without losing a row.
        if !manifest.outputs.is_empty() && !manifest.outputs.iter().any(|o| o.blake3 == blake3) {
            return Err(ListError::ChangedSinceManifest {
                path: path.to_path_buf(),
                manifest: manifest_path.clone(),
            });
        }
        if manifest.rows.rows_rejected > 0 {
            return Err(ListError::SourceRowsRejected {
                path: path.to_path_buf(),
                rejected: manifest.rows.rows_rejected,
            });
        }
    }
    let (v, vn, rows) = read_token_rows(path, allow_blank)?;
    Ok((
        TokenList {
            set: TokenSet::from_unsorted(v),
            nhs_set: TokenSet::from_unsorted(vn),
            scope,
            fingerprint: expected,
            rows,
            is_filter: false,
            blake3,
            bytes,
        },
        key,
    ))
}

/// The scope a token list's tokens are under: the one `rule` requires (a
/// manifest naming another is refused), or the manifest's, else the rule's
/// default.
fn choose_scope(
    path: &Path,
    manifest: Option<&tabular::Manifest>,
    derive: &dyn Fn(&Scope) -> Key,
    rule: &ScopeRule,
) -> Result<Scope, ListError> {
    let named_scope = match manifest.and_then(|m| m.scope.clone()) {
        Some(s) => Some(Scope::new(&s).map_err(|_| ListError::BadScope {
            path: path.to_path_buf(),
        })?),
        None => None,
    };
    let scope = match rule {
        ScopeRule::Exactly(want) => {
            if let Some(found) = &named_scope {
                if found != want {
                    return Err(ListError::WrongScope {
                        path: path.to_path_buf(),
                        found: found.to_string(),
                        found_fingerprint: manifest
                            .and_then(|m| m.key_fingerprint.clone())
                            .unwrap_or_else(|| "unknown".into()),
                        expected: want.to_string(),
                        expected_fingerprint: derive(want).fingerprint().to_string(),
                    });
                }
            }
            want.clone()
        }
        ScopeRule::NamedOr(default) => {
            named_scope
                .or_else(|| default.clone())
                .ok_or_else(|| ListError::NoScope {
                    path: path.to_path_buf(),
                })?
        }
    };
    Ok(scope)
}

/// The `token` and `nhs_token` columns of a token CSV (unsorted) and the
/// rows read. A row with neither is skipped when `allow_blank`, else
/// refused; a cell that is not a token is refused by line and column.
fn read_token_rows(
    path: &Path,
    allow_blank: bool,
) -> Result<(Vec<TokenBytes>, Vec<TokenBytes>, u64), ListError> {
    let io = |source| ListError::Io {
        path: path.to_path_buf(),
        source,
    };
    let p = path.to_str().ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "path is not UTF-8",
        ))
    })?;
    let mut src = tabular::Source::open(p).map_err(ListError::Csv)?;
    let col = src
        .column(None, &["token", "token_nhs_dob"], "token")
        .map_err(ListError::Csv)?;
    let nhs_col = src
        .optional_column(None, &["nhs_token", "token_nhs"], "nhs_token")
        .map_err(ListError::Csv)?;
    let mut rec = csv::ByteRecord::new();
    let mut v: Vec<TokenBytes> = Vec::new();
    let mut vn: Vec<TokenBytes> = Vec::new();
    let blank = |rec: &csv::ByteRecord, i: usize| rec.get(i).is_none_or(|c| c.trim_ascii().is_empty());
    while src.read(&mut rec).map_err(ListError::Csv)? {
        let line = src.position().line;
        let bad = |column: &'static str| ListError::BadToken {
            path: path.to_path_buf(),
            line,
            column,
        };
        let token_blank = blank(&rec, col);
        let nhs_blank = nhs_col.is_none_or(|i| blank(&rec, i));
        if token_blank && nhs_blank {
            // A row with no token at all (a CLK-only registry row, made by
            // `pseudonymise --clk-schema` or `--allow-blank`) has nothing to
            // match on here; it links through `trialink link` instead. On a
            // safety list (enrolled) such a row is refused: it would
            // silently suppress nobody.
            if !allow_blank {
                return Err(bad("token"));
            }
            continue;
        }
        if !token_blank {
            let t = rec
                .get(col)
                .and_then(|c| Token::from_hex_bytes(c).ok())
                .ok_or_else(|| bad("token"))?;
            v.push(t.0);
        }
        if let (Some(i), false) = (nhs_col, nhs_blank) {
            let t = rec
                .get(i)
                .and_then(|c| Token::from_hex_bytes(c).ok())
                .ok_or_else(|| bad("nhs_token"))?;
            vn.push(t.0);
        }
    }
    Ok((v, vn, src.rows()))
}

/// BLAKE3 of a file, lowercase hex.
pub fn blake3_file(path: &Path) -> std::io::Result<String> {
    let mut h = blake3::Hasher::new();
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().to_hex().to_string())
}

/// Check the manifest beside a token-bearing file (e.g. uptake feedback)
/// against the master key: the scope it names must be `want`, and its key
/// fingerprint must be that of the master key derived for `want`. Returns
/// the derived key's fingerprint and whether a manifest was found; a file
/// without a manifest is refused when `required`.
pub fn check_manifest(
    path: &Path,
    master: &Key,
    want: &Scope,
    required: bool,
) -> Result<(String, bool), ListError> {
    check_manifest_key(path, &master.derive(want), want, required)
}

/// [`check_manifest`] against the scope key itself.
pub fn check_manifest_key(
    path: &Path,
    scope_key: &Key,
    want: &Scope,
    required: bool,
) -> Result<(String, bool), ListError> {
    let manifest_path = tabular::sidecar_path(path, ".manifest.json");
    let expected = scope_key.fingerprint().to_string();
    if !manifest_path.exists() {
        if required {
            return Err(ListError::NoManifest {
                path: path.to_path_buf(),
                manifest: manifest_path,
            });
        }
        return Ok((expected, false));
    }
    let m = tabular::Manifest::read(&manifest_path)?;
    if let Some(s) = &m.scope {
        if s != want.as_str() {
            return Err(ListError::WrongScope {
                path: path.to_path_buf(),
                found: s.clone(),
                found_fingerprint: m.key_fingerprint.clone().unwrap_or_else(|| "unknown".into()),
                expected: want.to_string(),
                expected_fingerprint: expected,
            });
        }
    }
    match m.key_fingerprint {
        Some(fp) if fp != expected => Err(ListError::FingerprintMismatch {
            path: path.to_path_buf(),
            found: fp,
            expected,
            scope: want.to_string(),
        }),
        Some(_) => Ok((expected, true)),
        None if required => Err(ListError::NoFingerprint {
            manifest: manifest_path,
        }),
        None => Ok((expected, true)),
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = r.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pseudonym::{Date, Dob, NhsNumber, TokenKey};

    fn write_list(
        dir: &Path,
        name: &str,
        key: &Key,
        scope: Option<&str>,
        people: &[(&str, &str)],
    ) -> PathBuf {
        let tk = TokenKey::new(key);
        let as_of = Date::new(2026, 11, 21).unwrap();
        let p = dir.join(name);
        let mut s = String::from("token\n");
        for (n, d) in people {
            let t = tk.token_nhs_dob(
                &NhsNumber::parse(n).unwrap(),
                &Dob::parse(d, &Default::default(), as_of).unwrap(),
            );
            s.push_str(&t.to_hex_string());
            s.push('\n');
        }
        std::fs::write(&p, s).unwrap();
        let mut m = tabular::Manifest::new("pseudonymise", "test");
        m.scope = scope.map(str::to_string);
        m.key_fingerprint = Some(key.fingerprint().to_string());
        m.write(&tabular::sidecar_path(&p, ".manifest.json")).unwrap();
        p
    }

    #[test]
    fn accepts_matching_key_and_refuses_others_naming_both() {
        let d = tempfile::tempdir().unwrap();
        let master = Key::from_bytes([3; 32]);
        let scope = Scope::new("registry:bpor").unwrap();
        let good = write_list(
            d.path(),
            "good.csv",
            &master.derive(&scope),
            Some("registry:bpor"),
            &[("9991335056", "1980-01-05")],
        );
        let (list, key) = load_token_list(&good, &master, &ScopeRule::NamedOr(None)).unwrap();
        assert_eq!(list.rows, 1);
        assert_eq!(key.fingerprint(), master.derive(&scope).fingerprint());
        let other = Key::from_bytes([4; 32]);
        let bad = write_list(
            d.path(),
            "bad.csv",
            &other.derive(&scope),
            Some("registry:bpor"),
            &[("9991335056", "1980-01-05")],
        );
        let e = load_token_list(&bad, &master, &ScopeRule::NamedOr(None)).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(&other.derive(&scope).fingerprint().to_string()),
            "{msg}"
        );
        assert!(
            msg.contains(&master.derive(&scope).fingerprint().to_string()),
            "{msg}"
        );
    }

    #[test]
    fn wrong_study_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let master = Key::from_bytes([3; 32]);
        let other = Scope::trial("other").unwrap();
        let p = write_list(
            d.path(),
            "e.csv",
            &master.derive(&other),
            Some("trial:other"),
            &[],
        );
        let e = load_token_list(&p, &master, &ScopeRule::Exactly(Scope::trial("mine").unwrap())).unwrap_err();
        assert!(matches!(e, ListError::WrongScope { .. }), "{e}");
    }

    #[test]
    fn no_scope_needs_default() {
        let d = tempfile::tempdir().unwrap();
        let master = Key::from_bytes([3; 32]);
        let scope = Scope::new("registry:x").unwrap();
        let p = write_list(d.path(), "r.csv", &master.derive(&scope), None, &[]);
        assert!(matches!(
            load_token_list(&p, &master, &ScopeRule::NamedOr(None)),
            Err(ListError::NoScope { .. })
        ));
        assert!(load_token_list(&p, &master, &ScopeRule::NamedOr(Some(scope))).is_ok());
    }

    #[test]
    fn missing_manifest_and_bad_token() {
        let d = tempfile::tempdir().unwrap();
        let master = Key::from_bytes([3; 32]);
        let p = d.path().join("t.csv");
        std::fs::write(&p, "token\nabc\n").unwrap();
        let rule = ScopeRule::NamedOr(Some(Scope::new("registry:x").unwrap()));
        assert!(matches!(
            load_token_list(&p, &master, &rule),
            Err(ListError::NoManifest { .. })
        ));
        let mut m = tabular::Manifest::new("pseudonymise", "test");
        m.key_fingerprint = Some(
            master
                .derive(&Scope::new("registry:x").unwrap())
                .fingerprint()
                .to_string(),
        );
        m.write(&tabular::sidecar_path(&p, ".manifest.json")).unwrap();
        let e = load_token_list(&p, &master, &rule).unwrap_err();
        assert!(matches!(e, ListError::BadToken { line: 2, .. }), "{e}");
        assert!(!e.to_string().contains("abc"));
    }

    #[test]
    fn tlbf_checked_by_header_fingerprint() {
        let d = tempfile::tempdir().unwrap();
        let master = Key::from_bytes([3; 32]);
        let scope = Scope::trial("s1").unwrap();
        let k = master.derive(&scope);
        let toks = [[7u8; 32], [9u8; 32]];
        let f = bloom::tlbf::Tlbf::build(toks.iter(), 0.001, k.fingerprint().0).unwrap();
        let p = d.path().join("e.tlbf");
        std::fs::write(&p, f.to_bytes()).unwrap();
        let (list, _) = load_token_list(&p, &master, &ScopeRule::Exactly(scope.clone())).unwrap();
        assert!(list.is_filter);
        assert!(list.set.contains(&[7u8; 32]));
        let wrong = bloom::tlbf::Tlbf::build(toks.iter(), 0.001, [1; 8]).unwrap();
        std::fs::write(&p, wrong.to_bytes()).unwrap();
        assert!(matches!(
            load_token_list(&p, &master, &ScopeRule::Exactly(scope)),
            Err(ListError::FingerprintMismatch { .. })
        ));
    }
}
