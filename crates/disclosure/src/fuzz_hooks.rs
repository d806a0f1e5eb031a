//! Fuzz-target bodies: each `fuzz/fuzz_targets/<name>.rs` is a three-line
//! shim calling the function of the same name here. Built under
//! `cfg(fuzzing)` (cargo-fuzz) and in this crate's tests, which run every
//! hook over the committed seed corpus (`fuzz/corpus/<name>/`).

/// `policy_toml`: a disclosure-control policy is parsed and validated,
/// errors not panics.
pub fn policy_toml(s: &str) {
    drop(crate::Policy::from_toml_str(s, "fuzz.toml"))
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
        for d in seeds("policy_toml") {
            if let Ok(s) = std::str::from_utf8(&d) {
                super::policy_toml(s);
            }
        }
    }
}
