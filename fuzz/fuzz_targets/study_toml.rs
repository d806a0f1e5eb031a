#![no_main]
// Study register entry TOML (`study add|update`, store::register_file::parse_entry).
libfuzzer_sys::fuzz_target!(|s: &str| drop(store::register_file::parse_entry(s, "fuzz.toml")));
