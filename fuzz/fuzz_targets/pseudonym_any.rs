#![no_main]
// Every pseudonym parser (key file, scope, NHS number, DOB, date format, token hex) with round trips.
libfuzzer_sys::fuzz_target!(|d: &[u8]| pseudonym::fuzz_hooks::pseudonym_any(d));
