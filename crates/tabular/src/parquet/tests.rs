use super::*;
use crate::{OutputMode, Source};
use std::io::Write;

/// Write `csv` through a Parquet [`TableOutput`] at `path` and persist it.
fn write_parquet(path: &std::path::Path, csv: &[u8], chunk: usize) -> crate::OutputSummary {
    let mut out = TableOutput::create(path.to_str().unwrap(), OutputMode::New).unwrap();
    assert!(matches!(out, TableOutput::Parquet(_)));
    for piece in csv.chunks(chunk.max(1)) {
        out.write_all(piece).unwrap();
    }
    out.finish().unwrap().persist().unwrap()
}

/// A source's header, records, positions and summary.
type Read = (
    Vec<String>,
    Vec<Vec<Vec<u8>>>,
    Vec<crate::Position>,
    crate::InputSummary,
);

/// Every record of a source, with positions.
fn records(path: &str) -> Read {
    let mut src = Source::open(path).unwrap();
    let header = src.header().to_vec();
    let mut rec = csv::ByteRecord::new();
    let (mut rows, mut pos) = (Vec::new(), Vec::new());
    while src.read(&mut rec).unwrap() {
        rows.push(rec.iter().map(|f| f.to_vec()).collect());
        pos.push(src.position());
    }
    (header, rows, pos, src.finish().unwrap())
}

const CSV: &[u8] = b"nhs_number,dob,note\n9991335056,1980-01-05,\"a, quoted \"\"note\"\"\"\n9990000018,05/01/1980,\n,,\"multi\nline\"\n";

#[test]
fn csv_through_parquet_reads_back_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("in.csv");
    std::fs::write(&csv_path, CSV).unwrap();
    for chunk in [1, 3, 7, 4096] {
        let pq = dir.path().join(format!("out{chunk}.parquet"));
        let summary = write_parquet(&pq, CSV, chunk);
        let (h1, r1, _, _) = records(csv_path.to_str().unwrap());
        let (h2, r2, pos, sum) = records(pq.to_str().unwrap());
        assert_eq!(h1, h2);
        assert_eq!(r1, r2, "chunk {chunk}");
        assert_eq!(sum.rows, 3);
        // The digest is of the file's bytes, and equals the writer's.
        let bytes = std::fs::read(&pq).unwrap();
        assert_eq!(sum.blake3, blake3::hash(&bytes).to_hex().to_string());
        assert_eq!(sum.blake3, summary.blake3);
        assert_eq!(sum.bytes, bytes.len() as u64);
        assert_eq!(
            pos[0],
            crate::Position {
                line: 2,
                record: 1,
                byte: 0
            }
        );
        assert_eq!(pos[2].record, 3);
    }
}

#[test]
fn writing_is_deterministic_and_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.parquet");
    let b = dir.path().join("b.parquet");
    write_parquet(&a, CSV, 5);
    write_parquet(&b, CSV, 100);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // Refuses to overwrite; a dropped output leaves nothing behind.
    assert!(matches!(
        TableOutput::create(a.to_str().unwrap(), OutputMode::New),
        Err(TabularError::OutputExists { .. })
    ));
    let c = dir.path().join("c.parquet");
    {
        let mut out = TableOutput::create(c.to_str().unwrap(), OutputMode::New).unwrap();
        out.write_all(CSV).unwrap();
    }
    assert!(!c.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn many_rows_stream_in_row_groups_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let n = ROW_GROUP_ROWS + 10;
    let mut csv = b"id,value\n".to_vec();
    for i in 0..n {
        csv.extend_from_slice(format!("{i},v{}\n", i % 7).as_bytes());
    }
    let pq = dir.path().join("big.parquet");
    write_parquet(&pq, &csv, 65_536);
    let file = std::fs::File::open(&pq).unwrap();
    let meta = ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .metadata()
        .clone();
    assert_eq!(meta.num_row_groups(), 2);
    let (_, rows, pos, sum) = records(pq.to_str().unwrap());
    assert_eq!(rows.len(), n);
    assert_eq!(sum.rows, n as u64);
    assert_eq!(rows[n - 1][0], (n - 1).to_string().into_bytes());
    assert_eq!(pos[n - 1].record, n as u64);
    let (rows_obj, _) = read::ParquetRows::open(pq.to_str().unwrap(), crate::default_limits()).unwrap();
    assert_eq!(rows_obj.locate(ROW_GROUP_ROWS as u64 + 1), (2, 1));
    assert_eq!(rows_obj.locate(ROW_GROUP_ROWS as u64), (1, ROW_GROUP_ROWS as u64));
}

#[test]
fn typed_columns_read_as_text() {
    use arrow_array::{
        ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    };
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("typed.parquet");
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("n", Arc::new(Int64Array::from(vec![Some(-7), None]))),
        ("f", Arc::new(Float64Array::from(vec![1.5, 2.0]))),
        ("b", Arc::new(BooleanArray::from(vec![true, false]))),
        ("d", Arc::new(Date32Array::from(vec![3656, -1]))),
        ("s", Arc::new(StringArray::from(vec![Some("x"), None]))),
    ];
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let mut w =
        ::parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&pq).unwrap(), batch.schema(), None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let (h, rows, _, _) = records(pq.to_str().unwrap());
    assert_eq!(h, ["n", "f", "b", "d", "s"]);
    let text = |r: &Vec<Vec<u8>>| {
        r.iter()
            .map(|c| String::from_utf8(c.clone()).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(text(&rows[0]), ["-7", "1.5", "true", "1980-01-05", "x"]);
    assert_eq!(text(&rows[1]), ["", "2", "false", "1969-12-31", ""]);
}

#[test]
fn civil_dates() {
    assert_eq!(read::civil_from_days(0), (1970, 1, 1));
    assert_eq!(read::civil_from_days(3656), (1980, 1, 5));
    assert_eq!(read::civil_from_days(-719_468), (0, 3, 1));
    assert_eq!(read::civil_from_days(11_016), (2000, 2, 29));
}

#[test]
fn hostile_files_are_errors_not_panics_and_carry_no_values() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("g.parquet");
    write_parquet(&good, b"nhs_number\n9991335056\n", 64);
    let bytes = std::fs::read(&good).unwrap();
    // Truncations, flipped bytes, and a CSV named .parquet.
    let mut cases: Vec<Vec<u8>> = vec![b"nhs_number\n9991335056\n".to_vec(), b"PAR1".to_vec(), Vec::new()];
    for cut in [4, 8, bytes.len() / 2, bytes.len() - 1] {
        cases.push(bytes[..cut].to_vec());
    }
    for i in (0..bytes.len()).step_by(3) {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        cases.push(b);
    }
    for (n, case) in cases.iter().enumerate() {
        let p = dir.path().join(format!("h{n}.parquet"));
        std::fs::write(&p, case).unwrap();
        let res = std::panic::catch_unwind(|| {
            let mut src = match Source::open(p.to_str().unwrap()) {
                Ok(s) => s,
                Err(e) => return Some(e.to_string()),
            };
            let mut rec = csv::ByteRecord::new();
            loop {
                match src.read(&mut rec) {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => return Some(e.to_string()),
                }
            }
        });
        let msg = res.unwrap_or_else(|_| panic!("case {n} panicked"));
        if let Some(m) = msg {
            assert!(!m.contains("9991335056"), "case {n}: {m}");
        }
    }
}

#[test]
fn limits_apply() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("wide.parquet");
    write_parquet(&pq, b"a,b,c\n1,2,3\n", 64);
    let lim = crate::Limits {
        max_record_bytes: 4,
        max_columns: 2,
    };
    assert!(matches!(
        Source::open_with(pq.to_str().unwrap(), lim).err(),
        Some(TabularError::TooManyColumns { .. })
    ));
    let lim = crate::Limits {
        max_record_bytes: 4,
        max_columns: 8,
    };
    let mut src = Source::open_with(pq.to_str().unwrap(), lim).unwrap();
    let mut rec = csv::ByteRecord::new();
    assert!(matches!(
        src.read(&mut rec),
        Err(TabularError::RecordTooLong { .. })
    ));
}

#[test]
fn ragged_csv_is_a_write_error() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("r.parquet");
    let mut out = TableOutput::create(pq.to_str().unwrap(), OutputMode::New).unwrap();
    assert!(out.write_all(b"a,b\n1\n").is_err());
    assert!(Format::parse("PARQUET") == Some(Format::Parquet) && Format::parse("xls").is_none());
    assert_eq!(Format::of_path("x/y.PQ"), Format::Parquet);
    assert_eq!(Format::of_path("-"), Format::Csv);
}
