//! Writing output files: atomically (temporary file in the same directory,
//! renamed into place on success) and never over an existing file unless
//! asked; CSV fields quoted only where needed.

use crate::SynthError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file being written under a temporary name; [`AtomicFile::commit`]
/// renames it into place. Dropped without a commit, the temporary is removed.
/// Built on [`tabular::AtomicOutput`]: the temporary is created with
/// `O_EXCL` under a random name (never following a planted symlink), swept
/// if a killed run left it, fsynced, and renamed.
pub struct AtomicFile {
    dest: PathBuf,
    out: Option<tabular::AtomicOutput>,
}

fn tab(path: &Path, e: tabular::TabularError) -> SynthError {
    SynthError::io(path, std::io::Error::other(e.to_string()))
}

impl AtomicFile {
    /// Start writing `dest`. Fails if `dest` exists and `force` is false.
    pub fn create(dest: &Path, force: bool) -> Result<AtomicFile, SynthError> {
        if !force && std::fs::symlink_metadata(dest).is_ok() {
            return Err(SynthError::Exists {
                path: dest.to_path_buf(),
            });
        }
        let path = dest.to_str().ok_or_else(|| {
            SynthError::io(
                dest,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path is not UTF-8"),
            )
        })?;
        let mode = if force {
            tabular::OutputMode::Replace
        } else {
            tabular::OutputMode::New
        };
        let out = tabular::AtomicOutput::create(path, mode).map_err(|e| tab(dest, e))?;
        Ok(AtomicFile {
            dest: dest.to_path_buf(),
            out: Some(out),
        })
    }

    /// Write all of `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), SynthError> {
        let w = self.out.as_mut().expect("not committed");
        w.write_all(bytes).map_err(|e| SynthError::io(&self.dest, e))
    }

    /// Flush, sync and rename into place.
    pub fn commit(mut self) -> Result<(), SynthError> {
        let out = self.out.take().expect("not committed");
        let pending = out.finish().map_err(|e| tab(&self.dest, e))?;
        pending.persist().map_err(|e| tab(&self.dest, e))?;
        Ok(())
    }
}

/// Refuse to start when any of `paths` exists (unless `force`).
pub fn check_absent(paths: &[PathBuf], force: bool) -> Result<(), SynthError> {
    if force {
        return Ok(());
    }
    for p in paths {
        if p.exists() {
            return Err(SynthError::Exists { path: p.clone() });
        }
    }
    Ok(())
}

/// Append one CSV field, quoted only if it holds a comma, quote or line break.
pub fn field(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// Append a decimal number.
pub fn number(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Append a header line.
pub fn header(out: &mut Vec<u8>, names: &[&str]) {
    out.extend_from_slice(names.join(",").as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn outputs_are_atomic_and_never_follow_or_replace_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = d.path().join("cohort.csv");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(matches!(
            AtomicFile::create(&link, false),
            Err(SynthError::Exists { .. })
        ));
        // Forced, the symlink itself is replaced; its target is untouched.
        let mut f = AtomicFile::create(&link, true).unwrap();
        f.write_all(b"new").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "new");
        assert!(!std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        // Dropped without a commit: nothing is left, not even a temporary.
        let p = d.path().join("truth.csv");
        let mut f = AtomicFile::create(&p, false).unwrap();
        f.write_all(b"partial").unwrap();
        drop(f);
        let names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|n| n == "truth.csv" || n.ends_with(".tmp")),
            "{names:?}"
        );
    }

    #[test]
    fn fields_and_numbers() {
        let mut v = Vec::new();
        field(&mut v, "O'Brien");
        v.push(b',');
        field(&mut v, "a,b");
        v.push(b',');
        field(&mut v, "say \"hi\"");
        v.push(b',');
        number(&mut v, 0);
        v.push(b',');
        number(&mut v, 18_446_744_073_709_551_615);
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "O'Brien,\"a,b\",\"say \"\"hi\"\"\",0,18446744073709551615"
        );
    }

    #[test]
    fn atomic_file_refuses_to_overwrite_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        let mut f = AtomicFile::create(&p, false).unwrap();
        f.write_all(b"a\n").unwrap();
        assert!(!p.exists());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"a\n");
        assert!(matches!(
            AtomicFile::create(&p, false),
            Err(SynthError::Exists { .. })
        ));
        {
            let mut f = AtomicFile::create(&p, true).unwrap();
            f.write_all(b"b\n").unwrap();
        } // dropped without commit
        assert_eq!(std::fs::read(&p).unwrap(), b"a\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
