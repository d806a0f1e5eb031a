#![no_main]
// NHS number (§4.2): a parsed number's normalised form reparses to itself.
libfuzzer_sys::fuzz_target!(|d: &[u8]| if let Ok(n) = pseudonym::NhsNumber::parse_bytes(d) {
    assert_eq!(
        pseudonym::NhsNumber::parse(n.as_str())
            .expect("reparses")
            .as_str(),
        n.as_str()
    )
});
