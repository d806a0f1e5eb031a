//! Known-answer tests: every record of `clk_records.csv` must encode to
//! exactly the CLK clkhash 0.18.3 produced (`clk_double.csv`, `clk_blake.csv`).

use bloom::clk::{from_base64, schema::Schema, to_base64, ClkEncoder, ClkSecret};
use std::path::PathBuf;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/vectors")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(vectors().join(name)).unwrap()
}

fn rows(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let text = read(name);
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(str::to_string).collect();
    let rows = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn run_case(case: &serde_json::Value) -> usize {
    let schema = Schema::from_json(&read(case["schema"].as_str().unwrap())).unwrap();
    let secret = ClkSecret::from_bytes(case["secret"].as_str().unwrap().as_bytes());
    let enc = ClkEncoder::new(schema, &secret).unwrap();
    let (header, records) = rows(case["records"].as_str().unwrap());
    let (_, expected) = rows(case["expected"].as_str().unwrap());
    assert_eq!(records.len(), expected.len());
    let cols: Vec<usize> = enc
        .schema()
        .features
        .iter()
        .map(|f| header.iter().position(|h| *h == f.identifier).unwrap())
        .collect();
    let mut failures = Vec::new();
    for (rec, exp) in records.iter().zip(&expected) {
        assert_eq!(rec[0], exp[0]);
        let values: Vec<&str> = cols.iter().map(|&c| rec[c].as_str()).collect();
        let clk = enc.encode(&values).unwrap();
        let got = to_base64(&clk, enc.l());
        if got != exp[1] {
            failures.push(rec[0].clone());
        }
        // And the decoder inverts the encoder.
        assert_eq!(
            from_base64(&exp[1], Some(enc.l() / 8)).unwrap().len(),
            enc.l() / 64
        );
    }
    assert!(
        failures.is_empty(),
        "case {}: {} of {} records differ: {:?}",
        case["case"],
        failures.len(),
        records.len(),
        failures
    );
    records.len()
}

#[test]
fn every_vector_clk_is_reproduced() {
    let cases: serde_json::Value = serde_json::from_str(&read("clk_cases.json")).unwrap();
    let mut n = 0;
    for case in cases.as_array().unwrap() {
        n += run_case(case);
    }
    assert_eq!(n, 120);
}

#[test]
fn batch_encoding_matches_single() {
    let cases: serde_json::Value = serde_json::from_str(&read("clk_cases.json")).unwrap();
    let case = &cases[1];
    let schema = Schema::from_json(&read(case["schema"].as_str().unwrap())).unwrap();
    let enc = ClkEncoder::new(schema, &ClkSecret::from_bytes(b"s")).unwrap();
    let (_, records) = rows("clk_records.csv");
    let recs: Vec<Vec<&str>> = records
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    let many = enc.encode_many(&recs);
    for (r, m) in recs.iter().zip(many) {
        assert_eq!(enc.encode(r).unwrap(), m.unwrap());
    }
}
