//! HMAC-SHA256 of `prefix || message` for a fixed key and prefix, at the
//! cost of the compressions the message needs and no more.
//!
//! A blocking key is `HMAC-SHA256(K_block, "trialink-block-v1" 0 name (0 part)*)`:
//! the key and the prefix up to the pass name never change, and the whole
//! message nearly always fits one SHA-256 block. [`PrefixMac`] holds
//! `pseudonym`'s pre-keyed HMAC core (the inner and outer states after the
//! key blocks, RFC 2104, zeroized on drop) and the prefix, and MACs the
//! prefix and the message as two parts of one message, so a MAC is two
//! calls of SHA-256's compression function (SHA-NI where the CPU has it) —
//! instead of cloning a keyed `Hmac` state, buffering and finalising through
//! the generic digest layers, which cost more than the compressions.
//! Checked against the `hmac` crate in the tests below.

use pseudonym::hmac256::PrekeyedHmac;

/// HMAC-SHA256 under one key with a fixed message prefix. Key-derived
/// states zeroized on drop; `Debug` redacted.
#[derive(Clone)]
pub struct PrefixMac {
    core: PrekeyedHmac,
    prefix: Vec<u8>,
}

impl std::fmt::Debug for PrefixMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrefixMac(<redacted>)")
    }
}

impl PrefixMac {
    /// Key with `key` (any length, as HMAC allows) and fix `prefix`.
    pub fn new(key: &[u8], prefix: &[u8]) -> Self {
        PrefixMac {
            core: PrekeyedHmac::new_any(key),
            prefix: prefix.to_vec(),
        }
    }

    /// `HMAC-SHA256(key, prefix || msg)`.
    pub fn mac(&self, msg: &[u8]) -> [u8; 32] {
        self.core.mac_parts(&[&self.prefix, msg])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;
    use sha2::Sha256;

    fn reference(key: &[u8], prefix: &[u8], msg: &[u8]) -> [u8; 32] {
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        m.update(prefix);
        m.update(msg);
        m.finalize().into_bytes().into()
    }

    #[test]
    fn every_length_around_the_block_boundaries_matches_hmac() {
        let key: Vec<u8> = (0u8..32).collect();
        let prefix = b"trialink-block-v1\x00dob";
        let mac = PrefixMac::new(&key, prefix);
        for len in 0..160 {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            assert_eq!(mac.mac(&msg), reference(&key, prefix, &msg), "len {len}");
        }
        // RFC 4231 test case 2 (key "Jefe"), with the message split
        // between prefix and message.
        let m = PrefixMac::new(b"Jefe", b"what do ya want ");
        assert_eq!(
            hex::encode(m.mac(b"for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(format!("{m:?}"), "PrefixMac(<redacted>)");
    }

    proptest! {
        #[test]
        fn matches_the_hmac_crate(key in proptest::collection::vec(any::<u8>(), 0..100),
                                  prefix in proptest::collection::vec(any::<u8>(), 0..60),
                                  msg in proptest::collection::vec(any::<u8>(), 0..140)) {
            prop_assert_eq!(PrefixMac::new(&key, &prefix).mac(&msg), reference(&key, &prefix, &msg));
        }
    }
}
