//! Atomic outputs: write to a temporary file beside the target, rename into
//! place only on success, never overwrite unless asked.

use crate::error::TabularError;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Whether an existing file may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Refuse if the target exists (the default everywhere).
    New,
    /// Replace the target atomically (`--force`, and sidecars of a new output).
    Replace,
}

/// What was written, for the manifest.
#[derive(Debug, Clone)]
pub struct OutputSummary {
    /// The path as given (`-` for stdout).
    pub path: String,
    /// BLAKE3 of the bytes written, hex.
    pub blake3: String,
    /// Size in bytes.
    pub bytes: u64,
}

enum Sink {
    File {
        tmp: tempfile::NamedTempFile,
        target: PathBuf,
    },
    Stdout(std::io::Stdout),
}

/// An output being written. Implements [`Write`]; call [`AtomicOutput::finish`]
/// then [`PendingOutput::persist`]. Dropping it without persisting removes the
/// temporary file and leaves no partial output.
pub struct AtomicOutput {
    path: String,
    sink: BufWriter<SinkWriter>,
    mode: OutputMode,
}

struct SinkWriter {
    sink: Sink,
    hasher: blake3::Hasher,
    bytes: u64,
    syncer: Option<Syncer>,
}

/// Bytes written between background flushes to disk.
const SYNC_EVERY: u64 = 32 << 20;

/// Flushes a large output to disk in the background while it is still being
/// written, so the final `fsync` (needed before the rename for durability)
/// has little left to do and the disk works in parallel with the CPU.
struct Syncer {
    tx: Option<std::sync::mpsc::SyncSender<()>>,
    handle: Option<std::thread::JoinHandle<()>>,
    next: u64,
}

impl Syncer {
    fn start(file: &std::fs::File) -> Option<Syncer> {
        let clone = file.try_clone().ok()?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let handle = std::thread::Builder::new()
            .name("trialink-sync".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    let _ = clone.sync_data();
                }
            })
            .ok()?;
        Some(Syncer {
            tx: Some(tx),
            handle: Some(handle),
            next: SYNC_EVERY,
        })
    }

    fn wrote(&mut self, total: u64) {
        if total >= self.next {
            self.next = total + SYNC_EVERY;
            if let Some(tx) = &self.tx {
                // If a flush is already pending, skip: the next one covers it.
                let _ = tx.try_send(());
            }
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = match &mut self.sink {
            Sink::File { tmp, .. } => tmp.write(buf)?,
            Sink::Stdout(s) => s.write(buf)?,
        };
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        if let Some(s) = &mut self.syncer {
            s.wrote(self.bytes);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::File { tmp, .. } => tmp.flush(),
            Sink::Stdout(s) => s.flush(),
        }
    }
}

/// `<output><suffix>`, e.g. `tokens.csv.manifest.json`.
pub fn sidecar_path(output: &Path, suffix: &str) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl AtomicOutput {
    /// Start writing `path` (`-` = stdout). With [`OutputMode::New`] an
    /// existing file (or symlink) is refused now, before any work is done.
    pub fn create(path: &str, mode: OutputMode) -> Result<AtomicOutput, TabularError> {
        let sink = if path == "-" {
            Sink::Stdout(std::io::stdout())
        } else {
            let target = PathBuf::from(path);
            if mode == OutputMode::New && std::fs::symlink_metadata(&target).is_ok() {
                return Err(TabularError::OutputExists { path: target });
            }
            if target.is_dir() {
                return Err(TabularError::Write {
                    path: target,
                    source: std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
                });
            }
            let dir = match target.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let tmp = tempfile::Builder::new()
                .prefix(".trialink-")
                .suffix(".tmp")
                .tempfile_in(&dir)
                .map_err(|e| TabularError::Write {
                    path: target.clone(),
                    source: e,
                })?;
            Sink::File { tmp, target }
        };
        let syncer = match &sink {
            Sink::File { tmp, .. } => Syncer::start(tmp.as_file()),
            Sink::Stdout(_) => None,
        };
        Ok(AtomicOutput {
            path: path.to_string(),
            sink: BufWriter::with_capacity(
                1 << 16,
                SinkWriter {
                    sink,
                    hasher: blake3::Hasher::new(),
                    bytes: 0,
                    syncer,
                },
            ),
            mode,
        })
    }

    /// The path as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Flush and fsync; the output is complete but not yet in place.
    pub fn finish(self) -> Result<PendingOutput, TabularError> {
        let path = self.path;
        let werr = |e: std::io::Error| TabularError::Write {
            path: PathBuf::from(&path),
            source: e,
        };
        let mut sw = self.sink.into_inner().map_err(|e| werr(e.into_error()))?;
        drop(sw.syncer.take());
        let summary = OutputSummary {
            path: path.clone(),
            blake3: sw.hasher.finalize().to_hex().to_string(),
            bytes: sw.bytes,
        };
        match sw.sink {
            Sink::File { tmp, target } => {
                tmp.as_file().sync_all().map_err(werr)?;
                Ok(PendingOutput {
                    summary,
                    file: Some((tmp, target)),
                    mode: self.mode,
                })
            }
            Sink::Stdout(mut s) => {
                s.flush().map_err(werr)?;
                Ok(PendingOutput {
                    summary,
                    file: None,
                    mode: self.mode,
                })
            }
        }
    }
}

impl Write for AtomicOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sink.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.sink.write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.flush()
    }
}

/// A complete output waiting to be renamed into place. Dropping it discards
/// the temporary file.
pub struct PendingOutput {
    summary: OutputSummary,
    file: Option<(tempfile::NamedTempFile, PathBuf)>,
    mode: OutputMode,
}

impl PendingOutput {
    /// Digest and size of what was written.
    pub fn summary(&self) -> &OutputSummary {
        &self.summary
    }

    /// Rename into place (refusing an existing target unless
    /// [`OutputMode::Replace`]) and fsync the directory.
    pub fn persist(self) -> Result<OutputSummary, TabularError> {
        if let Some((tmp, target)) = self.file {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                // Data files are private to the user by default (umask-independent).
                let _ = tmp
                    .as_file()
                    .set_permissions(std::fs::Permissions::from_mode(0o600));
            }
            let res = match self.mode {
                OutputMode::New => tmp.persist_noclobber(&target),
                OutputMode::Replace => tmp.persist(&target),
            };
            res.map_err(|e| {
                if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                    TabularError::OutputExists { path: target.clone() }
                } else {
                    TabularError::Write {
                        path: target.clone(),
                        source: e.error,
                    }
                }
            })?;
            if let Some(dir) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
        }
        Ok(self.summary)
    }
}

/// Write a whole small file atomically (manifests, summaries).
pub(crate) fn write_small(
    path: &Path,
    bytes: &[u8],
    mode: OutputMode,
) -> Result<OutputSummary, TabularError> {
    let p = path.to_str().ok_or_else(|| TabularError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path is not UTF-8"),
    })?;
    let mut out = AtomicOutput::create(p, mode)?;
    out.write_all(bytes).map_err(|e| TabularError::Write {
        path: path.to_path_buf(),
        source: e,
    })?;
    out.finish()?.persist()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_new_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.csv");
        let ps = p.to_str().unwrap();
        let mut o = AtomicOutput::create(ps, OutputMode::New).unwrap();
        o.write_all(b"hello\n").unwrap();
        assert!(!p.exists(), "nothing in place before persist");
        let s = o.finish().unwrap().persist().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello\n");
        assert_eq!(s.blake3, blake3::hash(b"hello\n").to_hex().to_string());
        assert!(matches!(
            AtomicOutput::create(ps, OutputMode::New),
            Err(TabularError::OutputExists { .. })
        ));
        let mut o = AtomicOutput::create(ps, OutputMode::Replace).unwrap();
        o.write_all(b"again\n").unwrap();
        o.finish().unwrap().persist().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"again\n");
    }

    #[test]
    fn dropped_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.csv");
        {
            let mut o = AtomicOutput::create(p.to_str().unwrap(), OutputMode::New).unwrap();
            o.write_all(b"partial").unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn race_to_create_is_refused_at_persist() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.csv");
        let o = AtomicOutput::create(p.to_str().unwrap(), OutputMode::New).unwrap();
        std::fs::write(&p, b"someone else").unwrap();
        assert!(matches!(
            o.finish().unwrap().persist(),
            Err(TabularError::OutputExists { .. })
        ));
        assert_eq!(std::fs::read(&p).unwrap(), b"someone else");
    }

    #[cfg(unix)]
    #[test]
    fn symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(matches!(
            AtomicOutput::create(link.to_str().unwrap(), OutputMode::New),
            Err(TabularError::OutputExists { .. })
        ));
        let mut o = AtomicOutput::create(link.to_str().unwrap(), OutputMode::Replace).unwrap();
        o.write_all(b"new").unwrap();
        o.finish().unwrap().persist().unwrap();
        assert_eq!(
            std::fs::read(&victim).unwrap(),
            b"keep",
            "the symlink's target is untouched"
        );
    }

    #[test]
    fn missing_directory_is_a_clear_error() {
        let e = AtomicOutput::create("/nonexistent-dir-xyz/out.csv", OutputMode::New)
            .err()
            .unwrap();
        assert!(matches!(e, TabularError::Write { .. }));
    }
}
