//! Key and identifier hygiene, through public APIs and the binary:
//!
//! * `Debug` of every secret or identifier type is redacted (no key bytes,
//!   no hex, no identifier), and none of them implements `Display` or
//!   `serde::Serialize` (checked at compile time);
//! * a key file readable or writable by group or others is refused, with a
//!   message that says how to fix it, by every command that reads keys;
//! * generated keys differ, are created 0600, are never overwritten, and
//!   never appear on stdout/stderr or in manifests.

use crate::common;
use common::*;
use std::path::Path;

// ---------------------------------------------------------------------------
// Compile-time: secret types implement neither Display nor Serialize.
// (The "ambiguous impl" trick: if `T: Display`, both impls apply and the
// call below fails to compile.)

trait AmbiguousIfDisplay<A> {
    fn some_item() {}
}
impl<T: ?Sized> AmbiguousIfDisplay<()> for T {}
#[allow(dead_code)]
struct IsDisplay;
impl<T: ?Sized + std::fmt::Display> AmbiguousIfDisplay<IsDisplay> for T {}

trait AmbiguousIfSerialize<A> {
    fn some_item() {}
}
impl<T: ?Sized> AmbiguousIfSerialize<()> for T {}
#[allow(dead_code)]
struct IsSerialize;
impl<T: ?Sized + serde::Serialize> AmbiguousIfSerialize<IsSerialize> for T {}

macro_rules! assert_no_display_or_serialize {
    ($($t:ty),* $(,)?) => {$(
        let _ = <$t as AmbiguousIfDisplay<_>>::some_item;
        let _ = <$t as AmbiguousIfSerialize<_>>::some_item;
    )*};
}

#[test]
fn secret_types_have_no_display_and_no_serialize() {
    assert_no_display_or_serialize!(
        pseudonym::Key,
        pseudonym::TokenKey,
        pseudonym::NhsNumber,
        pseudonym::Dob,
        pseudonym::keyfile::KeyFile,
        pseudonym::Pseudonymiser,
        bloom::clk::ClkSecret,
        bloom::clk::ClkEncoder,
        bloom::clk::blake2b::KeyedBlake2b,
    );
}

// ---------------------------------------------------------------------------
// Debug redaction.

const KEY_BYTES: [u8; 32] = [
    0x5e, 0xc2, 0xe7, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
    0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0xde, 0xad, 0xbe, 0xef,
];

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every way `bytes` could show up in a `Debug` string: lower/upper hex (and
/// any 8-byte window of it), and Rust's `[94, 194, ...]` byte-list form.
fn assert_hides(debug: &str, what: &str, bytes: &[u8]) {
    let h = hex(bytes);
    for w in 0..bytes.len().saturating_sub(7) {
        let win = &h[2 * w..2 * w + 16];
        assert!(
            !debug.to_lowercase().contains(win),
            "Debug of {what} shows secret hex ({win}): {debug}"
        );
    }
    let list = format!("{:?}", &bytes[..bytes.len().min(6)]);
    let list = &list[1..list.len() - 1];
    assert!(
        !debug.contains(list),
        "Debug of {what} shows secret bytes: {debug}"
    );
}

fn assert_hides_text(debug: &str, what: &str, texts: &[&str]) {
    for t in texts {
        assert!(!debug.contains(t), "Debug of {what} shows {t:?}: {debug}");
    }
}

fn as_of() -> pseudonym::Date {
    pseudonym::Date::new(2026, 11, 21).unwrap()
}

#[test]
fn pseudonym_debug_is_redacted() {
    let key = pseudonym::Key::from_bytes(KEY_BYTES);
    let d = format!("{key:?} {key:#?}");
    assert_hides(&d, "Key", &KEY_BYTES);
    assert!(d.contains("redacted"), "{d}");

    let scope = pseudonym::Scope::new("registry:bpor").unwrap();
    let derived = key.derive(&scope);
    let dd = format!("{derived:?}");
    assert_hides(&dd, "derived Key", derived.expose_secret());

    let tk = pseudonym::TokenKey::new(&derived);
    let d = format!("{tk:?} {tk:#?}");
    assert_hides(&d, "TokenKey", derived.expose_secret());
    assert_hides(&d, "TokenKey (master)", &KEY_BYTES);

    let nhs = pseudonym::NhsNumber::parse("999 000 0093").unwrap();
    let d = format!("{nhs:?} {nhs:#?}");
    assert_hides_text(
        &d,
        "NhsNumber",
        &["9990000093", "999 000 0093", "0000093", "57, 57, 57"],
    );

    let dob = pseudonym::Dob::parse("05/04/1931", &pseudonym::DobFormats::default(), as_of()).unwrap();
    let d = format!("{dob:?} {dob:#?}");
    assert_hides_text(&d, "Dob", &["1931", "04-05", "05/04", "0405"]);

    let text = format!("# scope: registry:bpor\nTRIALINK-KEY-1:{}\n", hex(&KEY_BYTES));
    let kf = pseudonym::keyfile::parse(&text).unwrap();
    let d = format!("{kf:?} {kf:#?}");
    assert_hides(&d, "KeyFile", &KEY_BYTES);

    let p = pseudonym::Pseudonymiser::new(
        pseudonym::TokenKey::new(&derived),
        pseudonym::DobFormats::default(),
        as_of(),
        true,
    );
    let d = format!("{p:?}");
    assert_hides(&d, "Pseudonymiser", derived.expose_secret());
    assert_hides_text(&d, "Pseudonymiser", &["1931-04-05"]);

    // Tokens are pseudonyms, not secrets, but never logged whole: Debug
    // shows at most a short prefix.
    let row = p.row(b"9990000093", b"1931-04-05").unwrap();
    let full = row.token.to_hex_string();
    let d = format!("{:?} {row:?}", row.token);
    assert!(
        !d.contains(full.as_str()),
        "Debug of Token shows the whole token: {d}"
    );
    assert_hides(&d, "RowTokens", &row.token.0[12..]);
}

#[test]
fn pseudonym_errors_carry_no_values() {
    let cases = ["9990000099", "999000009X", "99900000931", "0000000000"];
    for c in cases {
        let e = pseudonym::NhsNumber::parse(c).unwrap_err();
        let d = format!("{e} {e:?}");
        assert!(!d.contains(c), "NHS number error echoes its input: {d}");
    }
    for c in ["1931-02-30", "2931-04-05", "31/02/1931", "1931-4-5", "18991231"] {
        let e = pseudonym::Dob::parse(c, &pseudonym::DobFormats::default(), as_of()).unwrap_err();
        let d = format!("{e} {e:?}");
        assert!(!d.contains(c), "DOB error echoes its input: {d}");
    }
    let bad_key = format!("TRIALINK-KEY-1:{}zz\n", &hex(&KEY_BYTES)[..62]);
    let e = pseudonym::keyfile::parse(&bad_key).unwrap_err();
    let d = format!("{e} {e:?}");
    assert_hides(&d, "KeyFileError", &KEY_BYTES[..31]);
}

#[test]
fn bloom_debug_is_redacted() {
    let secret = b"correct horse battery staple SECRET";
    let s = bloom::clk::ClkSecret::from_bytes(secret);
    let d = format!("{s:?} {s:#?}");
    assert_hides_text(&d, "ClkSecret", &["horse", "SECRET"]);
    assert_hides(&d, "ClkSecret", secret);

    let key = pseudonym::Key::from_bytes(KEY_BYTES);
    let from_key = bloom::clk::ClkSecret::from_trialink_key(key.expose_secret());
    let d = format!("{from_key:?}");
    assert_hides(&d, "ClkSecret (from key)", from_key.expose());
    assert_hides(&d, "ClkSecret (from key)", &KEY_BYTES);

    let kb = bloom::clk::blake2b::KeyedBlake2b::new(&KEY_BYTES, b"0");
    let d = format!("{kb:?} {kb:#?}");
    assert_hides(&d, "KeyedBlake2b", &KEY_BYTES);

    let schema_text = std::fs::read_to_string(fixtures().join("vectors/clk_schema_blake.json")).unwrap();
    let schema = bloom::clk::schema::Schema::from_json(&schema_text).unwrap();
    let enc = bloom::clk::ClkEncoder::new(schema, &s).unwrap();
    let d = format!("{enc:?} {enc:#?}");
    assert_hides_text(&d, "ClkEncoder", &["horse", "SECRET"]);
    assert_hides(&d, "ClkEncoder", secret);
}

#[test]
fn token_sets_filters_and_synthetic_people_debug_is_redacted() {
    let tokens: Vec<[u8; 32]> = (0u8..5).map(|i| [0x30 + i; 32]).collect();
    let set = suppression::TokenSet::from_unsorted(tokens.clone());
    let d = format!("{set:?} {set:#?}");
    for t in &tokens {
        assert_hides(&d, "TokenSet", t);
    }
    let mut f = bloom::tlbf::Tlbf::with_params(256, 3, [1; 8]);
    for t in &tokens {
        f.insert(t);
    }
    let d = format!("{f:?} {f:#?}");
    for t in &tokens {
        assert_hides(&d, "Tlbf", t);
    }
    assert!(
        !d.contains(&format!("{}", u64::MAX)),
        "Tlbf Debug shows its bitmap: {d}"
    );

    let g =
        synth::person::PersonGenerator::new([9; 32], 18, synth::date::Date::from_ymd(2026, 11, 21).unwrap());
    let p = g.person(1, 9_990_000_093);
    let d = format!("{p:?} {p:#?} {:?}", p.address);
    let (y, m, day) = p.dob.ymd();
    let dob = format!("{y:04}-{m:02}-{day:02}");
    for v in [
        p.given.as_str(),
        p.family.as_str(),
        "9990000093",
        p.address.lines[0].as_str(),
        dob.as_str(),
    ] {
        assert!(
            v.len() < 2 || !d.contains(v),
            "Debug of synth::Person shows {v:?}: {d}"
        );
    }
}

/// `linkage::Side` holds a party's tokens and CLKs. Its derived `Debug`
/// prints them byte by byte; tokens must not reach logs (DESIGN §2).
#[test]
fn linkage_side_debug_hides_tokens() {
    let mut side = linkage::Side::new(0);
    let token = [0xabu8; 32];
    side.push(Some(token), None, &[]);
    let d = format!("{side:?}");
    assert_hides(&d, "linkage::Side", &token);
}

// ---------------------------------------------------------------------------
// Key files and key commands.

fn key_hex(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("TRIALINK-KEY-1:"))
        .expect("a key line")
        .trim()
        .to_string()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[cfg(unix)]
fn chmod(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

#[test]
fn generated_keys_differ_are_private_and_never_printed() {
    let d = tempfile::tempdir().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut fps = std::collections::BTreeSet::new();
    for i in 0..12 {
        let p = d.path().join(format!("k{i}.key"));
        let args: Vec<String> = if i % 2 == 0 {
            vec![
                "keys".into(),
                "generate".into(),
                "--out".into(),
                p.to_str().unwrap().into(),
            ]
        } else {
            vec![
                "keys".into(),
                "generate".into(),
                "--out".into(),
                p.to_str().unwrap().into(),
                "--scope".into(),
                "registry:x".into(),
            ]
        };
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let h = key_hex(&p);
        assert_eq!(h.len(), 64);
        assert!(
            h.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "not lowercase hex"
        );
        assert!(
            !stdout(&o).contains(&h) && !stderr(&o).contains(&h),
            "keys generate printed the key"
        );
        // Not all-zero, not a repeated byte: the OS RNG filled it.
        assert!(
            h.as_bytes().windows(2).any(|w| w[0] != w[1]),
            "degenerate key {i}"
        );
        #[cfg(unix)]
        assert_eq!(mode(&p), 0o600, "generated key file mode");
        assert!(seen.insert(h), "two generated keys are equal");
        let f = run(&["keys", "fingerprint", p.to_str().unwrap()]);
        assert!(f.status.success(), "{}", stderr(&f));
        assert!(fps.insert(stdout(&f).trim().to_string()));
    }
    // Never overwritten.
    let p = d.path().join("k0.key");
    let before = std::fs::read(&p).unwrap();
    let o = run(&["keys", "generate", "--out", p.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "keys generate overwrote a key: {}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&p).unwrap(), before);

    // Through the API too.
    let a = pseudonym::Key::generate().unwrap();
    let b = pseudonym::Key::generate().unwrap();
    assert!(!a.ct_eq(&b));
    assert_ne!(a.fingerprint().to_string(), b.fingerprint().to_string());
}

#[test]
fn derived_keys_are_private_and_never_printed_or_in_manifests() {
    let d = tempfile::tempdir().unwrap();
    let master = master_key(d.path());
    let mh = key_hex(&master);
    let out = d.path().join("reg.key");
    let o = run(&[
        "keys",
        "derive",
        "--from",
        master.to_str().unwrap(),
        "--scope",
        "registry:x",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    #[cfg(unix)]
    assert_eq!(mode(&out), 0o600);
    let h = key_hex(&out);
    assert_ne!(h, mh);
    for text in [stdout(&o), stderr(&o)] {
        assert!(
            !text.contains(&h) && !text.contains(&mh),
            "keys derive printed key material"
        );
    }
    // A derived key file is never overwritten.
    let o2 = run(&[
        "keys",
        "derive",
        "--from",
        master.to_str().unwrap(),
        "--scope",
        "registry:y",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o2.status.code(), Some(2));
    assert_eq!(key_hex(&out), h);

    // pseudonymise: no key material in its output, manifest, rejects or messages.
    let tokens = d.path().join("t.csv");
    let o = run(&[
        "pseudonymise",
        "--key",
        out.to_str().unwrap(),
        "--input",
        fixtures().join("pseudonymise/registry.csv").to_str().unwrap(),
        "--output",
        tokens.to_str().unwrap(),
        "--as-of",
        "2026-11-21",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for entry in std::fs::read_dir(d.path()).unwrap().flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "key") {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).to_lowercase();
        assert!(
            !text.contains(&h) && !text.contains(&mh),
            "{} holds key material",
            p.display()
        );
    }
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!all.contains(&h) && !all.contains(&mh));
}

#[cfg(unix)]
#[test]
fn key_files_open_to_group_or_others_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let master = master_key(d.path());
    let reg = scope_key(d.path(), "registry:x", "reg.key");
    let secrets = [key_hex(&master), key_hex(&reg)];
    let secrets: Vec<&str> = secrets.iter().map(|s| s.as_str()).collect();
    for m in [
        0o640, 0o604, 0o644, 0o660, 0o606, 0o666, 0o620, 0o602, 0o610, 0o601, 0o777,
    ] {
        chmod(&master, m);
        chmod(&reg, m);
        let runs: Vec<(&str, Vec<String>)> = vec![
            (
                "keys fingerprint",
                vec![
                    "keys".into(),
                    "fingerprint".into(),
                    master.to_str().unwrap().into(),
                ],
            ),
            (
                "keys derive",
                vec![
                    "keys".into(),
                    "derive".into(),
                    "--from".into(),
                    master.to_str().unwrap().into(),
                    "--scope".into(),
                    "registry:z".into(),
                    "--out".into(),
                    d.path().join(format!("z{m:o}.key")).to_str().unwrap().into(),
                ],
            ),
            (
                "pseudonymise",
                vec![
                    "pseudonymise".into(),
                    "--key".into(),
                    reg.to_str().unwrap().into(),
                    "--input".into(),
                    fixtures()
                        .join("pseudonymise/registry.csv")
                        .to_str()
                        .unwrap()
                        .into(),
                    "--output".into(),
                    d.path().join(format!("t{m:o}.csv")).to_str().unwrap().into(),
                ],
            ),
            (
                "noncontact add",
                vec![
                    "noncontact".into(),
                    "add".into(),
                    "--store".into(),
                    d.path().join("s.sqlite").to_str().unwrap().into(),
                    "--key".into(),
                    master.to_str().unwrap().into(),
                    "--input".into(),
                    fixtures().join("synth/objections.csv").to_str().unwrap().into(),
                ],
            ),
        ];
        for (what, args) in runs {
            let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
            let o = run(&args);
            assert_error(&o, "error:", &secrets);
            let e = stderr(&o);
            assert!(
                e.contains("chmod 600") || e.contains("chmod 0600") || e.contains("chmod go-rwx"),
                "{what} with a {m:o} key: the message does not say how to fix it: {e}"
            );
        }
        assert!(!d.path().join(format!("t{m:o}.csv")).exists());
        assert!(!d.path().join(format!("z{m:o}.key")).exists());
    }
    // 0600 and 0400 are accepted.
    for m in [0o600, 0o400] {
        chmod(&master, m);
        let o = run(&["keys", "fingerprint", master.to_str().unwrap()]);
        assert!(o.status.success(), "mode {m:o} refused: {}", stderr(&o));
    }
}
