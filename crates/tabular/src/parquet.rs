//! Parquet input and output, chosen by file extension (`.parquet`, `.parq`,
//! `.pq`) or the process's table format (see [`crate::format`]), so every
//! command that reads through [`Source`] and writes through [`TableOutput`]
//! handles Parquet as it handles CSV.
//!
//! * Reading (the `parquet` cargo feature): [`Source::open`] on a Parquet
//!   path yields the same records as the CSV reader would for the same table
//!   written as CSV — every cell as text (strings and binary as their bytes,
//!   integers and floats in decimal, booleans `true`/`false`, dates
//!   `YYYY-MM-DD`, nulls as empty cells) — streaming by row group. A record's
//!   [`Position`] has `record` = row number (1-based, over the whole file),
//!   `line` = row number + 1 (as if the file were a CSV with a header line),
//!   and `byte` 0; errors name the row group and the row within it. The
//!   digest in the [`InputSummary`](crate::InputSummary) is BLAKE3 of the
//!   file's bytes, as for CSV. The column and record-size limits apply.
//! * Writing: [`TableOutput`] takes the CSV bytes a command writes and, for a
//!   Parquet path, writes them as a Parquet file of UTF-8 columns (Snappy
//!   compressed, one row group per [`ROW_GROUP_ROWS`] rows, each flushed as
//!   it fills) through [`AtomicOutput`]: the file appears only when the run
//!   succeeds, and the summary's digest is of the Parquet bytes.
//!
//! Without the feature a Parquet path is refused with
//! [`TabularError::ParquetUnavailable`] rather than read as CSV.

use crate::error::TabularError;
pub use crate::format::Format;
#[cfg(feature = "parquet")]
use crate::input::Position;
#[cfg(feature = "parquet")]
use crate::input::{InputSummary, Reader, Source};
use crate::output::{AtomicOutput, OutputMode, PendingOutput};
use crate::Limits;
use std::io::Write;

/// Rows per Parquet row group written.
pub const ROW_GROUP_ROWS: usize = 65_536;

/// The position of the `record`-th row (1-based) of a Parquet file.
#[cfg(feature = "parquet")]
pub(crate) fn position(record: u64) -> Position {
    Position {
        line: record + 1,
        record,
        byte: 0,
    }
}

/// Open a Parquet file as a [`Source`].
#[cfg(feature = "parquet")]
pub(crate) fn open_source(path: &str, limits: Limits) -> Result<crate::Source, TabularError> {
    let (rows, header) = read::ParquetRows::open(path, limits)?;
    Source::from_parts(path.to_string(), Reader::Parquet(Box::new(rows)), header)
}

/// Without the `parquet` feature: refuse.
#[cfg(not(feature = "parquet"))]
pub(crate) fn open_source(path: &str, _limits: Limits) -> Result<crate::Source, TabularError> {
    Err(TabularError::ParquetUnavailable {
        path: path.to_string(),
    })
}

#[cfg(feature = "parquet")]
pub(crate) use read::ParquetRows;

#[cfg(feature = "parquet")]
mod read {
    use super::*;
    use arrow_array::{cast::AsArray, types, Array, ArrayRef, RecordBatch};
    use arrow_schema::DataType;
    use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
    use std::panic::{catch_unwind, AssertUnwindSafe};

    /// Rows decoded at a time.
    const BATCH_ROWS: usize = 8192;

    /// The records of a Parquet file, one row group after another.
    pub struct ParquetRows {
        reader: ParquetRecordBatchReader,
        batch: Option<RecordBatch>,
        next: usize,
        /// Rows before each row group, and the total at the end.
        group_starts: Vec<u64>,
        file_len: u64,
        total_rows: u64,
        limits: Limits,
        cell: Vec<u8>,
    }

    /// A parquet-crate message, unless it might quote a value.
    fn detail(e: impl std::fmt::Display) -> String {
        let s = e.to_string();
        if s.contains('\'') || s.contains('"') || s.len() > 200 {
            "the file is damaged or not a Parquet file".to_string()
        } else {
            s
        }
    }

    fn supported(t: &DataType) -> bool {
        matches!(
            t,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::Boolean
                | DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32
                | DataType::UInt64
                | DataType::Float32
                | DataType::Float64
                | DataType::Date32
                | DataType::Null
        )
    }

    impl ParquetRows {
        /// Open `path`, check its schema and return the rows and the header.
        pub fn open(path: &str, limits: Limits) -> Result<(ParquetRows, Vec<String>), TabularError> {
            let perr = |what: String| TabularError::Parquet {
                path: path.to_string(),
                what,
            };
            let file = crate::limited::open_regular(std::path::Path::new(path), "input").map_err(|e| {
                TabularError::Open {
                    path: path.to_string(),
                    source: e,
                }
            })?;
            let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let builder = catch_unwind(AssertUnwindSafe(|| {
                ParquetRecordBatchReaderBuilder::try_new(file)
            }))
            .map_err(|_| perr("the file's metadata could not be decoded".into()))?
            .map_err(|e| perr(format!("not a readable Parquet file: {}", detail(e))))?;
            let schema = builder.schema().clone();
            if schema.fields().is_empty() {
                return Err(TabularError::Empty { path: path.into() });
            }
            if schema.fields().len() > limits.max_columns {
                return Err(TabularError::TooManyColumns {
                    path: path.into(),
                    line: 1,
                    record: 0,
                    limit: limits.max_columns,
                });
            }
            let mut header = Vec::with_capacity(schema.fields().len());
            for (i, f) in schema.fields().iter().enumerate() {
                if !supported(f.data_type()) {
                    return Err(perr(format!(
                        "column {} has type {}, which trialink does not read; cast it to a string",
                        i + 1,
                        f.data_type()
                    )));
                }
                header.push(f.name().trim().to_string());
            }
            let meta = builder.metadata().clone();
            let mut group_starts = vec![0u64];
            for g in meta.row_groups() {
                let last = *group_starts.last().unwrap_or(&0);
                group_starts.push(last + g.num_rows().max(0) as u64);
            }
            let total_rows = *group_starts.last().unwrap_or(&0);
            let reader = catch_unwind(AssertUnwindSafe(|| builder.with_batch_size(BATCH_ROWS).build()))
                .map_err(|_| perr("the file's metadata could not be decoded".into()))?
                .map_err(|e| perr(format!("cannot read: {}", detail(e))))?;
            Ok((
                ParquetRows {
                    reader,
                    batch: None,
                    next: 0,
                    group_starts,
                    file_len,
                    total_rows,
                    limits,
                    cell: Vec::new(),
                },
                header,
            ))
        }

        /// Row group (1-based) and row within it (1-based) of a record.
        pub(crate) fn locate(&self, record: u64) -> (usize, u64) {
            let i = self.group_starts.partition_point(|&s| s < record).max(1);
            (i, record - self.group_starts[i - 1])
        }

        fn fault(&self, path: &str, record: u64, what: String) -> TabularError {
            let (g, r) = self.locate(record);
            TabularError::Parquet {
                path: path.to_string(),
                what: format!("row group {g}, row {r} (record {record}): {what}"),
            }
        }

        /// Read record number `record` (1-based) into `rec`; `Ok(false)` at the end.
        pub fn read(
            &mut self,
            path: &str,
            record: u64,
            rec: &mut csv::ByteRecord,
        ) -> Result<bool, TabularError> {
            while self.batch.as_ref().is_none_or(|b| self.next >= b.num_rows()) {
                let next = catch_unwind(AssertUnwindSafe(|| self.reader.next()))
                    .map_err(|_| self.fault(path, record, "the row group could not be decoded".into()))?;
                match next {
                    None => {
                        self.batch = None;
                        return Ok(false);
                    }
                    Some(Err(e)) => {
                        return Err(self.fault(path, record, format!("cannot decode: {}", detail(e))))
                    }
                    Some(Ok(b)) => {
                        self.batch = Some(b);
                        self.next = 0;
                    }
                }
            }
            let Some(batch) = self.batch.as_ref() else {
                return Ok(false);
            };
            rec.clear();
            let mut len = 0usize;
            for col in batch.columns() {
                self.cell.clear();
                cell_text(col, self.next, &mut self.cell);
                len += self.cell.len() + 1;
                rec.push_field(&self.cell);
            }
            self.next += 1;
            if len > self.limits.max_record_bytes {
                return Err(TabularError::RecordTooLong {
                    path: path.to_string(),
                    line: record + 1,
                    record,
                    limit: self.limits.max_record_bytes,
                    note: {
                        let (g, r) = self.locate(record);
                        format!(" (row group {g}, row {r})")
                    },
                });
            }
            Ok(true)
        }

        /// Approximate bytes consumed (for progress bars).
        pub fn bytes_read(&self) -> u64 {
            let done = self.group_starts.len().saturating_sub(1) as u64;
            if self.total_rows == 0 || done == 0 {
                return 0;
            }
            let rows_done = self.group_starts[self.locate(self.total_rows).0 - 1];
            (self.file_len as u128 * rows_done as u128 / self.total_rows as u128) as u64
        }

        /// Digest the whole file and summarise.
        pub fn finish(self, path: String, rows: u64) -> Result<InputSummary, TabularError> {
            let rerr = |e: std::io::Error| TabularError::Read {
                path: path.clone(),
                line: 0,
                record: rows,
                byte: 0,
                what: e.kind().to_string(),
            };
            let mut f = std::fs::File::open(&path).map_err(rerr)?;
            let mut h = blake3::Hasher::new();
            let bytes = std::io::copy(&mut f, &mut h).map_err(rerr)?;
            Ok(InputSummary {
                blake3: h.finalize().to_hex().to_string(),
                path,
                bytes,
                rows,
                format: Some(Format::Parquet),
            })
        }
    }

    /// Append the text of row `i` of `col` to `out` (nothing for a null).
    fn cell_text(col: &ArrayRef, i: usize, out: &mut Vec<u8>) {
        if col.is_null(i) {
            return;
        }
        macro_rules! num {
            ($t:ty) => {{
                let _ = write!(out, "{}", col.as_primitive::<$t>().value(i));
            }};
        }
        match col.data_type() {
            DataType::Utf8 => out.extend_from_slice(col.as_string::<i32>().value(i).as_bytes()),
            DataType::LargeUtf8 => out.extend_from_slice(col.as_string::<i64>().value(i).as_bytes()),
            DataType::Utf8View => out.extend_from_slice(col.as_string_view().value(i).as_bytes()),
            DataType::Binary => out.extend_from_slice(col.as_binary::<i32>().value(i)),
            DataType::LargeBinary => out.extend_from_slice(col.as_binary::<i64>().value(i)),
            DataType::BinaryView => out.extend_from_slice(col.as_binary_view().value(i)),
            DataType::Boolean => out.extend_from_slice(if col.as_boolean().value(i) {
                b"true"
            } else {
                b"false"
            }),
            DataType::Int8 => num!(types::Int8Type),
            DataType::Int16 => num!(types::Int16Type),
            DataType::Int32 => num!(types::Int32Type),
            DataType::Int64 => num!(types::Int64Type),
            DataType::UInt8 => num!(types::UInt8Type),
            DataType::UInt16 => num!(types::UInt16Type),
            DataType::UInt32 => num!(types::UInt32Type),
            DataType::UInt64 => num!(types::UInt64Type),
            DataType::Float32 => num!(types::Float32Type),
            DataType::Float64 => num!(types::Float64Type),
            DataType::Date32 => {
                let (y, m, d) = civil_from_days(col.as_primitive::<types::Date32Type>().value(i) as i64);
                let _ = write!(out, "{y:04}-{m:02}-{d:02}");
            }
            // Null columns and anything `supported` lets through are empty.
            _ => {}
        }
    }

    /// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
    pub(super) fn civil_from_days(z: i64) -> (i64, u32, u32) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y, m, d)
    }
}

/// An output table: CSV bytes written to it go to the file as CSV or, for a
/// Parquet path, as Parquet. Atomic like [`AtomicOutput`] (which it wraps).
#[allow(clippy::large_enum_variant)] // the CSV output, unboxed, is the common case
pub enum TableOutput {
    /// Written as given.
    Csv(AtomicOutput),
    /// Parsed as CSV and written as Parquet row groups.
    #[cfg(feature = "parquet")]
    Parquet(Box<write::ParquetOutput>),
}

impl TableOutput {
    /// Start writing `path` in the format its extension names, else the
    /// process's table format, else CSV ([`Format::for_output`]).
    pub fn create(path: &str, mode: OutputMode) -> Result<TableOutput, TabularError> {
        let format = Format::for_output(path, crate::format::default_format())?;
        Self::create_as(path, mode, format)
    }

    /// Start writing `path` as `format` (`-` is stdout, CSV only).
    pub fn create_as(path: &str, mode: OutputMode, format: Format) -> Result<TableOutput, TabularError> {
        match format {
            Format::Csv => Ok(TableOutput::Csv(AtomicOutput::create(path, mode)?)),
            #[cfg(feature = "parquet")]
            Format::Parquet if path != "-" => Ok(TableOutput::Parquet(Box::new(write::ParquetOutput::new(
                AtomicOutput::create(path, mode)?,
            )))),
            #[cfg(feature = "parquet")]
            Format::Parquet => Err(TabularError::Parquet {
                path: path.into(),
                what: "Parquet cannot be written to standard output; give a file name".into(),
            }),
            #[cfg(not(feature = "parquet"))]
            Format::Parquet => Err(TabularError::ParquetUnavailable { path: path.into() }),
        }
    }

    /// The path as given.
    pub fn path(&self) -> &str {
        match self {
            TableOutput::Csv(o) => o.path(),
            #[cfg(feature = "parquet")]
            TableOutput::Parquet(p) => p.path(),
        }
    }

    /// Complete the file (for Parquet: the last row group and the footer)
    /// and fsync it; it is not yet in place.
    pub fn finish(self) -> Result<PendingOutput, TabularError> {
        let (mut pending, format) = match self {
            TableOutput::Csv(o) => (o.finish()?, Format::Csv),
            #[cfg(feature = "parquet")]
            TableOutput::Parquet(p) => (p.finish()?, Format::Parquet),
        };
        pending.set_format(format);
        Ok(pending)
    }
}

impl Write for TableOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            TableOutput::Csv(o) => o.write(buf),
            #[cfg(feature = "parquet")]
            TableOutput::Parquet(p) => p.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            TableOutput::Csv(o) => o.flush(),
            #[cfg(feature = "parquet")]
            TableOutput::Parquet(_) => Ok(()),
        }
    }
}

#[cfg(feature = "parquet")]
pub mod write {
    //! CSV bytes in, Parquet row groups out.
    use super::*;
    use arrow_array::builder::StringBuilder;
    use arrow_array::{ArrayRef, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    use std::io::{Error, ErrorKind};
    use std::sync::Arc;

    /// A Parquet file being written from CSV text.
    pub struct ParquetOutput {
        path: String,
        csv: csv_core::Reader,
        field_buf: Vec<u8>,
        field_len: usize,
        ends: Vec<usize>,
        ends_len: usize,
        records: u64,
        header: Option<Vec<String>>,
        cols: Vec<StringBuilder>,
        rows_in_group: usize,
        out: Option<AtomicOutput>,
        writer: Option<ArrowWriter<AtomicOutput>>,
        schema: Option<Arc<Schema>>,
    }

    fn invalid(what: String) -> Error {
        Error::new(ErrorKind::InvalidData, what)
    }

    impl ParquetOutput {
        pub(crate) fn new(out: AtomicOutput) -> ParquetOutput {
            ParquetOutput {
                path: out.path().to_string(),
                csv: csv_core::Reader::new(),
                field_buf: vec![0; 4096],
                field_len: 0,
                ends: vec![0; 64],
                ends_len: 0,
                records: 0,
                header: None,
                cols: Vec::new(),
                rows_in_group: 0,
                out: Some(out),
                writer: None,
                schema: None,
            }
        }

        /// The path as given.
        pub fn path(&self) -> &str {
            &self.path
        }

        /// Parse CSV bytes (empty input = end of data), emitting records.
        fn feed(&mut self, mut input: &[u8]) -> std::io::Result<()> {
            use csv_core::ReadRecordResult as R;
            loop {
                let (res, nin, nout, nend) = self.csv.read_record(
                    input,
                    &mut self.field_buf[self.field_len..],
                    &mut self.ends[self.ends_len..],
                );
                input = &input[nin..];
                self.field_len += nout;
                self.ends_len += nend;
                match res {
                    R::InputEmpty => return Ok(()),
                    R::OutputFull => self.field_buf.resize(self.field_buf.len() * 2, 0),
                    R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                    R::Record => {
                        self.record()?;
                        self.field_len = 0;
                        self.ends_len = 0;
                    }
                    R::End => return Ok(()),
                }
            }
        }

        /// One complete record is in the buffers: the header, or a row.
        fn record(&mut self) -> std::io::Result<()> {
            self.records += 1;
            let mut start = 0;
            let mut fields: Vec<&[u8]> = Vec::with_capacity(self.ends_len);
            for &end in &self.ends[..self.ends_len] {
                fields.push(&self.field_buf[start..end]);
                start = end;
            }
            let Some(header) = &self.header else {
                let names = fields
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect::<Vec<_>>();
                let schema = Arc::new(Schema::new(
                    names
                        .iter()
                        .map(|n| Field::new(n, DataType::Utf8, false))
                        .collect::<Vec<_>>(),
                ));
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                    .build();
                let out = self
                    .out
                    .take()
                    .ok_or_else(|| invalid("output already finished".into()))?;
                self.writer =
                    Some(ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(Error::other)?);
                self.cols = names.iter().map(|_| StringBuilder::new()).collect();
                self.schema = Some(schema);
                self.header = Some(names);
                return Ok(());
            };
            if fields.len() != header.len() {
                return Err(invalid(format!(
                    "record {} has {} fields where the header has {}",
                    self.records - 1,
                    fields.len(),
                    header.len()
                )));
            }
            for (j, (f, b)) in fields.iter().zip(&mut self.cols).enumerate() {
                let s = std::str::from_utf8(f).map_err(|_| {
                    invalid(format!(
                        "record {}, column {}: not UTF-8",
                        self.records - 1,
                        j + 1
                    ))
                })?;
                b.append_value(s);
            }
            self.rows_in_group += 1;
            if self.rows_in_group == ROW_GROUP_ROWS {
                self.flush_group()?;
            }
            Ok(())
        }

        /// Write the buffered rows as one row group.
        fn flush_group(&mut self) -> std::io::Result<()> {
            let (Some(w), Some(schema)) = (&mut self.writer, &self.schema) else {
                return Ok(());
            };
            let cols: Vec<ArrayRef> = self
                .cols
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef)
                .collect();
            let batch = RecordBatch::try_new(schema.clone(), cols).map_err(Error::other)?;
            w.write(&batch).map_err(Error::other)?;
            w.flush().map_err(Error::other)?;
            self.rows_in_group = 0;
            Ok(())
        }

        /// End the data, write the last row group and the footer, then finish
        /// the atomic output.
        pub fn finish(mut self) -> Result<PendingOutput, TabularError> {
            let werr = |e: std::io::Error, p: &str| TabularError::Write {
                path: p.into(),
                source: e,
            };
            let path = self.path.clone();
            self.feed(&[]).map_err(|e| werr(e, &path))?;
            if self.field_len > 0 || self.ends_len > 0 {
                self.record().map_err(|e| werr(e, &path))?;
            }
            if self.rows_in_group > 0 {
                self.flush_group().map_err(|e| werr(e, &path))?;
            }
            let out = match self.writer.take() {
                Some(w) => w.into_inner().map_err(|e| werr(Error::other(e), &path))?,
                None => {
                    return Err(werr(invalid("no header row was written".into()), &path));
                }
            };
            out.finish()
        }
    }

    impl Write for ParquetOutput {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.is_empty() {
                return Ok(0);
            }
            self.feed(buf)?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

#[cfg(all(test, feature = "parquet"))]
mod tests;
