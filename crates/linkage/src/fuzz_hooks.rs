//! Fuzz-target bodies: `fuzz/fuzz_targets/blocking_cell.rs` is a three-line
//! shim calling [`blocking_cell`]. Built under `cfg(fuzzing)` (cargo-fuzz)
//! and in this crate's tests, which run the hook over the committed seed
//! corpus (`fuzz/corpus/blocking_cell/`).

/// `blocking_cell`: a CLK file's `blocking` cell (`name=hex16;…`,
/// [`crate::parse_blocking`]): every key parsed is named, and parsing is
/// deterministic.
pub fn blocking_cell(s: &str) {
    let a = crate::parse_blocking(s);
    if let Some(v) = &a {
        assert!(v.iter().all(|(n, _)| !n.is_empty() || s.trim().is_empty()));
    }
    assert_eq!(a, crate::parse_blocking(s));
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn hook_runs_clean_over_its_seed_corpus() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/blocking_cell");
        let mut n = 0;
        for e in std::fs::read_dir(root).expect("seed corpus").flatten() {
            if let Ok(s) = String::from_utf8(std::fs::read(e.path()).unwrap()) {
                super::blocking_cell(&s);
                n += 1;
            }
        }
        assert!(n > 0, "no seeds");
        for s in [
            "",
            "dob=0011223344556677",
            "a=00;b=zz",
            "=;=",
            "dob=0011223344556677;dob=0011223344556677",
        ] {
            super::blocking_cell(s);
        }
    }
}
