//! Reading CSV input with positions and a running digest.

use crate::csvread::{CsvFault, CsvReader, Limits, Start};
use crate::error::TabularError;
use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A reader that hashes (BLAKE3) and counts the bytes passing through it.
pub(crate) struct HashingReader {
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
    /// The format the file was read as (none for a summary made by hand).
    pub format: Option<crate::format::Format>,
}

/// A CSV (or, with the `parquet` feature, Parquet) file being read: header,
/// column lookup, records with positions.
pub struct Source {
    path: String,
    reader: Reader,
    header: Vec<String>,
    rows: u64,
    last: Position,
}

/// The format-specific record reader behind a [`Source`].
#[allow(clippy::large_enum_variant)] // the CSV reader, unboxed, is the common case
pub(crate) enum Reader {
    Csv(CsvReader<HashingReader>),
    #[cfg(feature = "parquet")]
    Parquet(Box<crate::parquet::ParquetRows>),
}

static MAX_RECORD_BYTES: AtomicUsize = AtomicUsize::new(crate::csvread::DEFAULT_MAX_RECORD_BYTES);
static MAX_COLUMNS: AtomicUsize = AtomicUsize::new(crate::csvread::DEFAULT_MAX_COLUMNS);

/// Set the limits [`Source::open`] and [`Source::from_reader`] use for the
/// rest of the process (the CLI's `--max-record-bytes`).
pub fn set_default_limits(l: Limits) {
    MAX_RECORD_BYTES.store(l.max_record_bytes, Ordering::Relaxed);
    MAX_COLUMNS.store(l.max_columns, Ordering::Relaxed);
}

/// The limits [`Source::open`] uses (see [`set_default_limits`]).
pub fn default_limits() -> Limits {
    Limits {
        max_record_bytes: MAX_RECORD_BYTES.load(Ordering::Relaxed),
        max_columns: MAX_COLUMNS.load(Ordering::Relaxed),
    }
}

/// Does this look like a header name (not a data value)? Letters, digits,
/// space and `_-./()#`, at most 64 bytes, fewer than four digits.
fn plausible_name(h: &str) -> bool {
    h.len() <= 64
        && h.bytes().filter(u8::is_ascii_digit).count() < 4
        && h.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b" _-./()#".contains(&c))
}

/// Column names trialink itself reads or writes somewhere, besides the
/// identifier names of [`crate::columns`] (compared after lower-casing and
/// turning spaces and hyphens into `_`). A header is shown in an error only
/// when at least one of its names is one of these: a headerless file whose
/// first row is a person's name, sex and town passes the character test of
/// [`plausible_name`] but names no column trialink knows, so it is
/// described by column numbers only.
pub const KNOWN_COLUMNS: &[&str] = &[
    "sex",
    "gender",
    "address_line_1",
    "address_line_2",
    "address_line_3",
    "address_line_4",
    "address_line_5",
    "mobile",
    "email",
    "region",
    "ethnic_category",
    "ethnicity",
    "gp_practice",
    "conditions",
    "deceased",
    "armed_forces",
    "prison",
    "s_flag",
    "national_data_opt_out",
    "token",
    "nhs_token",
    "clk",
    "blocking",
    "reference",
    "status",
    "date",
    "reason",
    "left",
    "right",
    "id",
    "received_on",
    "enrolled_on",
    "comment",
    "note",
    "notes",
    "source",
    "template",
    "method",
    "score",
];

fn known_name(h: &str) -> bool {
    let n: String = h
        .trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    KNOWN_COLUMNS.contains(&n.as_str()) || crate::columns::all_aliases().any(|a| a == n)
}

/// Header names shown in errors. When any name fails the header-name test
/// (too long, four or more digits, `@` or other characters no column name
/// has), or no name is one trialink knows ([`KNOWN_COLUMNS`]), the file
/// probably has no header and its first row is data: then the row is
/// described by its number of columns only, never by its cells.
pub fn display_header(header: &[String]) -> String {
    if header.iter().all(|h| plausible_name(h)) && header.iter().any(|h| known_name(h)) {
        header
            .iter()
            .map(|h| format!("`{h}`"))
            .collect::<Vec<_>>()
            .join(", ")
    } else if header.iter().all(|h| plausible_name(h)) {
        format!(
            "{} columns, none of them a column name trialink knows (the names are not shown, in case the first row is data): is the header row missing?",
            header.len()
        )
    } else {
        let bad: Vec<String> = header
            .iter()
            .enumerate()
            .filter(|(_, h)| !plausible_name(h))
            .map(|(i, _)| (i + 1).to_string())
            .take(10)
            .collect();
        format!(
            "{} columns, and the first row does not look like a header (column(s) {} hold values, not names): is the header row missing?",
            header.len(),
            bad.join(", ")
        )
    }
}

impl Source {
    /// Open a path, or stdin for `-`, with the process's default limits.
    pub fn open(path: &str) -> Result<Source, TabularError> {
        Self::open_with(path, default_limits())
    }

    /// Open a path, or stdin for `-`, with the given limits.
    pub fn open_with(path: &str, limits: Limits) -> Result<Source, TabularError> {
        let format = crate::format::Format::for_input(path, crate::format::default_format())?;
        if format == crate::format::Format::Parquet {
            return crate::parquet::open_source(path, limits);
        }
        let inner: Box<dyn Read + Send> = if path == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(path).map_err(|e| TabularError::Open {
                path: path.to_string(),
                source: e,
            })?)
        };
        Self::from_reader_with(path, inner, limits)
    }

    /// Read from any reader; `label` names it in errors.
    pub fn from_reader(label: &str, inner: Box<dyn Read + Send>) -> Result<Source, TabularError> {
        Self::from_reader_with(label, inner, default_limits())
    }

    /// [`Source::from_reader`] with the given limits.
    pub fn from_reader_with(
        label: &str,
        inner: Box<dyn Read + Send>,
        limits: Limits,
    ) -> Result<Source, TabularError> {
        let hr = HashingReader {
            inner,
            hasher: blake3::Hasher::new(),
            bytes: 0,
        };
        let mut reader = CsvReader::new(hr, limits);
        let path = label.to_string();
        let mut raw = csv::ByteRecord::new();
        let got = reader
            .read_record(&mut raw)
            .map_err(|e| fault(&path, e, reader.here(), 0))?;
        if got.is_none() || raw.is_empty() || (raw.len() == 1 && raw[0].is_empty()) {
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
        Self::from_parts(path, Reader::Csv(reader), header)
    }

    /// A source over `reader` with `header` (names trimmed), refusing
    /// duplicate names.
    pub(crate) fn from_parts(
        path: String,
        reader: Reader,
        header: Vec<String>,
    ) -> Result<Source, TabularError> {
        let mut seen: HashMap<String, usize> = HashMap::with_capacity(header.len());
        for (j, h) in header.iter().enumerate() {
            if h.is_empty() {
                continue;
            }
            if let Some(&i) = seen.get(&h.to_ascii_lowercase()) {
                return Err(TabularError::DuplicateHeader {
                    path,
                    first: i + 1,
                    second: j + 1,
                });
            }
            seen.insert(h.to_ascii_lowercase(), j);
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

    /// The positions of the columns to pass through unchanged (`--keep`),
    /// each found as [`Source::column`] finds an explicit name. An
    /// identifier column (one of [`crate::columns`]' NHS-number or DOB
    /// names, or one `identifying` says is read to make the output) is
    /// refused, and so is a repeat.
    pub fn keep_columns(
        &self,
        keep: &[String],
        identifying: impl Fn(usize) -> bool,
    ) -> Result<Vec<usize>, TabularError> {
        let mut cols = Vec::with_capacity(keep.len());
        for k in keep {
            let i = self.column(Some(k), &[], k)?;
            if identifying(i) || crate::columns::is_identifier(&self.header[i]) {
                return Err(TabularError::KeepIdentifier { name: k.clone() });
            }
            if cols.contains(&i) {
                return Err(TabularError::KeepTwice { name: k.clone() });
            }
            cols.push(i);
        }
        Ok(cols)
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
        #[allow(clippy::infallible_destructuring_match)] // one variant without `parquet`
        let reader = match &mut self.reader {
            Reader::Csv(r) => r,
            #[cfg(feature = "parquet")]
            Reader::Parquet(p) => {
                let got = p.read(&self.path, self.rows + 1, rec)?;
                if got {
                    self.rows += 1;
                    self.last = crate::parquet::position(self.rows);
                }
                return Ok(got);
            }
        };
        match reader.read_record(rec) {
            Ok(Some(start)) => {
                self.rows += 1;
                self.last = Position {
                    line: start.line,
                    record: self.rows,
                    byte: start.byte,
                };
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => Err(fault(&self.path, e, reader.here(), self.rows + 1)),
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
        match &self.reader {
            Reader::Csv(r) => r.get_ref().bytes,
            #[cfg(feature = "parquet")]
            Reader::Parquet(p) => p.bytes_read(),
        }
    }

    /// Finish: drain anything unread into the digest and summarise.
    pub fn finish(self) -> Result<InputSummary, TabularError> {
        let path = self.path;
        let rows = self.rows;
        let mut hr = match self.reader {
            Reader::Csv(r) => r.into_inner(),
            #[cfg(feature = "parquet")]
            Reader::Parquet(p) => return p.finish(path, rows),
        };
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
            format: Some(crate::format::Format::Csv),
        })
    }
}

/// A reader fault as a positioned message without data values.
fn fault(path: &str, e: CsvFault, at: Start, record: u64) -> TabularError {
    let path = path.to_string();
    match e {
        CsvFault::Io(io) => TabularError::Read {
            path,
            line: at.line,
            record,
            byte: at.byte,
            what: format!("read failed: {}", io.kind()),
        },
        CsvFault::UnclosedQuote { quote_line } => TabularError::UnclosedQuote {
            path,
            line: quote_line,
            record,
        },
        CsvFault::RecordTooLong {
            limit,
            line,
            open_quote,
        } => TabularError::RecordTooLong {
            path,
            line,
            record,
            limit,
            note: match open_quote {
                Some(q) => format!(
                    " (a quoted field opened on line {q} is still open: is its closing quote missing?)"
                ),
                None => String::new(),
            },
        },
        CsvFault::TooManyColumns { limit } => TabularError::TooManyColumns {
            path,
            line: at.line,
            record,
            limit,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_row_of_names_is_never_shown_as_a_header() {
        let row: Vec<String> = [
            "Zebedee",
            "Quixotic-Marker",
            "female",
            "Flat 9 Marker House",
            "Chelmsford",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let d = display_header(&row);
        for c in &row {
            assert!(!d.contains(c.as_str()), "{d}");
        }
        assert!(d.contains("is the header row missing?"), "{d}");
        let real: Vec<String> = ["NHS Number", "dob", "note"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(display_header(&real).contains("`NHS Number`"));
    }
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
        let s = src("id,b\n").unwrap();
        let e = s.column(None, &["nhs_number"], "NHS number").unwrap_err();
        assert!(e.to_string().contains("`id`, `b`"), "{e}");
        // No name trialink knows: perhaps the first row is data; never shown.
        let s = src("a,b\n").unwrap();
        let e = s.column(None, &["nhs_number"], "NHS number").unwrap_err();
        assert!(
            !e.to_string().contains("`a`") && e.to_string().contains("2 columns"),
            "{e}"
        );
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
    fn crlf_positions_are_exact() {
        let mut s = src("a,b\r\n1,2\r\n\"x\r\ny\",3\r\n4,5\r\n").unwrap();
        let mut r = csv::ByteRecord::new();
        let mut lines = Vec::new();
        while s.read(&mut r).unwrap() {
            lines.push(s.position().line);
        }
        assert_eq!(lines, [2, 3, 5]);
    }

    #[test]
    fn unclosed_quote_is_an_error_at_its_line() {
        let mut text = String::from("a,b\n1,\"Please do not contact me\n");
        for _ in 0..48 {
            text.push_str("9,9\n");
        }
        let mut s = src(&text).unwrap();
        let mut r = csv::ByteRecord::new();
        let e = s.read(&mut r).unwrap_err();
        assert!(
            matches!(
                e,
                TabularError::UnclosedQuote {
                    line: 2,
                    record: 1,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(!e.to_string().contains("Please"), "{e}");
    }

    #[test]
    fn wide_header_duplicates_found_without_quadratic_cost() {
        let mut h: Vec<String> = (0..200_000).map(|i| format!("c{i}")).collect();
        h.push("C17".into());
        let text = h.join(",") + "\n";
        let l = Limits {
            max_record_bytes: 1 << 24,
            max_columns: 300_000,
        };
        let t = std::time::Instant::now();
        let e = Source::from_reader_with("t.csv", Box::new(std::io::Cursor::new(text.into_bytes())), l);
        assert!(matches!(
            e,
            Err(TabularError::DuplicateHeader {
                first: 18,
                second: 200_001,
                ..
            })
        ));
        assert!(t.elapsed().as_secs() < 10);
        // With the default column limit the header is refused outright.
        let text = (0..5000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",");
        assert!(matches!(
            src(&text),
            Err(TabularError::TooManyColumns { limit: 4096, .. })
        ));
    }

    #[test]
    fn headerless_row_described_by_column_numbers_only() {
        let s = src("9991335056,Zebedee,Quixotic-Marker,female,Flat 9 Marker House,Chelmsford,CM3 1GS\n")
            .unwrap();
        let e = s
            .column(None, &["nhs_number"], "NHS number")
            .unwrap_err()
            .to_string();
        for cell in [
            "9991335056",
            "Zebedee",
            "Quixotic",
            "female",
            "Flat 9",
            "Chelmsford",
            "CM3",
        ] {
            assert!(!e.contains(cell), "{e}");
        }
        assert!(e.contains("7 columns") && e.contains("column(s) 1"), "{e}");
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
