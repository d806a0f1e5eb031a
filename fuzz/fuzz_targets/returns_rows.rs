#![no_main]
// Return-to-sender rows (recruitment::feedback::record_returns): errors or counted rows; every row accounted for.
mod store_fixture;
libfuzzer_sys::fuzz_target!(|d: &[u8]| store_fixture::with(d, |fx| {
    if let Ok((c, _, _)) = recruitment::feedback::record_returns(&mut fx.store, &fx.input) {
        assert!(c.balanced(), "{c:?}")
    }
}));
