#![no_main]
// TLBF v1 reader past the checksum: the last 32 bytes are replaced by the SHA-256 of the rest, so the fuzzer explores header, length and bitmap checks; accepted files round-trip.
libfuzzer_sys::fuzz_target!(|d: &[u8]| {
    let mut v = d.to_vec();
    if v.len() >= 32 {
        let n = v.len() - 32;
        let h = <sha2::Sha256 as sha2::Digest>::digest(&v[..n]);
        v[n..].copy_from_slice(&h);
    }
    if let Ok(f) = bloom::tlbf::Tlbf::from_bytes(&v) {
        assert_eq!(f.to_bytes(), v)
    }
});
