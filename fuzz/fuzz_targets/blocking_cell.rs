#![no_main]
// A CLK file's `blocking` cell (`name=hex16;…`, linkage::parse_blocking): every key parsed is named.
libfuzzer_sys::fuzz_target!(|s: &str| linkage::fuzz_hooks::blocking_cell(s));
