//! Reading CSV input with positions and a running digest.

use crate::error::TabularError;
use std::io::Read;

/// A reader that hashes (BLAKE3) and counts the bytes passing through it.
struct HashingReader {
    inner: Box<dyn Read + Send>,
    hasher: blake3::Hasher,
    bytes: u64,
}

impl Read for HashingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Where a record sits in its file (all 1-based; `byte` is 0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// The line the record starts on (the header is line 1).
    pub line: u64,
    /// The data record number (the first row after the header is 1).
    pub record: u64,
    /// The byte offset where the record starts.
    pub byte: u64,
}

/// What was read, for the manifest.
#[derive(Debug, Clone)]
pub struct InputSummary {
    /// The path as given (`-` for stdin).
    pub path: String,
    /// BLAKE3 of every byte of the file, hex.
    pub blake3: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Data rows read (the header excluded).
    pub rows: u64,
}

/// A CSV file being read: header, column lookup, records with positions.
pub struct Source {
    path: String,
    reader: csv::Reader<HashingReader>,
    header: Vec<String>,
    rows: u64,
    last: Position,
}

/// Header names shown in errors. A name that looks like data (many digits,
/// an `@`) is not shown: the file may have no header, and its first row must
/// not leak into a message.
pub fn display_header(header: &[String]) -> String {
    header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let digits = h.bytes().filter(u8::is_ascii_digit).count();
            if digits >= 4 || h.contains('@') || h.len() > 64 {
                format!("<column {} looks like data: is the header row missing?>", i + 1)
            } else {
                format!("`{h}`")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Source {
    /// Open a path, or stdin for `-`.
    pub fn open(path: &str) -> Result<Source, TabularError> {
        let inner: Box<dyn Read + Send> = if path == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(path).map_err(|e| TabularError::Open {
                path: path.to_string(),
                source: e,
            })?)
        };
        Self::from_reader(path, inner)
    }

    /// Read from any reader; `label` names it in errors.
    pub fn from_reader(label: &str, inner: Box<dyn Read + Send>) -> Result<Source, TabularError> {
        let hr = HashingReader {
            inner,
            hasher: blake3::Hasher::new(),
            bytes: 0,
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .buffer_capacity(1 << 16)
            .from_reader(hr);
        let path = label.to_string();
        let raw = reader
            .byte_headers()
            .map_err(|e| read_error(&path, &e, Position::default()))?
            .clone();
        if raw.is_empty() || (raw.len() == 1 && raw[0].is_empty()) {
            return Err(TabularError::Empty { path });
        }
        let mut header = Vec::with_capacity(raw.len());
        for (i, h) in raw.iter().enumerate() {
            let s = std::str::from_utf8(h).map_err(|_| TabularError::HeaderNotUtf8 {
                path: path.clone(),
                column: i + 1,
            })?;
            header.push(s.trim().to_string());
        }
        for i in 0..header.len() {
            for j in i + 1..header.len() {
                if !header[i].is_empty() && header[i].eq_ignore_ascii_case(&header[j]) {
                    return Err(TabularError::DuplicateHeader {
                        path,
                        first: i + 1,
                        second: j + 1,
                    });
                }
            }
        }
        Ok(Source {
            path,
            reader,
            header,
            rows: 0,
            last: Position::default(),
        })
    }

    /// The path as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The header names (trimmed).
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Find a column: by `explicit` name if given (exact, then
    /// case-insensitive), else the one header matching any `candidates`
    /// case-insensitively. Missing or ambiguous columns are errors listing the
    /// header.
    pub fn column(
        &self,
        explicit: Option<&str>,
        candidates: &[&str],
        what: &str,
    ) -> Result<usize, TabularError> {
        if let Some(name) = explicit {
            if let Some(i) = self.header.iter().position(|h| h == name) {
                return Ok(i);
            }
            let ci: Vec<usize> = (0..self.header.len())
                .filter(|&i| self.header[i].eq_ignore_ascii_case(name))
                .collect();
            return match ci.as_slice() {
                [i] => Ok(*i),
                _ => Err(TabularError::NoSuchColumn {
                    path: self.path.clone(),
                    name: name.to_string(),
                    header: display_header(&self.header),
                }),
            };
        }
        let found: Vec<usize> = (0..self.header.len())
            .filter(|&i| candidates.iter().any(|c| self.header[i].eq_ignore_ascii_case(c)))
            .collect();
        match found.as_slice() {
            [i] => Ok(*i),
            [] => Err(TabularError::MissingColumn {
                path: self.path.clone(),
                what: what.to_string(),
                tried: candidates.join(", "),
                header: display_header(&self.header),
            }),
            many => Err(TabularError::AmbiguousColumn {
                path: self.path.clone(),
                what: what.to_string(),
                matches: many
                    .iter()
                    .map(|&i| format!("`{}`", self.header[i]))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Like [`Source::column`] but `Ok(None)` when no candidate matches.
    pub fn optional_column(
        &self,
        explicit: Option<&str>,
        candidates: &[&str],
        what: &str,
    ) -> Result<Option<usize>, TabularError> {
        match self.column(explicit, candidates, what) {
            Ok(i) => Ok(Some(i)),
            Err(TabularError::MissingColumn { .. }) if explicit.is_none() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Read the next record into `rec`; `Ok(false)` at the end. Records may
    /// have a different number of fields from the header: check
    /// `rec.len() == header().len()` and reject ragged rows yourself.
    pub fn read(&mut self, rec: &mut csv::ByteRecord) -> Result<bool, TabularError> {
        match self.reader.read_byte_record(rec) {
            Ok(true) => {
                self.rows += 1;
                let p = rec
                    .position()
                    .cloned()
                    .unwrap_or_else(|| self.reader.position().clone());
                self.last = Position {
                    line: p.line(),
                    record: self.rows,
                    byte: p.byte(),
                };
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => {
                let p = self.reader.position();
                Err(read_error(
                    &self.path,
                    &e,
                    Position {
                        line: p.line(),
                        record: self.rows + 1,
                        byte: p.byte(),
                    },
                ))
            }
        }
    }

    /// The position of the record last read.
    pub fn position(&self) -> Position {
        self.last
    }

    /// Data rows read so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes consumed from the underlying file so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        self.reader.get_ref().bytes
    }

    /// Finish: drain anything unread into the digest and summarise.
    pub fn finish(self) -> Result<InputSummary, TabularError> {
        let path = self.path;
        let rows = self.rows;
        let mut hr = self.reader.into_inner();
        std::io::copy(&mut hr, &mut std::io::sink()).map_err(|e| TabularError::Read {
            path: path.clone(),
            line: 0,
            record: rows,
            byte: 0,
            what: e.kind().to_string(),
        })?;
        Ok(InputSummary {
            path,
            blake3: hr.hasher.finalize().to_hex().to_string(),
            bytes: hr.bytes,
            rows,
        })
    }
}

/// A csv error as a positioned message without data values.
fn read_error(path: &str, e: &csv::Error, at: Position) -> TabularError {
    let (line, record, byte) = match e.position() {
        Some(p) => (p.line(), at.record, p.byte()),
        None => (at.line, at.record, at.byte),
    };
    let what = match e.kind() {
        csv::ErrorKind::Io(io) => format!("read failed: {}", io.kind()),
        csv::ErrorKind::Utf8 { .. } => "text is not valid UTF-8".to_string(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("expected {expected_len} fields, found {len}")
        }
        _ => "malformed CSV".to_string(),
    };
    TabularError::Read {
        path: path.to_string(),
        line,
        record,
        byte,
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn src(text: &str) -> Result<Source, TabularError> {
        Source::from_reader("t.csv", Box::new(std::io::Cursor::new(text.as_bytes().to_vec())))
    }

    #[test]
    fn columns_found_case_insensitively() {
        let s = src("ID,NHS_Number,DOB\n").unwrap();
        assert_eq!(
            s.column(None, &["nhs_number", "nhs_no"], "NHS number").unwrap(),
            1
        );
        assert_eq!(s.column(None, &["date_of_birth", "dob"], "DOB").unwrap(), 2);
        assert_eq!(s.column(Some("id"), &[], "id").unwrap(), 0);
    }

    #[test]
    fn missing_and_ambiguous_columns() {
        let s = src("a,b\n").unwrap();
        let e = s.column(None, &["nhs_number"], "NHS number").unwrap_err();
        assert!(e.to_string().contains("`a`, `b`"), "{e}");
        let s = src("nhs_no,nhs_number\n").unwrap();
        assert!(matches!(
            s.column(None, &["nhs_number", "nhs_no"], "NHS number"),
            Err(TabularError::AmbiguousColumn { .. })
        ));
        assert!(matches!(
            s.column(Some("zzz"), &[], "x"),
            Err(TabularError::NoSuchColumn { .. })
        ));
    }

    #[test]
    fn headerless_file_does_not_leak_first_row() {
        let s = src("9991335056,1980-01-05,someone@example.org\n").unwrap();
        let e = s
            .column(None, &["nhs_number"], "NHS number")
            .unwrap_err()
            .to_string();
        assert!(
            !e.contains("9991335056") && !e.contains("1980-01-05") && !e.contains("example.org"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_and_empty_headers() {
        assert!(matches!(
            src("a,A\n"),
            Err(TabularError::DuplicateHeader {
                first: 1,
                second: 2,
                ..
            })
        ));
        assert!(matches!(src(""), Err(TabularError::Empty { .. })));
    }

    #[test]
    fn positions_and_digest() {
        let text = "a,b\n1,2\n\"x\ny\",3\n4,5\n";
        let mut s = src(text).unwrap();
        let mut r = csv::ByteRecord::new();
        assert!(s.read(&mut r).unwrap());
        assert_eq!(s.position().line, 2);
        assert!(s.read(&mut r).unwrap());
        assert_eq!(s.position().line, 3);
        assert!(s.read(&mut r).unwrap());
        assert_eq!(s.position().line, 5);
        assert_eq!(s.position().record, 3);
        assert!(!s.read(&mut r).unwrap());
        let sum = s.finish().unwrap();
        assert_eq!(sum.rows, 3);
        assert_eq!(sum.blake3, blake3::hash(text.as_bytes()).to_hex().to_string());
    }

    #[test]
    fn bom_is_stripped() {
        let s = src("\u{feff}nhs_number,dob\n").unwrap();
        assert_eq!(s.header()[0], "nhs_number");
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            crate::hooks::read_any(&data);
        }
    }
}
