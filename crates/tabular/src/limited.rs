//! Reading whole-file inputs with a size cap, and refusing pipes and devices
//! where a file must be whole or is read twice.
//!
//! Every file trialink reads whole (keys, CLK schemas, study and request
//! TOML, disclosure policies, TLBF filters, report JSON, manifests) goes
//! through [`read`] with one of the [`Cap`]s below, so a hostile or mistaken
//! path (`/dev/zero`, a 300 MB file) is refused with a clear error after at
//! most `cap + 1` bytes, instead of being held whole. Errors are
//! [`std::io::Error`]s (kind `InvalidData` or `InvalidInput`) whose message
//! names what was expected, so each caller's existing "`<path>`: `<error>`"
//! reporting stays as it is.
//!
//! | input | cap | regular file only |
//! |---|---|---|
//! | key file | 64 KiB | yes |
//! | CLK schema (JSON) | 1 MiB | yes |
//! | study request (TOML) | 1 MiB | yes |
//! | study register file (TOML) | 1 MiB | no |
//! | disclosure policy (TOML) | 1 MiB | no |
//! | report figures / release (JSON) | 256 MiB | no |
//! | manifest (JSON) | 16 MiB | no |
//! | TLBF filter | its header's declared size (68 + m/8 bytes), checked before allocating | yes |

use std::io::{Error, ErrorKind, Read};
use std::path::Path;

/// A whole-file input: what it is, its size cap, whether it must be a
/// regular file (read twice, or its length checked before reading).
#[derive(Debug, Clone, Copy)]
pub struct Cap {
    /// What the file is, for messages ("key file").
    pub what: &'static str,
    /// Most bytes accepted.
    pub bytes: u64,
    /// Refuse FIFOs, devices, sockets and directories.
    pub regular_only: bool,
}

/// A key file (docs/formats.md (key file)): a few lines.
pub const KEY: Cap = Cap {
    what: "key file",
    bytes: 64 << 10,
    regular_only: true,
};
/// A CLK linkage schema (JSON).
pub const SCHEMA: Cap = Cap {
    what: "linkage schema",
    bytes: 1 << 20,
    regular_only: true,
};
/// A study request (TOML): read, then read again to hash it.
pub const REQUEST: Cap = Cap {
    what: "study request",
    bytes: 1 << 20,
    regular_only: true,
};
/// A study register entry (TOML).
pub const STUDY: Cap = Cap {
    what: "study file",
    bytes: 1 << 20,
    regular_only: false,
};
/// A disclosure policy (TOML).
pub const POLICY: Cap = Cap {
    what: "disclosure policy",
    bytes: 1 << 20,
    regular_only: false,
};
/// Report figures or a published release (JSON).
pub const REPORT_JSON: Cap = Cap {
    what: "report JSON file",
    bytes: 256 << 20,
    regular_only: false,
};
/// A run manifest (JSON).
pub const MANIFEST: Cap = Cap {
    what: "manifest",
    bytes: 16 << 20,
    regular_only: false,
};
/// A TLBF filter. Its reader (`bloom::tlbf::Tlbf::read_file`) checks the
/// file length against the header's declared `m` (36 + m/8 + 32 bytes, `m`
/// within the TLBF bit cap) before allocating; this cap is the outer bound.
pub const TLBF: Cap = Cap {
    what: "token filter (TLBF)",
    bytes: (1 << 33) + 68,
    regular_only: true,
};

fn human(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// The error for a file over its cap.
pub fn too_large(cap: Cap) -> Error {
    Error::new(
        ErrorKind::InvalidData,
        format!(
            "the {} is larger than its {} limit; is this the right file?",
            cap.what,
            human(cap.bytes)
        ),
    )
}

/// Refuse a path that is not a regular file (a FIFO, device, socket or
/// directory), *before* opening it: opening a FIFO waits for a writer.
/// Symlinks are followed.
pub fn check_regular(path: &Path, what: &str) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    check_meta(&meta, what)
}

fn check_meta(meta: &std::fs::Metadata, what: &str) -> std::io::Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    let kind = {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            let t = meta.file_type();
            if t.is_fifo() {
                "a pipe (FIFO)"
            } else if t.is_char_device() || t.is_block_device() {
                "a device"
            } else if t.is_socket() {
                "a socket"
            } else if t.is_dir() {
                "a directory"
            } else {
                "not a regular file"
            }
        }
        #[cfg(not(unix))]
        {
            if meta.is_dir() {
                "a directory"
            } else {
                "not a regular file"
            }
        }
    };
    Err(Error::new(
        ErrorKind::InvalidInput,
        format!("the {what} must be a regular file, and this is {kind}; copy it to a file first"),
    ))
}

/// Open `path` for reading, refusing anything but a regular file (checked
/// before opening, and again on the open handle).
pub fn open_regular(path: &Path, what: &str) -> std::io::Result<std::fs::File> {
    check_regular(path, what)?;
    let f = std::fs::File::open(path)?;
    check_meta(&f.metadata()?, what)?;
    Ok(f)
}

/// Read all of `r`, at most `cap.bytes`; more is an error.
pub fn read_from(r: impl Read, cap: Cap) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(cap.bytes + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap.bytes {
        return Err(too_large(cap));
    }
    Ok(buf)
}

/// Read the file at `path` whole, refusing one over `cap.bytes` (by its
/// length when it has one, before reading; else after `cap + 1` bytes) and,
/// for `cap.regular_only`, one that is not a regular file.
pub fn read(path: &Path, cap: Cap) -> std::io::Result<Vec<u8>> {
    let f = if cap.regular_only {
        open_regular(path, cap.what)?
    } else {
        std::fs::File::open(path)?
    };
    let meta = f.metadata()?;
    if meta.is_file() && meta.len() > cap.bytes {
        return Err(too_large(cap));
    }
    read_from(f, cap)
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(path: &Path, cap: Cap) -> std::io::Result<String> {
    String::from_utf8(read(path, cap)?).map_err(|_| {
        Error::new(
            ErrorKind::InvalidData,
            format!("the {} is not UTF-8 text", cap.what),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_regular_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, vec![b'x'; 100]).unwrap();
        let small = Cap {
            what: "thing",
            bytes: 99,
            regular_only: true,
        };
        let e = read(&p, small).unwrap_err();
        assert!(e.to_string().contains("larger than its 99 bytes limit"), "{e}");
        assert_eq!(read(&p, Cap { bytes: 100, ..small }).unwrap().len(), 100);
        assert!(read_from(std::io::repeat(0), KEY).is_err());
        let e = read(d.path(), small).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        #[cfg(target_os = "linux")]
        {
            let e = read(Path::new("/dev/zero"), KEY).unwrap_err();
            assert!(e.to_string().contains("a device"), "{e}");
            // Not regular-only: read, but only up to the cap.
            let e = read(Path::new("/dev/zero"), STUDY).unwrap_err();
            assert!(e.to_string().contains("1 MiB limit"), "{e}");
        }
    }
}
