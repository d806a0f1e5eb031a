#![no_main]
// Date of birth (§4.2) under the default formats: the ISO form reparses to
// itself and lies in 1900-01-01 ..= the as-of date.
libfuzzer_sys::fuzz_target!(|d: &[u8]| {
    let (f, as_of) = (
        pseudonym::DobFormats::default(),
        pseudonym::Date::new(2026, 11, 21).unwrap(),
    );
    if let Ok(x) = pseudonym::Dob::parse_bytes(d, &f, as_of) {
        assert_eq!(
            pseudonym::Dob::parse(x.iso(), &f, as_of).expect("reparses").iso(),
            x.iso()
        );
        assert!(("1900-01-01"..="2026-11-21").contains(&x.iso()), "out of range");
    }
});
