#![no_main]
// CSV input with column lookup and record positions (tabular::Source).
libfuzzer_sys::fuzz_target!(|data: &[u8]| tabular::hooks::read_any(data));
