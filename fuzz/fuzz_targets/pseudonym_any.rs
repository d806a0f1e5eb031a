#![no_main]
// Every pseudonym parser (key file, scope, NHS number, DOB, date format, token hex) with round trips.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pseudonym::hooks::parse_any(data));
