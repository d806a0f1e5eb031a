#![no_main]
// Uptake feedback rows on a scratch store: errors or counted rows; every row accounted for.
libfuzzer_sys::fuzz_target!(|d: &[u8]| recruitment::fuzz_hooks::feedback_rows(d));
