#![no_main]
// Disclosure-control policy TOML (disclosure::Policy): parse and validate, errors not panics.
libfuzzer_sys::fuzz_target!(|s: &str| drop(disclosure::Policy::from_toml_str(s, "fuzz.toml")));
