#![no_main]
// Study request TOML (recruitment::request): parse and validate, errors not panics.
libfuzzer_sys::fuzz_target!(|s: &str| recruitment::fuzz_hooks::request_toml(s));
