//! Writing output files: atomically (temporary file in the same directory,
//! renamed into place on success) and never over an existing file unless
//! asked; CSV fields quoted only where needed.

use crate::SynthError;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file being written under a temporary name; [`AtomicFile::commit`]
/// renames it into place. Dropped uncommitted, the temporary file is removed.
pub struct AtomicFile {
    dest: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Start writing `dest`. Fails if `dest` exists and `force` is false.
    pub fn create(dest: &Path, force: bool) -> Result<AtomicFile, SynthError> {
        if !force && dest.exists() {
            return Err(SynthError::Exists {
                path: dest.to_path_buf(),
            });
        }
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let file = File::create(&tmp).map_err(|e| SynthError::io(&tmp, e))?;
        Ok(AtomicFile {
            dest: dest.to_path_buf(),
            tmp,
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// Write all of `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), SynthError> {
        let w = self.writer.as_mut().expect("not committed");
        w.write_all(bytes).map_err(|e| SynthError::io(&self.tmp, e))
    }

    /// Flush, sync and rename into place.
    pub fn commit(mut self) -> Result<(), SynthError> {
        let w = self.writer.take().expect("not committed");
        let file = w
            .into_inner()
            .map_err(|e| SynthError::io(&self.tmp, e.into_error()))?;
        file.sync_all().map_err(|e| SynthError::io(&self.tmp, e))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| SynthError::io(&self.dest, e))?;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
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
