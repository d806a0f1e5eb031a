//! The token cache (hash material, token bitmaps, value bitmaps, adaptive
//! value mode, evictions) never changes a CLK: cached encoding equals
//! uncached encoding, record for record, for every hash type, folding,
//! strategy and extension, with caches small enough to evict constantly.

use bloom::clk::{push_base64, schema::Schema, to_base64, ClkEncoder, ClkSecret, Scratch};
use proptest::prelude::*;

fn vectors(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../fixtures/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A schema over (name, dob, sex, postcode) with the given hashing pieces.
fn schema(l: usize, folds: u32, hash: &str, name_strategy: &str, extra: &str) -> Schema {
    let text = format!(
        r#"{{"version":3,{extra}"clkConfig":{{"l":{l},"xor_folds":{folds},"kdf":{{"type":"HKDF"}}}},
        "features":[
          {{"identifier":"name","format":{{"type":"string"}},"hashing":{{"comparison":{{"type":"ngram","n":2}},"strategy":{name_strategy},"hash":{hash}}}}},
          {{"identifier":"dob","format":{{"type":"date","format":"%Y-%m-%d"}},"hashing":{{"comparison":{{"type":"ngram","n":1,"positional":true}},"strategy":{{"bitsPerToken":30}},"hash":{hash}}}}},
          {{"identifier":"sex","format":{{"type":"enum","values":["F","M","U"]}},"hashing":{{"comparison":{{"type":"exact"}},"strategy":{{"bitsPerToken":40}},"hash":{hash}}}}},
          {{"identifier":"postcode","format":{{"type":"string"}},"hashing":{{"comparison":{{"type":"ngram","n":2}},"strategy":{{"bitsPerFeature":100}},"hash":{hash},"missingValue":{{"sentinel":"","replaceWith":""}}}}}}
        ]}}"#
    );
    Schema::from_json(&text).unwrap()
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Records mixing very common values (cache hits) with unique ones (misses,
/// and value mode switching off), long values (not cacheable) and non-ASCII.
fn records(n: usize, seed: u64) -> Vec<[String; 4]> {
    const NAMES: [&str; 6] = ["Ann", "Siân", "O'Neil", "Łukasz", "Mary Ann", "Jo"];
    let mut x = seed | 1;
    (0..n)
        .map(|i| {
            let r = xorshift(&mut x);
            let name = match r % 4 {
                0 => format!("N{i}x{}", r % 1000),
                1 => "Jean-Luc Ó Súilleabháin-Fitzgerald".to_string(),
                _ => NAMES[(r >> 8) as usize % NAMES.len()].to_string(),
            };
            let dob = format!(
                "{}-{:02}-{:02}",
                1920 + (r >> 16) % 90,
                1 + (r >> 24) % 12,
                1 + (r >> 32) % 28
            );
            let sex = ["F", "M", "U"][(r >> 40) as usize % 3].to_string();
            let postcode = match (r >> 44) % 3 {
                0 => String::new(),
                1 => "LS1 4AP".to_string(),
                _ => format!("B{} {}XY", (r >> 48) % 99, (r >> 56) % 9),
            };
            [name, dob, sex, postcode]
        })
        .collect()
}

fn assert_cached_equals_uncached(enc: &ClkEncoder, recs: &[[String; 4]], caps: &[usize]) {
    let l = enc.l();
    let expected: Vec<String> = recs
        .iter()
        .map(|r| {
            let v: Vec<&str> = r.iter().map(String::as_str).collect();
            to_base64(&enc.encode(&v).unwrap(), l)
        })
        .collect();
    for &cap in caps {
        let mut s = Scratch::with_cache(cap);
        // Twice over, so the second pass runs on a warm (and evicting) cache.
        for pass in 0..2 {
            for (r, exp) in recs.iter().zip(&expected) {
                let v: Vec<&str> = r.iter().map(String::as_str).collect();
                enc.encode_into(&v, &mut s, false).unwrap();
                let mut got = Vec::new();
                push_base64(s.clk(), l, &mut got);
                assert_eq!(
                    std::str::from_utf8(&got).unwrap(),
                    exp,
                    "cache {cap}, pass {pass}, record {r:?}"
                );
            }
        }
    }
}

#[test]
fn cached_encoding_equals_uncached_for_every_shape() {
    // Enough records to cross the value-mode check (4096 lookups) for the
    // name feature, whose values are mostly unique.
    let recs = records(9000, 7);
    let blake = r#"{"type":"blakeHash"}"#;
    let double = r#"{"type":"doubleHash","prevent_singularity":true}"#;
    for (l, folds, hash, strat, extra) in [
        (1024, 0, blake, r#"{"bitsPerFeature":200}"#, ""),
        (1024, 0, double, r#"{"bitsPerToken":20}"#, ""),
        (512, 1, blake, r#"{"bitsPerToken":40}"#, ""),
        (1000, 0, double, r#"{"bitsPerFeature":150}"#, ""),
        // Larger than bitmaps are kept for: hash material only.
        (4096, 1, blake, r#"{"bitsPerFeature":200}"#, ""),
        // Record-level salt: tokens carry a prefix, bitmaps are off.
        (
            1024,
            0,
            blake,
            r#"{"bitsPerFeature":200}"#,
            r#""trialink":{"recordSalt":{"identifier":"dob","transform":"year"}},"#,
        ),
        // Randomised response on top.
        (
            1024,
            0,
            blake,
            r#"{"bitsPerToken":20}"#,
            r#""trialink":{"randomisedResponse":{"epsilon":4}},"#,
        ),
    ] {
        let enc =
            ClkEncoder::new(schema(l, folds, hash, strat, extra), &ClkSecret::from_bytes(b"s")).unwrap();
        assert_cached_equals_uncached(&enc, &recs[..3000], &[2, 64]);
        assert_cached_equals_uncached(&enc, &recs, &[1 << 13]);
    }
}

#[test]
fn one_scratch_serves_two_encoders_without_mixing_them() {
    let recs = records(500, 11);
    let a = ClkEncoder::new(
        schema(
            1024,
            0,
            r#"{"type":"blakeHash"}"#,
            r#"{"bitsPerFeature":200}"#,
            "",
        ),
        &ClkSecret::from_bytes(b"a"),
    )
    .unwrap();
    let b = ClkEncoder::new(
        schema(
            1024,
            0,
            r#"{"type":"blakeHash"}"#,
            r#"{"bitsPerFeature":200}"#,
            "",
        ),
        &ClkSecret::from_bytes(b"b"),
    )
    .unwrap();
    let mut s = Scratch::default();
    for r in &recs {
        let v: Vec<&str> = r.iter().map(String::as_str).collect();
        assert_eq!(a.encode_with(&v, &mut s).unwrap(), a.encode(&v).unwrap());
        assert_eq!(b.encode_with(&v, &mut s).unwrap(), b.encode(&v).unwrap());
    }
}

#[test]
fn vector_records_encode_identically_with_and_without_cache() {
    let cases: serde_json::Value = serde_json::from_str(&vectors("clk_cases.json")).unwrap();
    let text = vectors("clk_records.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').collect())
        .collect();
    for case in cases.as_array().unwrap() {
        let schema = Schema::from_json(&vectors(case["schema"].as_str().unwrap())).unwrap();
        let enc = ClkEncoder::new(
            schema,
            &ClkSecret::from_bytes(case["secret"].as_str().unwrap().as_bytes()),
        )
        .unwrap();
        let cols: Vec<usize> = enc
            .schema()
            .features
            .iter()
            .map(|f| header.iter().position(|h| *h == f.identifier).unwrap())
            .collect();
        for cap in [2, 1 << 13] {
            let mut s = Scratch::with_cache(cap);
            for _ in 0..3 {
                for row in &rows {
                    let v: Vec<&str> = cols.iter().map(|&c| row[c]).collect();
                    assert_eq!(enc.encode_with(&v, &mut s).unwrap(), enc.encode(&v).unwrap());
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn cache_never_changes_a_clk(
        names in proptest::collection::vec("[a-cé' ]{0,5}|[A-Za-z]{20,30}", 1..40),
        cap in prop_oneof![Just(0usize), Just(2), Just(8), Just(1024)],
        bits_per_feature in any::<bool>(),
    ) {
        let strat = if bits_per_feature { r#"{"bitsPerFeature":120}"# } else { r#"{"bitsPerToken":15}"# };
        let enc = ClkEncoder::new(schema(256, 1, r#"{"type":"blakeHash"}"#, strat, ""), &ClkSecret::from_bytes(b"p")).unwrap();
        let mut s = Scratch::with_cache(cap);
        for (i, n) in names.iter().enumerate() {
            let dob = format!("19{:02}-01-0{}", i % 100, 1 + i % 9);
            let v = [n.as_str(), dob.as_str(), "F", n.as_str()];
            prop_assert_eq!(enc.encode_with(&v, &mut s).unwrap(), enc.encode(&v).unwrap());
        }
    }
}
