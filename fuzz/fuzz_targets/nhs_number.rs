#![no_main]
// NHS number (§4.2): a parsed number's normalised form reparses to itself.
libfuzzer_sys::fuzz_target!(|d: &[u8]| pseudonym::fuzz_hooks::nhs_number(d));
