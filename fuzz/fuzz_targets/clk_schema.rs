#![no_main]
// Linkage schema v3 JSON (§4.6) and the encoder built from it, run on one record of short values.
libfuzzer_sys::fuzz_target!(
    |s: &str| if let Ok(sc) = bloom::clk::schema::Schema::from_json(s) {
        if let Ok(e) = bloom::clk::ClkEncoder::new(sc, &bloom::clk::ClkSecret::from_bytes(b"fuzz")) {
            let r = vec!["ab"; e.schema().features.len()];
            let _ = e.encode(&r);
            let _ = e.blocking_keys(&r);
        }
    }
);
