//! Fuzz-target bodies: each `fuzz/fuzz_targets/<name>.rs` is a three-line
//! shim calling the function of the same name here. Built under
//! `cfg(fuzzing)` (cargo-fuzz) and in this crate's tests, which run every
//! hook over the committed seed corpus (`fuzz/corpus/<name>/`).

use crate::clk::{schema::Schema, ClkEncoder, ClkSecret};
use crate::tlbf::Tlbf;

/// `tlbf`: whatever the TLBF v1 reader accepts serialises back to the same
/// bytes.
pub fn tlbf(d: &[u8]) {
    if let Ok(f) = Tlbf::from_bytes(d) {
        assert_eq!(f.to_bytes(), d)
    }
}

/// `tlbf_fixsum`: the TLBF reader past the checksum — the last 32 bytes are
/// replaced by the SHA-256 of the rest, so the fuzzer explores header,
/// length and bitmap checks; accepted files round-trip.
pub fn tlbf_fixsum(d: &[u8]) {
    let mut v = d.to_vec();
    if v.len() >= 32 {
        let n = v.len() - 32;
        let h = <sha2::Sha256 as sha2::Digest>::digest(&v[..n]);
        v[n..].copy_from_slice(&h);
    }
    if let Ok(f) = Tlbf::from_bytes(&v) {
        assert_eq!(f.to_bytes(), v)
    }
}

/// `clk_schema`: linkage schema v3 JSON (§4.6) and the encoder built from
/// it, run on one record of short values; no panic, no runaway allocation.
pub fn clk_schema(s: &str) {
    if let Ok(sc) = Schema::from_json(s) {
        if let Ok(e) = ClkEncoder::new(sc, &ClkSecret::from_bytes(b"fuzz")) {
            let r = vec!["ab"; e.schema().features.len()];
            let _ = e.encode(&r);
            let _ = e.blocking_keys(&r);
        }
    }
}

#[cfg(test)]
mod tests {
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
        for d in seeds("tlbf") {
            super::tlbf(&d);
        }
        for d in seeds("tlbf_fixsum") {
            super::tlbf_fixsum(&d);
        }
        for d in seeds("clk_schema") {
            if let Ok(s) = std::str::from_utf8(&d) {
                super::clk_schema(s);
            }
        }
    }
}
