//! Which format a table is read or written as: CSV or Parquet.
//!
//! A file's extension decides when it names a format (`.csv`; `.parquet`,
//! `.parq`, `.pq`; any case). Otherwise — another extension, none, or `-`
//! for standard input or output — the process's table format decides
//! ([`set_default_format`], the CLI's `--format`), and without one the
//! table is CSV, as it always was. An input whose bytes contradict the
//! choice is refused rather than misread: a file beginning with Parquet's
//! magic bytes read as CSV (named `.csv`, unnamed, or `--format csv`).
//! Parquet cannot be streamed through standard input or output, so `-`
//! with `--format parquet` is refused too.

use crate::error::TabularError;
use std::io::Read;
use std::sync::atomic::{AtomicU8, Ordering};

/// A table file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// The first four bytes of every Parquet file.
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// 0: none, 1: CSV, 2: Parquet.
static DEFAULT_FORMAT: AtomicU8 = AtomicU8::new(0);

/// Set the format of tables whose path does not name one (the CLI's
/// `--format`); `None` restores CSV.
pub fn set_default_format(f: Option<Format>) {
    let v = match f {
        None => 0,
        Some(Format::Csv) => 1,
        Some(Format::Parquet) => 2,
    };
    DEFAULT_FORMAT.store(v, Ordering::Relaxed);
}

/// The format set by [`set_default_format`], if any.
pub fn default_format() -> Option<Format> {
    match DEFAULT_FORMAT.load(Ordering::Relaxed) {
        1 => Some(Format::Csv),
        2 => Some(Format::Parquet),
        _ => None,
    }
}

impl Format {
    /// The format a path's extension names, if it names one.
    pub fn named_by(path: &str) -> Option<Format> {
        let ext = std::path::Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("parquet" | "parq" | "pq") => Some(Format::Parquet),
            Some("csv") => Some(Format::Csv),
            _ => None,
        }
    }

    /// The format a path's extension names: Parquet for `.parquet`, `.parq`
    /// and `.pq` (any case), CSV otherwise (and for `-`).
    pub fn of_path(path: &str) -> Format {
        Self::named_by(path).unwrap_or(Format::Csv)
    }

    /// Parse a `--format` value: `csv` or `parquet`.
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    /// The name manifests record: `csv` or `parquet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    /// Whether this build reads and writes the format.
    pub fn available(self) -> bool {
        self == Format::Csv || cfg!(feature = "parquet")
    }

    /// The format to read `path` as: its extension's, else `fallback`
    /// (the process's `--format`), else CSV; refused when the file's first
    /// bytes are Parquet's but it would be read as CSV, or when Parquet is
    /// asked of standard input.
    pub fn for_input(path: &str, fallback: Option<Format>) -> Result<Format, TabularError> {
        if path == "-" {
            return match fallback {
                Some(Format::Parquet) => Err(mismatch(
                    path,
                    "Parquet cannot be read from standard input (the reader needs to seek to the file's footer); save it to a file, or drop --format parquet for CSV",
                )),
                _ => Ok(Format::Csv),
            };
        }
        let named = Self::named_by(path);
        let chosen = named.or(fallback).unwrap_or(Format::Csv);
        if chosen == Format::Csv && starts_with_parquet_magic(path) {
            let why = match (named, fallback) {
                (Some(_), _) => "the file is named as a CSV but is a Parquet file (it begins with Parquet's magic bytes); rename it to end .parquet",
                (None, Some(_)) => "--format csv was given but the file is a Parquet file (it begins with Parquet's magic bytes); pass --format parquet",
                (None, None) => "the file's name does not say its format and it is a Parquet file (it begins with Parquet's magic bytes); pass --format parquet or name it .parquet",
            };
            return Err(mismatch(path, why));
        }
        Ok(chosen)
    }

    /// The format to write `path` as: its extension's, else `fallback`,
    /// else CSV; Parquet to standard output is refused.
    pub fn for_output(path: &str, fallback: Option<Format>) -> Result<Format, TabularError> {
        if path == "-" {
            return match fallback {
                Some(Format::Parquet) => Err(mismatch(
                    path,
                    "Parquet cannot be written to standard output (its footer must follow every row group); name an output file, or drop --format parquet for CSV",
                )),
                _ => Ok(Format::Csv),
            };
        }
        Ok(Self::named_by(path).or(fallback).unwrap_or(Format::Csv))
    }
}

fn mismatch(path: &str, what: &str) -> TabularError {
    TabularError::FormatMismatch {
        path: path.to_string(),
        what: what.to_string(),
    }
}

/// Whether `path` is a regular file whose first bytes are `PAR1`. Anything
/// unreadable answers no, and the open that follows reports it.
fn starts_with_parquet_magic(path: &str) -> bool {
    let p = std::path::Path::new(path);
    if !std::fs::metadata(p).map(|m| m.is_file()).unwrap_or(false) {
        return false;
    }
    let mut head = [0u8; 4];
    match std::fs::File::open(p) {
        Ok(mut f) => f.read_exact(&mut head).is_ok() && &head == PARQUET_MAGIC,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_name_formats_in_any_case() {
        assert_eq!(Format::named_by("x/y.PQ"), Some(Format::Parquet));
        assert_eq!(Format::named_by("a.parquet"), Some(Format::Parquet));
        assert_eq!(Format::named_by("a.Parq"), Some(Format::Parquet));
        assert_eq!(Format::named_by("a.CSV"), Some(Format::Csv));
        assert_eq!(Format::named_by("a.tokens"), None);
        assert_eq!(Format::named_by("-"), None);
        assert_eq!(Format::of_path("a.txt"), Format::Csv);
        assert_eq!(Format::parse("PARQUET"), Some(Format::Parquet));
        assert_eq!(Format::parse("xls"), None);
        assert_eq!(Format::Parquet.as_str(), "parquet");
    }

    #[test]
    fn the_extension_decides_then_the_fallback_then_csv() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("t.dat");
        std::fs::write(&csv, "a\n1\n").unwrap();
        let c = csv.to_str().unwrap();
        assert_eq!(Format::for_input(c, None).unwrap(), Format::Csv);
        assert_eq!(
            Format::for_input(c, Some(Format::Parquet)).unwrap(),
            Format::Parquet
        );
        assert_eq!(
            Format::for_output("o.dat", Some(Format::Parquet)).unwrap(),
            Format::Parquet
        );
        assert_eq!(
            Format::for_output("o.csv", Some(Format::Parquet)).unwrap(),
            Format::Csv
        );
        assert_eq!(
            Format::for_output("o.pq", Some(Format::Csv)).unwrap(),
            Format::Parquet
        );
        assert_eq!(Format::for_output("o", None).unwrap(), Format::Csv);
        assert_eq!(Format::for_input("-", Some(Format::Csv)).unwrap(), Format::Csv);
        // A missing file is left to the open to report.
        let gone = dir.path().join("gone.csv");
        assert_eq!(
            Format::for_input(gone.to_str().unwrap(), None).unwrap(),
            Format::Csv
        );
    }

    #[test]
    fn parquet_bytes_read_as_csv_and_parquet_on_std_streams_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["t.csv", "t.dat", "t"] {
            let p = dir.path().join(name);
            std::fs::write(&p, b"PAR1\0\0\0\0PAR1").unwrap();
            let p = p.to_str().unwrap();
            let e = Format::for_input(p, None).unwrap_err();
            assert!(matches!(e, TabularError::FormatMismatch { .. }), "{name}: {e}");
            assert!(e.to_string().contains("Parquet"), "{e}");
            assert!(e.hint().unwrap().contains("--format"));
            // Saying CSV does not make it one; saying Parquet reads it as Parquet.
            if name != "t.csv" {
                assert!(Format::for_input(p, Some(Format::Csv)).is_err());
                assert_eq!(
                    Format::for_input(p, Some(Format::Parquet)).unwrap(),
                    Format::Parquet
                );
            }
        }
        assert!(Format::for_input("-", Some(Format::Parquet)).is_err());
        assert!(Format::for_output("-", Some(Format::Parquet)).is_err());
    }

    #[test]
    fn the_default_format_round_trips() {
        // The only test touching the process-wide setting; it never sets
        // Parquet, which would change how other tests' unnamed files read.
        set_default_format(Some(Format::Csv));
        assert_eq!(default_format(), Some(Format::Csv));
        set_default_format(None);
        assert_eq!(default_format(), None);
    }
}
