#![no_main]
// Key file (DESIGN §4.1): any text is parsed or refused by line number, never a panic.
libfuzzer_sys::fuzz_target!(|s: &str| pseudonym::fuzz_hooks::keyfile(s));
