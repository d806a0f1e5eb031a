#![no_main]
// The CSV record reader with its limits (quote state, CR/LF mixes, read sizes).
libfuzzer_sys::fuzz_target!(|d: &[u8]| tabular::fuzz_hooks::csv_limits(d));
