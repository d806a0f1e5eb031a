//! The key file format (docs/formats.md (key file)), read line by line.
//!
//! ```text
//! # trialink key
//! # created: 2026-11-21T20:30:00Z
//! # scope: registry:bpor
//! # fingerprint: df669beb65955670
//! TRIALINK-KEY-1:<64 hex characters>
//! ```
//!
//! Blank lines and `#` lines are comments; `# scope:` and `# fingerprint:`
//! comments are read and checked. Errors give the line number, never the
//! line. Files are created 0600 and never overwritten; a file readable by
//! group or others is refused.

use crate::key::{hexval, Fingerprint, Key};
use crate::scope::Scope;
use std::io::Write;
use std::path::Path;

const PREFIX: &str = "TRIALINK-KEY-1:";
/// Key files are tiny; anything larger is not a key file.
const MAX_LEN: u64 = 64 * 1024;

/// A parsed key file.
#[derive(Debug)]
pub struct KeyFile {
    /// The key.
    pub key: Key,
    /// The scope named by a `# scope:` comment, if any.
    pub scope: Option<Scope>,
    /// Whether a `# label: test-only` comment marks it as test material.
    pub test_only: bool,
}

/// Why a key file was refused. Carries line numbers, never line contents.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// A line that is neither a comment nor a valid key line.
    #[error("line {line}: not a comment and not a valid `TRIALINK-KEY-1:` line with 64 hex characters")]
    BadLine { line: usize },
    /// More than one key line.
    #[error("line {line}: a second key line (a key file holds exactly one key)")]
    DuplicateKey { line: usize },
    /// No key line.
    #[error("no `TRIALINK-KEY-1:` line found")]
    MissingKey,
    /// A `# scope:` comment whose value breaks the scope grammar.
    #[error("line {line}: the `# scope:` comment is not a valid scope")]
    BadScope { line: usize },
    /// A `# fingerprint:` comment that does not match the key.
    #[error(
        "line {line}: the `# fingerprint:` comment does not match the key (the file is damaged or edited)"
    )]
    FingerprintMismatch { line: usize },
    /// The file is not UTF-8.
    #[error("the file is not UTF-8 text")]
    NotUtf8,
    /// Larger than any key file.
    #[error("the file is too large to be a key file")]
    TooLarge,
    /// Readable or writable by group or others.
    #[error("key file permissions {mode:04o} allow group/other access; key files must be private")]
    Permissions { mode: u32 },
    /// Refusing to overwrite.
    #[error("refusing to overwrite an existing file")]
    Exists,
    /// Any other I/O failure.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl KeyFileError {
    /// What the user should do next.
    pub fn hint(&self) -> &'static str {
        match self {
            KeyFileError::Permissions { .. } => "run `chmod 600 <keyfile>` and try again",
            KeyFileError::Exists => "choose a new file name; keys are never overwritten",
            KeyFileError::MissingKey | KeyFileError::BadLine { .. } | KeyFileError::DuplicateKey { .. } => {
                "a key file has exactly one line `TRIALINK-KEY-1:` + 64 hex characters; make one with `trialink keys generate`"
            }
            KeyFileError::FingerprintMismatch { .. } => {
                "check `trialink keys fingerprint <file>` against the fingerprint you were given"
            }
            _ => "check the path and that the file is a trialink key file",
        }
    }
}

/// Parse key-file text.
pub fn parse(text: &str) -> Result<KeyFile, KeyFileError> {
    let mut key: Option<Key> = None;
    let mut scope = None;
    let mut fp_comment: Option<(usize, Option<Fingerprint>)> = None;
    let mut test_only = false;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let c = comment.trim();
            if let Some(s) = c.strip_prefix("scope:") {
                scope = Some(Scope::new(s.trim()).map_err(|_| KeyFileError::BadScope { line: line_no })?);
            } else if let Some(f) = c.strip_prefix("fingerprint:") {
                fp_comment = Some((line_no, Fingerprint::parse(f.trim())));
            } else if c
                .strip_prefix("label:")
                .is_some_and(|l| l.trim().starts_with("test-only"))
            {
                test_only = true;
            }
            continue;
        }
        let Some(hex) = line.strip_prefix(PREFIX) else {
            return Err(KeyFileError::BadLine { line: line_no });
        };
        if key.is_some() {
            return Err(KeyFileError::DuplicateKey { line: line_no });
        }
        let hex = hex.as_bytes();
        if hex.len() != 64 {
            return Err(KeyFileError::BadLine { line: line_no });
        }
        key = Some(Key::fill_with(|buf| {
            for (j, o) in buf.iter_mut().enumerate() {
                let hi = hexval(hex[2 * j]).ok_or(KeyFileError::BadLine { line: line_no })?;
                let lo = hexval(hex[2 * j + 1]).ok_or(KeyFileError::BadLine { line: line_no })?;
                *o = (hi << 4) | lo;
            }
            Ok::<(), KeyFileError>(())
        })?);
    }
    let key = key.ok_or(KeyFileError::MissingKey)?;
    if let Some((line, fp)) = fp_comment {
        if fp != Some(key.fingerprint()) {
            return Err(KeyFileError::FingerprintMismatch { line });
        }
    }
    Ok(KeyFile {
        key,
        scope,
        test_only,
    })
}

/// Read a key file, refusing one readable or writable by group or others.
pub fn read(path: &Path) -> Result<KeyFile, KeyFileError> {
    // A FIFO or device as key file is refused before opening (opening a FIFO
    // waits for a writer).
    let file = tabular::limited::open_regular(path, "key file")?;
    let meta = file.metadata()?;
    check_permissions(&meta)?;
    if meta.len() > MAX_LEN {
        return Err(KeyFileError::TooLarge);
    }
    let mut buf = zeroize::Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_LEN + 1), &mut buf)?;
    if buf.len() as u64 > MAX_LEN {
        return Err(KeyFileError::TooLarge);
    }
    let text = std::str::from_utf8(&buf).map_err(|_| KeyFileError::NotUtf8)?;
    parse(text)
}

#[cfg(unix)]
fn check_permissions(meta: &std::fs::Metadata) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions { mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_meta: &std::fs::Metadata) -> Result<(), KeyFileError> {
    Ok(())
}

/// The text of a key file for `key`, with comment lines giving the creation
/// time, the scope, a test-only label and the fingerprint.
pub fn render(
    key: &Key,
    scope: Option<&Scope>,
    created: &str,
    test_only: bool,
) -> zeroize::Zeroizing<String> {
    let mut s = zeroize::Zeroizing::new(String::with_capacity(256));
    s.push_str("# trialink key\n");
    if test_only {
        s.push_str("# label: test-only — NEVER use for real data\n");
    }
    s.push_str(&format!("# created: {created}\n"));
    if let Some(sc) = scope {
        s.push_str(&format!("# scope: {sc}\n"));
    }
    s.push_str(&format!("# fingerprint: {}\n", key.fingerprint()));
    s.push_str(PREFIX);
    for b in key.expose_secret() {
        s.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        s.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
    }
    s.push('\n');
    s
}

/// Write a new key file, created with mode 0600; never overwrites.
pub fn write_new(
    path: &Path,
    key: &Key,
    scope: Option<&Scope>,
    created: &str,
    test_only: bool,
) -> Result<(), KeyFileError> {
    let text = render(key, scope, created, test_only);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::Exists
        } else {
            KeyFileError::Io(e)
        }
    })?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// The label `keys generate --scope` gives a master key.
pub const MASTER_LABEL: &str = "service:master";

/// Why a key file cannot be used as asked. Messages name the file, the
/// scopes and line numbers, never the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyUseError {
    /// The file could not be read as a key file.
    #[error("key file {}: {source}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: KeyFileError,
    },
    /// A scope key was given where the master key is needed.
    #[error("key file {} is a scope key for `{scope}`, not the service's master key", path.display())]
    NotMaster {
        /// The file.
        path: std::path::PathBuf,
        /// The scope it names.
        scope: Scope,
    },
    /// A scope label is not one.
    #[error("invalid scope: {0}")]
    Scope(crate::ScopeError),
    /// The scope given contradicts the key file's.
    #[error("--scope {given} differs from the key file's scope {file}")]
    ScopeDiffers {
        /// The scope given.
        given: String,
        /// The key file's.
        file: Scope,
    },
}

impl KeyUseError {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            KeyUseError::File { source, .. } => source.hint(),
            KeyUseError::NotMaster { .. } => "pass the master key from `trialink keys generate`",
            KeyUseError::Scope(_) => "scopes look like `trial:galleri-2`, `registry:bpor`, `service:store`",
            KeyUseError::ScopeDiffers { .. } => "drop --scope, or use the key derived for that scope",
        }
    }
}

/// Read the key file at `path` ([`read`]), warning through `warn` when it
/// is labelled test-only.
pub fn open(path: &Path, warn: &mut dyn FnMut(String)) -> Result<KeyFile, KeyUseError> {
    let kf = read(path).map_err(|source| KeyUseError::File {
        path: path.to_path_buf(),
        source,
    })?;
    if kf.test_only {
        warn(format!(
            "warning: {} is labelled test-only: never use it for real data",
            path.display()
        ));
    }
    Ok(kf)
}

/// Parse a scope label.
pub fn parse_scope(s: &str) -> Result<Scope, KeyUseError> {
    Scope::new(s).map_err(KeyUseError::Scope)
}

impl KeyFile {
    /// The service's master key from the file at `path`: a key file that
    /// names a scope is a derived key, refused — except [`MASTER_LABEL`],
    /// which `keys generate` writes and no `keys derive` makes.
    pub fn master(self, path: &Path) -> Result<Key, KeyUseError> {
        match self.scope.filter(|s| s.as_str() != MASTER_LABEL) {
            Some(scope) => Err(KeyUseError::NotMaster {
                path: path.to_path_buf(),
                scope,
            }),
            None => Ok(self.key),
        }
    }

    /// The scope of this key's tokens: the file's, or `given` when the
    /// file names none; a `given` scope that contradicts the file is
    /// refused.
    pub fn token_scope(&self, given: Option<&str>) -> Result<Option<Scope>, KeyUseError> {
        match (&self.scope, given) {
            (Some(k), Some(o)) if k.as_str() != o => Err(KeyUseError::ScopeDiffers {
                given: o.to_string(),
                file: k.clone(),
            }),
            (Some(k), _) => Ok(Some(k.clone())),
            (None, Some(o)) => parse_scope(o).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// The manifest's record of this key in `role` (scope and fingerprint).
    pub fn record(&self, role: &str) -> tabular::KeyRecord {
        tabular::KeyRecord {
            role: role.into(),
            scope: self.scope.as_ref().map(|s| s.to_string()),
            fingerprint: self.key.fingerprint().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOD: &str = "# trialink key\n# fingerprint: a2f72f981e06123a\nTRIALINK-KEY-1:f0862c4759ca9b15561201f52e295c592b2a985d6459589ae61d3e68eb137814\n";

    #[test]
    fn parses_the_vector_shape() {
        let kf = parse(GOOD).unwrap();
        assert_eq!(kf.key.fingerprint().to_string(), "a2f72f981e06123a");
        assert!(kf.scope.is_none());
    }

    #[test]
    fn uppercase_hex_accepted() {
        let up = GOOD.replace(
            "f0862c4759ca9b15561201f52e295c592b2a985d6459589ae61d3e68eb137814",
            "F0862C4759CA9B15561201F52E295C592B2A985D6459589AE61D3E68EB137814",
        );
        assert_eq!(
            parse(&up).unwrap().key.fingerprint().to_string(),
            "a2f72f981e06123a"
        );
    }

    #[test]
    fn errors_name_lines_not_content() {
        let bad = "# ok\n\nTRIALINK-KEY-1:zz\n";
        let e = parse(bad).unwrap_err();
        assert!(matches!(e, KeyFileError::BadLine { line: 3 }));
        assert!(!e.to_string().contains("zz"));
        let secret_line = "secret-looking-text\n";
        let e = parse(secret_line).unwrap_err();
        assert!(!e.to_string().contains("secret-looking"));
        assert!(matches!(
            parse("# nothing\n").unwrap_err(),
            KeyFileError::MissingKey
        ));
        let two = format!("{GOOD}{}", GOOD.lines().last().unwrap());
        assert!(matches!(
            parse(&two).unwrap_err(),
            KeyFileError::DuplicateKey { line: 4 }
        ));
        let wrong_fp = GOOD.replace("a2f72f981e06123a", "0000000000000000");
        assert!(matches!(
            parse(&wrong_fp).unwrap_err(),
            KeyFileError::FingerprintMismatch { line: 2 }
        ));
        let bad_scope = format!("# scope: Trial:X\n{GOOD}");
        assert!(matches!(
            parse(&bad_scope).unwrap_err(),
            KeyFileError::BadScope { line: 1 }
        ));
    }

    #[test]
    fn render_parse_round_trip() {
        let k = Key::generate().unwrap();
        let sc = Scope::new("trial:x").unwrap();
        let text = render(&k, Some(&sc), "2026-11-21T00:00:00Z", true);
        let kf = parse(&text).unwrap();
        assert!(kf.key.ct_eq(&k));
        assert_eq!(kf.scope, Some(sc));
        assert!(kf.test_only);
    }

    #[cfg(unix)]
    #[test]
    fn write_is_0600_never_overwrites_and_read_refuses_open_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.key");
        let k = Key::generate().unwrap();
        write_new(&p, &k, None, "now", false).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(
            write_new(&p, &k, None, "now", false).unwrap_err(),
            KeyFileError::Exists
        ));
        assert!(read(&p).unwrap().key.ct_eq(&k));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read(&p).unwrap_err();
        assert!(matches!(e, KeyFileError::Permissions { mode: 0o644 }));
        assert!(e.hint().contains("chmod 600"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }
        #[test]
        fn parse_never_echoes(s in "[a-zA-Z0-9:]{8,40}") {
            if let Err(e) = parse(&s) {
                prop_assert!(!e.to_string().contains(&s));
            }
        }
    }
}
