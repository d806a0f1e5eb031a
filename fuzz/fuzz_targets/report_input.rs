#![no_main]
// Report figures JSON (`report --input`, reports::ReportInput) through table building, protection and audit.
libfuzzer_sys::fuzz_target!(
    |d: &[u8]| if let Ok(i) = serde_json::from_slice::<reports::ReportInput>(d) {
        let _ = reports::build(
            &i,
            &disclosure::Policy::default_policy(),
            &[],
            reports::Options::default(),
        );
    }
);
