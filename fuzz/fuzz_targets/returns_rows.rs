#![no_main]
// Return-to-sender rows on a scratch store: errors or counted rows; every row accounted for.
libfuzzer_sys::fuzz_target!(|d: &[u8]| recruitment::fuzz_hooks::returns_rows(d));
