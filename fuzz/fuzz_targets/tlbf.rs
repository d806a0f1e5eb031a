#![no_main]
// TLBF v1 reader (§4.5): whatever it accepts serialises back to the same bytes.
libfuzzer_sys::fuzz_target!(|d: &[u8]| bloom::fuzz_hooks::tlbf(d));
