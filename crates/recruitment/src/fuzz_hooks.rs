//! Fuzz-target bodies: each `fuzz/fuzz_targets/<name>.rs` is a three-line
//! shim calling the function of the same name here. Built under
//! `cfg(fuzzing)` (cargo-fuzz) and in this crate's tests, which run every
//! hook over the committed seed corpus (`fuzz/corpus/<name>/`).

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// `request_toml`: a study request is parsed and validated, errors not
/// panics.
pub fn request_toml(s: &str) {
    drop(crate::request::parse(
        "fuzz.toml",
        s,
        pseudonym::Date::new(2026, 11, 21).expect("valid date"),
    ))
}

/// `feedback_rows`: uptake feedback rows give an error or counted rows;
/// every row is accounted for.
pub fn feedback_rows(d: &[u8]) {
    with_fixture(d, |fx| {
        if let Ok(r) = crate::feedback::record_uptake(&mut fx.store, &fx.master, "fuzz-1", &fx.input) {
            assert!(r.counts.balanced(), "{:?}", r.counts)
        }
    })
}

/// `returns_rows`: return-to-sender rows give an error or counted rows;
/// every row is accounted for.
pub fn returns_rows(d: &[u8]) {
    with_fixture(d, |fx| {
        if let Ok((c, _, _)) = crate::feedback::record_returns(&mut fx.store, &fx.input) {
            assert!(c.balanced(), "{c:?}")
        }
    })
}

/// One empty service store per process (synchronous writes off: it is
/// scratch) and a scratch input path. Rows reach the parser and the store
/// lookups; with no invitations every well-formed row is unmatched, every
/// malformed one rejected.
struct Fixture {
    store: store::Store,
    input: PathBuf,
    master: pseudonym::Key,
}

/// The scratch directory of this process (`fuzz/run.sh` removes those of
/// exited processes).
fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("trialink-fuzz-{}", std::process::id()))
}

fn with_fixture<R>(data: &[u8], f: impl FnOnce(&mut Fixture) -> R) -> R {
    static F: OnceLock<Mutex<Fixture>> = OnceLock::new();
    let m = F.get_or_init(|| {
        let dir = scratch_dir();
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let store = store::Store::open(&dir.join("store.sqlite")).expect("store opens");
        store
            .connection()
            .execute_batch("PRAGMA synchronous = OFF;")
            .expect("pragma");
        Mutex::new(Fixture {
            store,
            input: dir.join("rows.csv"),
            master: pseudonym::Key::from_bytes([7; 32]),
        })
    });
    let mut fx = m.lock().unwrap_or_else(|e| e.into_inner());
    // The scratch dir may have been removed under a long run: recreate it
    // (the open store keeps working on its unlinked file).
    if let Some(dir) = fx.input.parent() {
        std::fs::create_dir_all(dir).expect("scratch dir");
    }
    std::fs::write(&fx.input, data).expect("write scratch input");
    f(&mut fx)
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
        for d in seeds("request_toml") {
            if let Ok(s) = std::str::from_utf8(&d) {
                super::request_toml(s);
            }
        }
        for d in seeds("feedback_rows") {
            super::feedback_rows(&d);
        }
        for d in seeds("returns_rows") {
            super::returns_rows(&d);
        }
        // Rows that reach the store: balanced counts, nothing matched.
        super::feedback_rows(b"reference,status,date\n00000000-0000-4000-8000-000000000000,expressed_interest,2026-11-28\nx,bad,1\n");
        super::returns_rows(
            b"reference,reason,date\n00000000-0000-4000-8000-000000000000,gone_away,2026-11-28\n,,\n",
        );
        let _ = std::fs::remove_dir_all(super::scratch_dir());
    }
}
