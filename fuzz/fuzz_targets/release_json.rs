#![no_main]
// A published release (`audit --report`, disclosure::Release, tables.json) through the audit's linear program.
libfuzzer_sys::fuzz_target!(
    |d: &[u8]| if let Ok(r) = serde_json::from_slice::<disclosure::Release>(d) {
        let _ = disclosure::audit(&[r], &disclosure::Policy::default_policy());
    }
);
