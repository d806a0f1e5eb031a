#![no_main]
// Study register entry TOML (`study add|update`, store::register_file::parse_entry).
libfuzzer_sys::fuzz_target!(|s: &str| store::fuzz_hooks::study_toml(s));
