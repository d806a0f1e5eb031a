//! Atomic outputs: write to a temporary file beside the target, rename into
//! place only on success, never overwrite unless asked.
//!
//! Temporary files are named `.trialink-<pid>-<tag>-<random>.tmp`, where
//! `<pid>` is the writing process and `<tag>` is 16 hex digits of a BLAKE3
//! hash of the target's file name. A run killed before its rename (SIGKILL,
//! power loss) leaves its temporary behind; the next [`AtomicOutput::create`]
//! of the same target removes such leftovers once their process is gone (see
//! [`sweep_stale_temporaries`]).

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
    /// The table format written, where the output is a table
    /// ([`crate::TableOutput`] sets it; a plain [`AtomicOutput`] does not).
    pub format: Option<crate::format::Format>,
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

/// Claim the sidecar files a run writes beside its input (rejects, notes,
/// manifests), *before* the run changes anything: an existing one is the
/// record of an earlier run and is never replaced unless `force`. Returns
/// the [`OutputMode`] to write them with.
pub fn claim_sidecars(paths: &[&Path], force: bool) -> Result<OutputMode, TabularError> {
    if force {
        return Ok(OutputMode::Replace);
    }
    for p in paths {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(TabularError::SidecarExists {
                path: p.to_path_buf(),
            });
        }
    }
    Ok(OutputMode::New)
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
            let tag = temp_tag(&target);
            let tmp = tempfile::Builder::new()
                .prefix(&format!(".trialink-{}-{tag}-", std::process::id()))
                .suffix(".tmp")
                .tempfile_in(&dir)
                .map_err(|e| TabularError::Write {
                    path: target.clone(),
                    source: e,
                })?;
            // Best effort: a failure to sweep never fails the run.
            sweep_stale_temporaries(&dir, &tag, tmp.path());
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
            format: None,
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

    /// Record the table format written, for the manifest.
    pub(crate) fn set_format(&mut self, f: crate::format::Format) {
        self.summary.format = Some(f);
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

/// The temp-name tag of a target: 16 hex digits of
/// `BLAKE3("trialink-tmp-v1" || file name)`, so leftovers of one output are
/// told apart from another's without putting the (possibly long) name in
/// the temporary's name.
fn temp_tag(target: &Path) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"trialink-tmp-v1");
    h.update(target.file_name().unwrap_or_default().as_encoded_bytes());
    h.finalize().to_hex()[..16].to_string()
}

/// How old a leftover must be before it is removed where process liveness
/// cannot be checked (no `/proc`).
const STALE_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// If `name` is one of this module's temporaries for `tag`, its pid.
fn temp_pid(name: &str, tag: &str) -> Option<u32> {
    let rest = name.strip_prefix(".trialink-")?.strip_suffix(".tmp")?;
    let (pid, rest) = rest.split_once('-')?;
    let random = rest.strip_prefix(tag)?.strip_prefix('-')?;
    let well_formed = !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && !random.is_empty()
        && random.bytes().all(|b| b.is_ascii_alphanumeric());
    if well_formed {
        pid.parse().ok()
    } else {
        None
    }
}

/// Remove stale temporaries of one target from `dir`: regular files (never
/// symlinks, never directories) named `.trialink-<pid>-<tag>-<random>.tmp`
/// for this `tag`, other than `own`, whose writing process is gone.
///
/// * Liveness: on Linux (where `/proc/self` exists) a process is gone when
///   `/proc/<pid>` does not exist; a live process, a zombie, or a reused pid
///   keeps its file. Elsewhere a file is stale when unmodified for 24 hours.
/// * Only files owned by the same user as `own` (Unix), so a shared
///   directory's other users' files are left alone.
/// * Entries are examined with `symlink_metadata` and removed with
///   `remove_file`, which removes a link itself, never what it points to.
///
/// Errors are ignored: sweeping is housekeeping. Returns how many files were
/// removed.
pub(crate) fn sweep_stale_temporaries(dir: &Path, tag: &str, own: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let procfs = Path::new("/proc/self").exists();
    #[cfg(unix)]
    let own_uid = {
        use std::os::unix::fs::MetadataExt;
        match std::fs::symlink_metadata(own) {
            Ok(m) => m.uid(),
            Err(_) => return 0,
        }
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| temp_pid(n, tag)) else {
            continue;
        };
        let path = entry.path();
        if path == own || pid == std::process::id() {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.file_type().is_file() {
            continue;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if meta.uid() != own_uid {
                continue;
            }
        }
        let stale = if procfs {
            !Path::new("/proc").join(pid.to_string()).exists()
        } else {
            meta.modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age >= STALE_AGE)
        };
        if stale && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
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

    /// The pid of a process that has exited (spawned and reaped here, so
    /// its pid is free; reuse within the test is vanishingly unlikely).
    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn temp_names_carry_pid_and_target_tag() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.csv");
        let _o = AtomicOutput::create(p.to_str().unwrap(), OutputMode::New).unwrap();
        let n = names(dir.path());
        assert_eq!(n.len(), 1);
        let tag = temp_tag(&p);
        assert_eq!(temp_pid(&n[0], &tag), Some(std::process::id()), "{}", n[0]);
        assert_eq!(temp_pid(&n[0], &temp_tag(&dir.path().join("other.csv"))), None);
        // The parser refuses near misses.
        for bad in [
            format!(".trialink-12-{tag}-.tmp"),
            format!(".trialink--{tag}-abc123.tmp"),
            format!(".trialink-1x2-{tag}-abc123.tmp"),
            format!(".trialink-12-{tag}-abc/123.tmp"),
            format!(".trialink-12-{tag}-abc123.tmp.bak"),
            format!("trialink-12-{tag}-abc123.tmp"),
            ".trialink-abc123.tmp".to_string(),
        ] {
            assert_eq!(temp_pid(&bad, &tag), None, "{bad}");
        }
        assert_eq!(
            temp_pid(&format!(".trialink-12-{tag}-aB3xY9.tmp"), &tag),
            Some(12)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn create_sweeps_stale_temporaries_of_the_same_target_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let p = d.join("out.csv");
        let tag = temp_tag(&p);
        let other_tag = temp_tag(&d.join("other.csv"));
        let dead = dead_pid();
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let live = child.id();
        let write = |n: &str| std::fs::write(d.join(n), b"partial").unwrap();
        let stale = format!(".trialink-{dead}-{tag}-Stale1.tmp");
        write(&stale);
        // Kept: a live process's temporary, another target's, an old-style
        // name without a pid, unrelated files, a directory and a symlink
        // with a matching name (and the symlink's target).
        let live_tmp = format!(".trialink-{live}-{tag}-Live01.tmp");
        write(&live_tmp);
        let other = format!(".trialink-{dead}-{other_tag}-Other1.tmp");
        write(&other);
        write(".trialink-Old123.tmp");
        write("notes.txt");
        let dir_like = format!(".trialink-{dead}-{tag}-Dir001.tmp");
        std::fs::create_dir(d.join(&dir_like)).unwrap();
        let victim = d.join("victim.csv");
        std::fs::write(&victim, b"keep").unwrap();
        let link = format!(".trialink-{dead}-{tag}-Link01.tmp");
        std::os::unix::fs::symlink(&victim, d.join(&link)).unwrap();

        let mut o = AtomicOutput::create(p.to_str().unwrap(), OutputMode::New).unwrap();
        let after = names(d);
        assert!(!after.contains(&stale), "stale temporary removed: {after:?}");
        for kept in [&live_tmp, &other, &dir_like, &link] {
            assert!(after.contains(kept), "{kept} kept: {after:?}");
        }
        assert!(after.contains(&".trialink-Old123.tmp".to_string()));
        assert!(after.contains(&"notes.txt".to_string()));
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        o.write_all(b"done").unwrap();
        o.finish().unwrap().persist().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"done");
        let _ = child.kill();
        let _ = child.wait();
        // Its process gone, the formerly live one's temporary is swept by the
        // next create of the same target (`Replace`: with `New` the existing
        // target is refused before anything is created or swept).
        let o = AtomicOutput::create(p.to_str().unwrap(), OutputMode::Replace).unwrap();
        drop(o);
        let after = names(d);
        assert!(!after.contains(&live_tmp), "{after:?}");
        assert!(after.contains(&other) && after.contains(&link), "{after:?}");
    }

    #[test]
    fn sweep_without_a_readable_directory_is_harmless() {
        let own = Path::new("/nonexistent-dir-xyz/.trialink-1-x-a.tmp");
        assert_eq!(
            sweep_stale_temporaries(Path::new("/nonexistent-dir-xyz"), "x", own),
            0
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
