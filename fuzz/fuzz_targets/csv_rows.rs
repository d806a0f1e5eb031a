#![no_main]
// CSV input with column lookup and record positions (tabular::Source).
libfuzzer_sys::fuzz_target!(|d: &[u8]| tabular::fuzz_hooks::csv_rows(d));
