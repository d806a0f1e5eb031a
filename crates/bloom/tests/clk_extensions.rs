//! Properties of CLK encoding beyond the vectors: XOR folding (word-aligned
//! and not), prevent_singularity, and trialink's hardening extensions.

use bloom::clk::{schema::Schema, to_bytes, ClkEncoder, ClkSecret};

fn schema(l: usize, folds: u32, hash: &str, extra: &str) -> Schema {
    let text = format!(
        r#"{{"version":3,{extra}"clkConfig":{{"l":{l},"xor_folds":{folds},"kdf":{{"type":"HKDF"}}}},
        "features":[
          {{"identifier":"name","format":{{"type":"string"}},"hashing":{{"comparison":{{"type":"ngram","n":2}},"strategy":{{"bitsPerToken":20}},"hash":{hash}}}}},
          {{"identifier":"dob","format":{{"type":"date","format":"%Y-%m-%d"}},"hashing":{{"comparison":{{"type":"ngram","n":1,"positional":true}},"strategy":{{"bitsPerToken":10}},"hash":{hash}}}}},
          {{"identifier":"sex","format":{{"type":"enum","values":["F","M"]}},"hashing":{{"comparison":{{"type":"exact"}},"strategy":{{"bitsPerToken":40}},"hash":{hash}}}}}
        ]}}"#
    );
    Schema::from_json(&text).unwrap()
}

fn bits(bytes: &[u8], l: usize) -> Vec<bool> {
    (0..l).map(|i| bytes[i / 8] & (0x80 >> (i % 8)) != 0).collect()
}

fn encode_bits(s: Schema, rec: &[&str]) -> Vec<bool> {
    let l = s.l;
    let e = ClkEncoder::new(s, &ClkSecret::from_bytes(b"secret")).unwrap();
    bits(&to_bytes(&e.encode(rec).unwrap(), l), l)
}

const RECS: [[&str; 3]; 4] = [
    ["Siân", "1980-02-29", "F"],
    ["O'Neil", "2001-12-31", "M"],
    ["", "1950-01-01", "F"],
    ["Jean-Luc Ó Súilleabháin", "1999-09-09", "M"],
];

#[test]
fn folding_equals_xor_of_halves_aligned_and_not() {
    for (l, hash) in [
        (512usize, r#"{"type":"blakeHash"}"#),
        (1000, r#"{"type":"doubleHash"}"#),
        (600, r#"{"type":"doubleHash","prevent_singularity":true}"#),
    ] {
        for rec in RECS {
            let wide = encode_bits(schema(2 * l, 0, hash, ""), &rec);
            let folded = encode_bits(schema(l, 1, hash, ""), &rec);
            let manual: Vec<bool> = (0..l).map(|i| wide[i] ^ wide[i + l]).collect();
            assert_eq!(folded, manual, "l={l} {hash}");
        }
    }
}

#[test]
fn prevent_singularity_spreads_bits_where_plain_double_hash_may_not() {
    // With L' = 2 half of all tokens have b = 0: without prevention such a token
    // sets one bit whatever k is; with it, b is re-drawn until non-zero.
    let plain = encode_bits(
        schema(2, 0, r#"{"type":"doubleHash"}"#, ""),
        &["Ann", "1980-01-01", "F"],
    );
    let fixed = encode_bits(
        schema(2, 0, r#"{"type":"doubleHash","prevent_singularity":true}"#, ""),
        &["Ann", "1980-01-01", "F"],
    );
    assert_eq!(fixed, vec![true, true]);
    assert!(plain.iter().any(|b| *b));
    // L' = 1 would loop for ever: refused by the schema.
    let bad = r#"{"version":3,"clkConfig":{"l":1,"kdf":{"type":"HKDF"}},"features":[{"identifier":"a","format":{"type":"string"},"hashing":{"comparison":{"type":"exact"},"strategy":{"bitsPerToken":2},"hash":{"type":"doubleHash","prevent_singularity":true}}}]}"#;
    assert!(Schema::from_json(bad)
        .unwrap_err()
        .to_string()
        .contains("$.features[0].hashing.hash"));
}

#[test]
fn record_salt_separates_strata_and_is_recorded() {
    let ext = r#""trialink":{"recordSalt":{"identifier":"dob","transform":"year"}},"#;
    let s = schema(1024, 0, r#"{"type":"blakeHash"}"#, ext);
    assert!(s.hardening.changes_clk());
    assert_eq!(s.describe()["clkhash_compatible"], false);
    let plain = encode_bits(
        schema(1024, 0, r#"{"type":"blakeHash"}"#, ""),
        &["Ann", "1980-01-01", "F"],
    );
    let a = encode_bits(s.clone(), &["Ann", "1980-01-01", "F"]);
    let b = encode_bits(s.clone(), &["Ann", "1980-01-01", "F"]);
    let c = encode_bits(s, &["Ann", "1981-01-01", "F"]);
    assert_eq!(a, b);
    assert_ne!(a, plain);
    // Same name and sex, different year of birth: only chance overlap once salted.
    let plain_c = encode_bits(
        schema(1024, 0, r#"{"type":"blakeHash"}"#, ""),
        &["Ann", "1981-01-01", "F"],
    );
    let common = |x: &[bool], y: &[bool]| x.iter().zip(y).filter(|(p, q)| **p && **q).count();
    assert!(
        common(&a, &c) * 3 < common(&plain, &plain_c),
        "{} vs {}",
        common(&a, &c),
        common(&plain, &plain_c)
    );
}

#[test]
fn randomised_response_is_deterministic_and_flips_at_the_stated_rate() {
    let eps = 2.0f64;
    let ext = format!(r#""trialink":{{"randomisedResponse":{{"epsilon":{eps}}}}},"#);
    let s = schema(1024, 0, r#"{"type":"blakeHash"}"#, &ext);
    let plain = ClkEncoder::new(
        schema(1024, 0, r#"{"type":"blakeHash"}"#, ""),
        &ClkSecret::from_bytes(b"k"),
    )
    .unwrap();
    let noisy = ClkEncoder::new(s, &ClkSecret::from_bytes(b"k")).unwrap();
    let mut flipped = 0u64;
    let n = 400;
    for i in 0..n {
        let name = format!("Person{i}");
        let dob = format!("19{:02}-0{}-1{}", 20 + i % 80, 1 + i % 9, i % 9);
        let rec = [name.as_str(), dob.as_str(), "F"];
        let a = noisy.encode(&rec).unwrap();
        assert_eq!(a, noisy.encode(&rec).unwrap(), "deterministic per record");
        let p = plain.encode(&rec).unwrap();
        flipped += a
            .iter()
            .zip(&p)
            .map(|(x, y)| (x ^ y).count_ones() as u64)
            .sum::<u64>();
    }
    let rate = flipped as f64 / (n as f64 * 1024.0);
    let want = 1.0 / (1.0 + eps.exp());
    assert!((rate - want).abs() < 0.01, "flip rate {rate}, expected {want}");
}

#[test]
fn blocking_keys_are_keyed_and_skip_empty_parts() {
    let ext = r#""trialink":{"blocking":[{"name":"dob","parts":[{"identifier":"dob"}]},{"name":"nm","parts":[{"identifier":"name","transform":"soundex"},{"identifier":"dob","transform":"year"}]}]},"#;
    let s = schema(1024, 0, r#"{"type":"blakeHash"}"#, ext);
    let e1 = ClkEncoder::new(s.clone(), &ClkSecret::from_bytes(b"one")).unwrap();
    let e2 = ClkEncoder::new(s, &ClkSecret::from_bytes(b"two")).unwrap();
    let k1 = e1.blocking_keys(&["Robert", "1980-02-29", "F"]).unwrap();
    let k1b = e1.blocking_keys(&["Rupert", "1980-02-29", "M"]).unwrap();
    let k2 = e2.blocking_keys(&["Robert", "1980-02-29", "F"]).unwrap();
    assert_eq!(k1.len(), "dob=".len() + 16 + ";nm=".len() + 16, "{k1}");
    assert_eq!(k1, k1b, "same soundex and year block together");
    assert_ne!(k1, k2, "keys depend on the secret");
    let k3 = e1.blocking_keys(&["", "1980-02-29", "F"]).unwrap();
    assert!(k3.starts_with("dob=") && !k3.contains("nm="), "{k3}");
}

#[test]
fn a_value_not_matching_the_pattern_is_refused_without_echoing_it() {
    use bloom::clk::ValueProblem;
    let s = Schema::from_json(
        r#"{"version":3,"clkConfig":{"l":256,"kdf":{"type":"HKDF"}},"features":[
          {"identifier":"postcode","format":{"type":"string","pattern":"[A-Z]{1,2}[0-9][0-9A-Z]? [0-9][A-Z]{2}"},
           "hashing":{"comparison":{"type":"ngram","n":2},"strategy":{"bitsPerToken":10},
                      "missingValue":{"sentinel":"","replaceWith":""}}}]}"#,
    )
    .unwrap();
    let e = ClkEncoder::new(s, &ClkSecret::from_bytes(b"secret")).unwrap();
    assert!(e.encode(&["LS1 4AP"]).is_ok());
    // The missing-value sentinel is checked before the pattern, as clkhash does.
    assert!(e.encode(&[""]).is_ok());
    for bad in ["ls1 4ap", "LS1 4AP ", "LS14AP", "LS1 4APX"] {
        let err = e.encode(&[bad]).unwrap_err();
        assert_eq!(err.problem, ValueProblem::PatternMismatch);
        assert_eq!(err.problem.code(), "pattern_mismatch");
        assert_eq!(err.feature, "postcode");
        assert!(!err.to_string().contains(bad.trim()), "{err}");
    }
}

/// Issue 20 match keys: an order-free (`sorted`) pass agrees when two parts
/// swap values; `year_month` ignores the day; `day_month_set` agrees when
/// day and month are swapped. A pass without `sorted` keeps its old key.
#[test]
fn match_keys_sorted_passes_and_date_variants() {
    let with = |passes: &str| {
        let text = format!(
            r#"{{"version":3,"trialink":{{"blocking":[{passes}]}},"clkConfig":{{"l":256,"kdf":{{"type":"HKDF"}}}},
            "features":[
              {{"identifier":"given","format":{{"type":"string"}},"hashing":{{"comparison":{{"type":"ngram","n":2}},"strategy":{{"bitsPerToken":20}}}}}},
              {{"identifier":"dob","format":{{"type":"date","format":"%Y-%m-%d"}},"hashing":{{"comparison":{{"type":"ngram","n":1,"positional":true}},"strategy":{{"bitsPerToken":10}}}}}},
              {{"identifier":"family","format":{{"type":"string"}},"hashing":{{"comparison":{{"type":"ngram","n":2}},"strategy":{{"bitsPerToken":20}}}}}}
            ]}}"#
        );
        ClkEncoder::new(Schema::from_json(&text).unwrap(), &ClkSecret::from_bytes(b"one")).unwrap()
    };
    let e = with(
        r#"{"name":"mk_nm","sorted":true,"parts":[{"identifier":"given","transform":"upper"},{"identifier":"family","transform":"upper"}]},
        {"name":"ym","parts":[{"identifier":"dob","transform":"year_month"}]},
        {"name":"dms","parts":[{"identifier":"dob","transform":"year"},{"identifier":"dob","transform":"day_month_set"}]},
        {"name":"dob","parts":[{"identifier":"dob"}]}"#,
    );
    let item = |cell: &str, name: &str| -> String {
        cell.split(';')
            .find(|x| x.starts_with(&format!("{name}=")))
            .unwrap()
            .to_string()
    };
    let a = e.blocking_keys(&["Smith", "1980-03-07", "Jones"]).unwrap();
    let swapped = e.blocking_keys(&["Jones", "1980-07-03", "Smith"]).unwrap();
    let day_out = e.blocking_keys(&["Smith", "1980-03-08", "Jones"]).unwrap();
    assert_eq!(item(&a, "mk_nm"), item(&swapped, "mk_nm"));
    assert_eq!(item(&a, "dms"), item(&swapped, "dms"));
    assert_ne!(item(&a, "ym"), item(&swapped, "ym"));
    assert_eq!(item(&a, "ym"), item(&day_out, "ym"));
    assert_ne!(item(&a, "dob"), item(&day_out, "dob"));
    // Without `sorted`, order matters.
    let e2 = with(
        r#"{"name":"mk_nm","parts":[{"identifier":"given","transform":"upper"},{"identifier":"family","transform":"upper"}]}"#,
    );
    assert_ne!(
        e2.blocking_keys(&["Smith", "1980-03-07", "Jones"]).unwrap(),
        e2.blocking_keys(&["Jones", "1980-03-07", "Smith"]).unwrap()
    );
}

/// Field filters (`"filter": group`): one `name=hex16` item per pass; the
/// same value gives the same filter in every pass of a group (so given and
/// family names compare crosswise) and a different one in another group; a
/// close value shares most bits; the CLK bits do not change.
#[test]
fn field_filters_share_positions_within_a_group() {
    let passes = r#""trialink":{"blocking":[
        {"name":"fb_a","filter":"g","parts":[{"identifier":"name","transform":"upper"}]},
        {"name":"fb_b","filter":"g","parts":[{"identifier":"name","transform":"upper"}]},
        {"name":"fb_c","filter":"h","parts":[{"identifier":"name","transform":"upper"}]},
        {"name":"fk_dob_3_even","parts":[{"identifier":"dob","transform":"day_pair_even"}]}]},"#;
    let with = schema(512, 0, r#"{"type":"blakeHash"}"#, passes);
    let without = schema(512, 0, r#"{"type":"blakeHash"}"#, "");
    let e = ClkEncoder::new(with.clone(), &ClkSecret::from_bytes(b"secret")).unwrap();
    let items = |rec: &[&str]| -> Vec<(String, u64)> {
        e.blocking_keys(rec)
            .unwrap()
            .split(';')
            .map(|it| {
                let (n, h) = it.split_once('=').unwrap();
                assert_eq!(h.len(), 16);
                (n.to_string(), u64::from_str_radix(h, 16).unwrap())
            })
            .collect()
    };
    let a = items(&["Margaret", "1948-11-27", "F"]);
    assert_eq!(
        a.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["fb_a", "fb_b", "fb_c", "fk_dob_3_even"]
    );
    assert_eq!(a[0].1, a[1].1);
    assert_ne!(a[0].1, a[2].1);
    let b = items(&["Margares", "1948-11-27", "F"]);
    let dice =
        2.0 * (a[0].1 & b[0].1).count_ones() as f64 / (a[0].1.count_ones() + b[0].1.count_ones()) as f64;
    assert!(dice > 0.6 && dice < 1.0, "{dice}");
    // An empty name: no filter item.
    assert!(items(&["", "1948-11-27", "F"])
        .iter()
        .all(|x| !x.0.starts_with("fb_")));
    for rec in RECS {
        assert_eq!(
            encode_bits(with.clone(), &rec),
            encode_bits(without.clone(), &rec)
        );
    }
    // A filter pass takes exactly one part.
    let two = r#""trialink":{"blocking":[{"name":"fb_x","filter":"g","parts":[{"identifier":"name"},{"identifier":"sex"}]}]},"#;
    let text = format!(
        r#"{{"version":3,{two}"clkConfig":{{"l":64,"kdf":{{"type":"HKDF"}}}},"features":[{{"identifier":"name","format":{{"type":"string"}},"hashing":{{"comparison":{{"type":"ngram","n":2}},"strategy":{{"bitsPerToken":2}}}}}},{{"identifier":"sex","format":{{"type":"string"}},"hashing":{{"comparison":{{"type":"ngram","n":2}},"strategy":{{"bitsPerToken":2}}}}}}]}}"#
    );
    let err = Schema::from_json(&text).unwrap_err().to_string();
    assert!(err.contains("$.trialink.blocking[0].filter"), "{err}");
}
