#![no_main]
// A published release (`audit --report`, tables.json) through the audit's linear program.
libfuzzer_sys::fuzz_target!(|d: &[u8]| reports::fuzz_hooks::release_json(d));
