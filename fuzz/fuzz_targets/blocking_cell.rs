#![no_main]
// A CLK file's `blocking` cell (`name=hex16;…`, linkage::parse_blocking): every key parsed is named.
libfuzzer_sys::fuzz_target!(|s: &str| if let Some(v) = linkage::parse_blocking(s) {
    assert!(v.iter().all(|(n, _)| !n.is_empty() || s.trim().is_empty()))
});
