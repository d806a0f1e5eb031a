//! The schema and value caps (issue 15) change nothing for schemas and
//! values within them: CLKs for pseudo-random records, under schemas at or
//! near every cap, are byte-identical to the encoder's output before the caps
//! were added. The expected digests were computed with the encoder on `main`
//! before the change (run with `CLK_CAPS_PRINT=1` to print them).

use bloom::clk::{schema::Schema, to_base64, ClkEncoder, ClkSecret};
use sha2::{Digest, Sha256};

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// `features` string features; the first hashed with `strategy`, n-grams of `n`.
fn schema(l: usize, folds: u32, hash: &str, n: usize, strategy: &str, features: usize) -> Schema {
    let mut f = Vec::new();
    for i in 0..features {
        let (nn, st) = if i == 0 {
            (n, strategy.to_string())
        } else {
            (2, r#"{"bitsPerToken":20}"#.to_string())
        };
        f.push(format!(
            r#"{{"identifier":"f{i}","format":{{"type":"string"}},"hashing":{{"comparison":{{"type":"ngram","n":{nn},"positional":{}}},"strategy":{st},"hash":{hash}}}}}"#,
            i % 3 == 1
        ));
    }
    let text = format!(
        r#"{{"version":3,"clkConfig":{{"l":{l},"xor_folds":{folds},"kdf":{{"type":"HKDF","keySize":32}}}},"features":[{}]}}"#,
        f.join(",")
    );
    Schema::from_json(&text).unwrap()
}

/// Records of `width` values: mostly short names, some up to exactly 1024
/// bytes (the value cap), some non-ASCII.
fn records(n: usize, width: usize, seed: u64) -> Vec<Vec<String>> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            (0..width)
                .map(|_| {
                    let r = xorshift(&mut x);
                    let len = match r % 8 {
                        0 => 1024,
                        1 => (r >> 8) as usize % 1025,
                        2 => 0,
                        _ => 1 + (r >> 8) as usize % 24,
                    };
                    let mut s = String::new();
                    let mut y = r;
                    while s.len() < len {
                        let c = if (y >> 3).is_multiple_of(17) && s.len() + 2 <= len {
                            'é'
                        } else {
                            (b'a' + (y % 26) as u8) as char
                        };
                        s.push(c);
                        y = xorshift(&mut y.clone()) ^ y.rotate_left(7);
                    }
                    s
                })
                .collect()
        })
        .collect()
}

fn digest(enc: &ClkEncoder, recs: &[Vec<String>]) -> String {
    let mut h = Sha256::new();
    for r in recs {
        let v: Vec<&str> = r.iter().map(String::as_str).collect();
        h.update(to_base64(&enc.encode(&v).unwrap(), enc.l()));
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// (label, l, folds, hash, n, strategy, features, records, expected digest)
type Case<'a> = (
    &'a str,
    usize,
    u32,
    &'a str,
    usize,
    &'a str,
    usize,
    usize,
    &'a str,
);

#[test]
fn clks_within_the_caps_are_unchanged() {
    let blake = r#"{"type":"blakeHash"}"#;
    let double = r#"{"type":"doubleHash","prevent_singularity":true}"#;
    let cases: &[Case] = &[
        (
            "bitsPerToken at cap",
            1024,
            0,
            blake,
            2,
            r#"{"bitsPerToken":1024}"#,
            2,
            40,
            "54b56e7419096f392f37ad570e9052fe794f2a4b5753a75d66b358c2603559dc",
        ),
        (
            "l at cap",
            8192,
            0,
            blake,
            2,
            r#"{"bitsPerToken":30}"#,
            3,
            60,
            "d8300529bb007c379da8c7ba650d5e28bd013c132c4332829cac74bf33b3928f",
        ),
        (
            "pre-fold length at cap",
            8192,
            3,
            blake,
            3,
            r#"{"bitsPerFeature":8192}"#,
            2,
            40,
            "93cd20410b63ae3096c33757fd521ed928ba8d29314194c6c05aec12891c69f3",
        ),
        (
            "double hash, n at cap",
            1000,
            0,
            double,
            64,
            r#"{"bitsPerToken":64}"#,
            2,
            40,
            "32d27a322c82b1dfdd0d99a2c3acff91d237af46f9e9977cea8df4c75a392991",
        ),
        (
            "64 features",
            2048,
            1,
            double,
            2,
            r#"{"bitsPerFeature":300}"#,
            64,
            20,
            "b4ec6e8d1bcfa0eaceb03fe64734ae293aabb2e2eca52b8dafde417afdcc90c7",
        ),
    ];
    let print = std::env::var_os("CLK_CAPS_PRINT").is_some();
    let mut wrong = Vec::new();
    for (i, (label, l, folds, hash, n, strat, features, nrec, expected)) in cases.iter().enumerate() {
        let enc = ClkEncoder::new(
            schema(*l, *folds, hash, *n, strat, *features),
            &ClkSecret::from_bytes(b"caps-secret"),
        )
        .unwrap();
        let recs = records(*nrec, *features, 1000 + i as u64);
        let got = digest(&enc, &recs);
        if print {
            println!("{label}: {got}");
        } else if got != *expected {
            wrong.push(format!("{label}: got {got}"));
        }
    }
    assert!(wrong.is_empty(), "CLKs changed: {wrong:#?}");
}
