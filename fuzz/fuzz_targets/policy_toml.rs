#![no_main]
// Disclosure-control policy TOML (disclosure::Policy): parse and validate, errors not panics.
libfuzzer_sys::fuzz_target!(|s: &str| disclosure::fuzz_hooks::policy_toml(s));
