#![no_main]
// Uptake feedback rows (recruitment::feedback::record_uptake): errors or counted rows; every row accounted for.
mod store_fixture;
libfuzzer_sys::fuzz_target!(|d: &[u8]| store_fixture::with(d, |fx| {
    if let Ok(r) = recruitment::feedback::record_uptake(&mut fx.store, &fx.master, "fuzz-1", &fx.input) {
        assert!(r.counts.balanced(), "{:?}", r.counts)
    }
}));
