//! Known-answer tests over the independent vectors in `fixtures/vectors/`
//! (copied byte for byte from the project's shared vectors).

use pseudonym::{keyfile, Date, Dob, DobFormats, Key, NhsNumber, Scope, TokenKey};
use std::path::PathBuf;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/vectors")
}

fn key_from_hex(h: &str) -> Key {
    let mut b = [0u8; 32];
    hex::decode_to_slice(h, &mut b).unwrap();
    Key::from_bytes(b)
}

fn csv_rows(name: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(vectors().join(name)).unwrap();
    let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    rdr.records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn master_key_file_and_fingerprint() {
    let text = std::fs::read_to_string(vectors().join("master.key")).unwrap();
    let kf = keyfile::parse(&text).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vectors().join("keys.json")).unwrap()).unwrap();
    assert_eq!(
        kf.key.fingerprint().to_string(),
        json["master_fingerprint"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(kf.key.expose_secret()),
        json["master_hex"].as_str().unwrap()
    );
}

#[test]
fn derived_scope_keys() {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vectors().join("keys.json")).unwrap()).unwrap();
    let master = key_from_hex(json["master_hex"].as_str().unwrap());
    let derived = json["derived"].as_array().unwrap();
    assert!(!derived.is_empty());
    for d in derived {
        let scope = Scope::new(d["scope"].as_str().unwrap()).unwrap();
        let k = master.derive(&scope);
        assert_eq!(
            hex::encode(k.expose_secret()),
            d["key_hex"].as_str().unwrap(),
            "{scope}"
        );
        assert_eq!(
            k.fingerprint().to_string(),
            d["fingerprint"].as_str().unwrap(),
            "{scope}"
        );
    }
    let invalid = json["invalid_scopes"].as_array().unwrap();
    assert!(!invalid.is_empty());
    for s in invalid {
        assert!(Scope::new(s.as_str().unwrap()).is_err());
    }
}

#[test]
fn nhs_numbers() {
    let rows = csv_rows("nhs_numbers.csv");
    assert!(rows.len() > 100);
    for (i, r) in rows.iter().enumerate() {
        let got = NhsNumber::parse(&r[0]);
        match r[2].as_str() {
            "valid" => assert_eq!(got.expect("valid").as_str(), r[1], "row {}", i + 2),
            "invalid" => assert!(got.is_err(), "row {} should be invalid", i + 2),
            v => panic!("unknown verdict {v}"),
        }
    }
}

#[test]
fn dates_of_birth() {
    let as_of = Date::new(2026, 11, 21).unwrap();
    let rows = csv_rows("dates_of_birth.csv");
    assert!(rows.len() > 50);
    for (i, r) in rows.iter().enumerate() {
        let got = Dob::parse(&r[0], &DobFormats::default(), as_of);
        match r[2].as_str() {
            "valid" => assert_eq!(got.expect("valid").iso(), r[1], "row {}", i + 2),
            "invalid" => assert!(got.is_err(), "row {} should be invalid", i + 2),
            v => panic!("unknown verdict {v}"),
        }
    }
}

#[test]
fn tokens() {
    let as_of = Date::new(2026, 11, 21).unwrap();
    let rows = csv_rows("tokens.csv");
    assert_eq!(rows.len(), 200);
    for r in &rows {
        let tk = TokenKey::new(&key_from_hex(&r[1]));
        let nhs = NhsNumber::parse(&r[2]).unwrap();
        let dob = Dob::parse(&r[3], &DobFormats::default(), as_of).unwrap();
        assert_eq!(tk.token_nhs_dob(&nhs, &dob).to_hex_string(), r[4]);
        assert_eq!(tk.token_nhs(&nhs).to_hex_string(), r[5]);
    }
}
