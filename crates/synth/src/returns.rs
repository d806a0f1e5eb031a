//! Simulated returns to sender: the mailer's file of undelivered letters
//! for an invitation batch (`reference, reason, date`).
//!
//! About 3% of the batch's rows come back, chosen by ChaCha8 draws from the
//! seed (in batch order), each with a reason code
//! (`gone_away`, `addressee_unknown`, `address_incomplete`, `refused`,
//! `deceased`) and a date from 24 to 28 November 2026 (the demo's first
//! week).

use crate::output::AtomicFile;
use crate::SynthError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

const REASONS: [&str; 5] = [
    "gone_away",
    "addressee_unknown",
    "address_incomplete",
    "refused",
    "deceased",
];

/// Write the returns file `out` for the batch at `batch` (its `reference`
/// column); returns how many rows came back. Replaces `out`.
pub fn simulate(batch: &Path, out: &Path, seed: u64) -> Result<u64, SynthError> {
    let bad = |line: u64, message: &str| SynthError::Input {
        path: batch.to_path_buf(),
        line,
        message: message.to_string(),
    };
    let mut rdr = csv::Reader::from_path(batch).map_err(|_| bad(0, "cannot be read as CSV"))?;
    let header = rdr.byte_headers().map_err(|_| bad(1, "no header"))?.clone();
    let ref_col = header
        .iter()
        .position(|h| h == b"reference")
        .ok_or_else(|| SynthError::MissingColumn {
            path: batch.to_path_buf(),
            column: "reference".into(),
            header: String::from_utf8_lossy(header.as_slice()).into_owned(),
        })?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| SynthError::Io {
        path: out.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    };
    w.write_record(["reference", "reason", "date"]).map_err(io)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7265_7475_726e_7321);
    let mut returned = 0;
    for (i, rec) in rdr.byte_records().enumerate() {
        let rec = rec.map_err(|_| bad(i as u64 + 2, "malformed CSV record"))?;
        if rng.gen_bool(0.03) {
            let reason = REASONS[rng.gen_range(0..REASONS.len())];
            let day = 24 + (i % 5);
            w.write_record([
                &rec[ref_col],
                reason.as_bytes(),
                format!("2026-11-{day:02}").as_bytes(),
            ])
            .map_err(io)?;
            returned += 1;
        }
    }
    let bytes = w.into_inner().map_err(|e| io(e.into_error().into()))?;
    let mut f = AtomicFile::create(out, true)?;
    f.write_all(&bytes)?;
    f.commit()?;
    Ok(returned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_three_percent_come_back_with_known_reasons() {
        let d = tempfile::tempdir().unwrap();
        let batch = d.path().join("b.csv");
        let mut text = String::from("reference,template\n");
        for i in 0..20_000 {
            text.push_str(&format!("ref-{i},a\n"));
        }
        std::fs::write(&batch, text).unwrap();
        let out = d.path().join("r.csv");
        let n = simulate(&batch, &out, 2026).unwrap();
        assert!((450..750).contains(&n), "{n}");
        let got = std::fs::read_to_string(&out).unwrap();
        assert_eq!(got.lines().count() as u64, n + 1);
        assert!(got.lines().skip(1).all(|l| REASONS.iter().any(|r| l.contains(r))));
        assert_eq!(simulate(&batch, &out, 2026).unwrap(), n, "same seed, same file");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), got);
        std::fs::write(&batch, "template\na\n").unwrap();
        assert!(matches!(
            simulate(&batch, &out, 1),
            Err(SynthError::MissingColumn { .. })
        ));
    }
}
