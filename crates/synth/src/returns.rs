//! Simulated returns to sender: the mailer's file of undelivered letters
//! for an invitation batch (`reference, reason, date`).
//!
//! About 3% of the batch's rows come back, chosen by [`SplitMix64`] draws
//! from the seed (one per row, in batch order), each with a reason code
//! (`gone_away`, `addressee_unknown`, `address_incomplete`, `refused`,
//! `deceased`) and a date from 24 to 28 November 2026 (the demo's first
//! week).

use crate::output::AtomicFile;
use crate::SynthError;
use rand::RngCore;
use std::path::Path;

/// SplitMix64 (Steele, Lea and Flood 2014): a small, fast generator whose
/// stream is fixed by its 64-bit state, used where a file must come out the
/// same from one seed on every platform and version.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
}

impl RngCore for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core_fill(self, dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        rand_core_fill(self, dest);
        Ok(())
    }
}

fn rand_core_fill(r: &mut SplitMix64, dest: &mut [u8]) {
    for chunk in dest.chunks_mut(8) {
        let v = r.next_u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

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
    let mut rng = SplitMix64::new(seed);
    let mut returned = 0;
    for (i, rec) in rdr.byte_records().enumerate() {
        let rec = rec.map_err(|_| bad(i as u64 + 2, "malformed CSV record"))?;
        let z = rng.next_u64();
        if z % 1000 < 30 {
            let reason = REASONS[(z / 1000 % REASONS.len() as u64) as usize];
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
    fn splitmix64_known_answers() {
        // the reference stream for state 0 (Vigna's splitmix64.c): first outputs
        let mut r = SplitMix64(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        let mut b = [0u8; 3];
        r.fill_bytes(&mut b);
        assert_eq!(SplitMix64::new(7).next_u64(), SplitMix64::new(7).next_u64());
    }

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
