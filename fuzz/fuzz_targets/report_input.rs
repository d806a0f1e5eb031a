#![no_main]
// Report figures JSON (`report --input`) through table building, protection and audit.
libfuzzer_sys::fuzz_target!(|d: &[u8]| reports::fuzz_hooks::report_input(d));
