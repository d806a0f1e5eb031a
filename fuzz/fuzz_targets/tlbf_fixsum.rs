#![no_main]
// TLBF v1 reader past the checksum (last 32 bytes replaced by the SHA-256 of the rest); accepted files round-trip.
libfuzzer_sys::fuzz_target!(|d: &[u8]| bloom::fuzz_hooks::tlbf_fixsum(d));
