// Shared by feedback_rows and returns_rows: one empty service store per fuzz
// process (synchronous writes off, it is scratch), and a scratch input path.
// Rows reach the parser and the store lookups; with no invitations every
// well-formed row is unmatched, every malformed one rejected.
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

#[allow(dead_code)] // each target uses part of it
pub struct Fixture {
    pub store: store::Store,
    pub input: PathBuf,
    pub master: pseudonym::Key,
}

pub fn with<R>(data: &[u8], f: impl FnOnce(&mut Fixture) -> R) -> R {
    static F: OnceLock<Mutex<Fixture>> = OnceLock::new();
    let m = F.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("trialink-fuzz-{}", std::process::id()));
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
