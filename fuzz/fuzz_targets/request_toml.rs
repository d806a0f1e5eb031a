#![no_main]
// Study request TOML (recruitment::request): parse and validate, errors not panics.
libfuzzer_sys::fuzz_target!(|s: &str| drop(recruitment::request::parse(
    "fuzz.toml",
    s,
    pseudonym::Date::new(2026, 11, 21).unwrap()
)));
