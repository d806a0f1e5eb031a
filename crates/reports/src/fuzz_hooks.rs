//! Fuzz-target bodies: each `fuzz/fuzz_targets/<name>.rs` is a three-line
//! shim calling the function of the same name here. Built under
//! `cfg(fuzzing)` (cargo-fuzz) and in this crate's tests, which run every
//! hook over the committed seed corpus (`fuzz/corpus/<name>/`).
//!
//! `release_json` lives here rather than in `disclosure` (which owns
//! `Release`) because `disclosure` does not depend on `serde_json`.

/// `report_input`: report figures JSON (`report --input`) through table
/// building, protection and audit; no panic.
pub fn report_input(d: &[u8]) {
    if let Ok(i) = serde_json::from_slice::<crate::ReportInput>(d) {
        let _ = crate::build(
            &i,
            &disclosure::Policy::default_policy(),
            &[],
            crate::Options::default(),
        );
    }
}

/// `release_json`: a published release (`audit --report`, `tables.json`,
/// `disclosure::Release`) through the audit's linear program; no panic.
pub fn release_json(d: &[u8]) {
    if let Ok(r) = serde_json::from_slice::<disclosure::Release>(d) {
        let _ = disclosure::audit(&[r], &disclosure::Policy::default_policy());
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
        for d in seeds("report_input") {
            super::report_input(&d);
        }
        for d in seeds("release_json") {
            super::release_json(&d);
        }
    }
}
