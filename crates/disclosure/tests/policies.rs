//! The policy examples in reports/policies parse, and the copies of the
//! built-ins there are identical to the built-ins.

use disclosure::{Policy, BUILTIN_POLICIES};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../reports/policies")
}

#[test]
fn examples_parse_and_builtins_match() {
    let mut n = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let p = Policy::load(path.to_str().unwrap()).unwrap();
            if let Some(b) = Policy::builtin(&p.name) {
                assert_eq!(p, b, "{}", path.display());
            }
            n += 1;
        }
    }
    assert!(n > BUILTIN_POLICIES.len());
    for name in BUILTIN_POLICIES {
        assert!(dir().join(format!("{name}.toml")).exists(), "{name}");
    }
}
