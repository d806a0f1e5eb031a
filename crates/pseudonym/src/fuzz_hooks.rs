//! Fuzz-target bodies: each `fuzz/fuzz_targets/<name>.rs` is a three-line
//! shim calling the function of the same name here. Built under
//! `cfg(fuzzing)` (cargo-fuzz) and in this crate's tests, which run every
//! hook over the committed seed corpus (`fuzz/corpus/<name>/`).

use crate::{Date, Dob, DobFormats, NhsNumber};

/// `pseudonym_any`: every parser in the crate, with round trips.
pub fn pseudonym_any(data: &[u8]) {
    crate::hooks::parse_any(data)
}

/// `keyfile`: any text is parsed or refused by line number, never a panic.
pub fn keyfile(s: &str) {
    drop(crate::keyfile::parse(s))
}

/// `nhs_number`: a parsed number's normalised form reparses to itself.
pub fn nhs_number(d: &[u8]) {
    if let Ok(n) = NhsNumber::parse_bytes(d) {
        assert_eq!(
            NhsNumber::parse(n.as_str()).expect("reparses").as_str(),
            n.as_str()
        )
    }
}

/// `dob`: under the default formats, the ISO form reparses to itself and
/// lies in 1900-01-01 ..= the as-of date.
pub fn dob(d: &[u8]) {
    let (f, as_of) = (
        DobFormats::default(),
        Date::new(2026, 11, 21).expect("valid date"),
    );
    if let Ok(x) = Dob::parse_bytes(d, &f, as_of) {
        assert_eq!(Dob::parse(x.iso(), &f, as_of).expect("reparses").iso(), x.iso());
        assert!(("1900-01-01"..="2026-11-21").contains(&x.iso()), "out of range");
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
        for d in seeds("pseudonym_any") {
            super::pseudonym_any(&d);
        }
        for d in seeds("keyfile") {
            if let Ok(s) = std::str::from_utf8(&d) {
                super::keyfile(s);
            }
        }
        for d in seeds("nhs_number") {
            super::nhs_number(&d);
        }
        for d in seeds("dob") {
            super::dob(&d);
        }
    }
}
