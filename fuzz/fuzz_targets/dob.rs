#![no_main]
// Date of birth (§4.2), default formats: the ISO form reparses to itself and lies in 1900-01-01 ..= as-of.
libfuzzer_sys::fuzz_target!(|d: &[u8]| pseudonym::fuzz_hooks::dob(d));
