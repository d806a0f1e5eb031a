#![no_main]
// Linkage schema v3 JSON (§4.6) and the encoder built from it, run on one record of short values.
libfuzzer_sys::fuzz_target!(|s: &str| bloom::fuzz_hooks::clk_schema(s));
