//! Known-answer tests for TLBF v1 against the independent vectors in
//! `fixtures/vectors/` (DESIGN §4.5).

use bloom::tlbf::{fingerprint_bytes, Tlbf, TlbfError};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/vectors")
}

fn read(name: &str) -> Vec<u8> {
    let local = vectors().join(name);
    // keys.json is shared with the pseudonym crate's tests; fall back to the
    // shared vector directory if the project copy is not there yet.
    let path = if local.exists() {
        local
    } else {
        PathBuf::from("/work/shared/vectors").join(name)
    };
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&read(name)).unwrap()
}

fn service_store_key() -> Vec<u8> {
    let keys = json("keys.json");
    let d = keys["derived"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["scope"] == "service:store")
        .unwrap();
    hex::decode(d["key_hex"].as_str().unwrap()).unwrap()
}

fn token(key: &[u8], nhs: &str, dob: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(b"trialink-token-v1\0nhs_dob\0");
    mac.update(nhs.as_bytes());
    mac.update(b"\0");
    mac.update(dob.as_bytes());
    mac.finalize().into_bytes().into()
}

fn members() -> Vec<[u8; 32]> {
    let key = service_store_key();
    let text = String::from_utf8(read("tlbf_members.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("nhs_number,date_of_birth"));
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (nhs, dob) = l.split_once(',').unwrap();
            token(&key, nhs, dob)
        })
        .collect()
}

#[test]
fn built_filter_is_byte_identical_to_vector() {
    let meta = json("tlbf.json");
    let tokens = members();
    assert_eq!(tokens.len() as u64, meta["n"].as_u64().unwrap());
    let fp = fingerprint_bytes(meta["fingerprint"].as_str().unwrap()).unwrap();
    let f = Tlbf::build(tokens.iter(), meta["fpr"].as_f64().unwrap(), fp).unwrap();
    assert_eq!(f.m(), meta["m"].as_u64().unwrap());
    assert_eq!(f.k() as u64, meta["k"].as_u64().unwrap());
    let bytes = f.to_bytes();
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        meta["sha256_of_file"].as_str().unwrap()
    );
    assert_eq!(bytes, read("noncontact.tlbf"));
}

#[test]
fn vector_file_answers_probe_as_stated() {
    let f = Tlbf::from_bytes(&read("noncontact.tlbf")).unwrap();
    assert_eq!(
        f.fingerprint_hex(),
        json("tlbf.json")["fingerprint"].as_str().unwrap()
    );
    let text = String::from_utf8(read("tlbf_probe.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("token,truth,filter_says"));
    let (mut rows, mut fps) = (0, 0);
    for line in lines.filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = line.split(',').collect();
        let t: [u8; 32] = hex::decode(cols[0]).unwrap().try_into().unwrap();
        let says = cols[2] == "1";
        assert_eq!(f.contains(&t), says, "probe row {}", rows + 2);
        if cols[1] == "member" {
            assert!(says);
        } else if says {
            fps += 1;
        }
        rows += 1;
    }
    assert!(rows > 200);
    eprintln!("{rows} probe rows answered; {fps} false positives as the vector states");
}

#[test]
fn corrupted_vector_is_refused() {
    let good = read("noncontact.tlbf");
    let mut flipped = good.clone();
    flipped[100] ^= 0x10;
    assert_eq!(Tlbf::from_bytes(&flipped), Err(TlbfError::ChecksumMismatch));
    assert!(matches!(
        Tlbf::from_bytes(&good[..good.len() - 8]),
        Err(TlbfError::LengthMismatch { .. })
    ));
    assert!(matches!(
        Tlbf::from_bytes(&good[..20]),
        Err(TlbfError::Truncated { .. })
    ));
}
