//! The committed fixture in `fixtures/synth` is exactly what the generator
//! makes today (seed 42, 3,000 people, defaults).

use synth::{generate, Config, FILES};

#[test]
fn committed_fixture_is_reproduced_byte_for_byte() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/synth");
    let d = tempfile::tempdir().unwrap();
    generate(
        &Config {
            people: 3000,
            seed: 42,
            ..Config::default()
        },
        d.path(),
        false,
    )
    .unwrap();
    for f in FILES {
        let want = std::fs::read(fixture.join(f)).unwrap_or_else(|e| panic!("fixtures/synth/{f}: {e}"));
        let got = std::fs::read(d.path().join(f)).unwrap();
        assert!(
            want == got,
            "fixtures/synth/{f} is stale: regenerate with `trialink synth --people 3000 --seed 42 --out fixtures/synth --force`"
        );
    }
}
