//! HMAC-SHA256 of `prefix || message` for a fixed key and prefix, at the
//! cost of the compressions the message needs and no more.
//!
//! A blocking key is `HMAC-SHA256(K_block, "trialink-block-v1" 0 name (0 part)*)`:
//! the key and the prefix up to the pass name never change, and the whole
//! message nearly always fits one SHA-256 block. [`PrefixMac`] keeps the
//! inner and outer states after the key blocks (RFC 2104) and pads the
//! message itself, so a MAC is two calls of SHA-256's compression function
//! (SHA-NI where the CPU has it) — instead of cloning a keyed `Hmac` state,
//! buffering and finalising through the generic digest layers, which cost
//! more than the compressions. Messages over 119 bytes go through `hmac`.
//! Checked against the `hmac` crate in the tests below.

use hmac::{Hmac, Mac};
use sha2::digest::generic_array::GenericArray;
use sha2::Sha256;
use zeroize::Zeroize;

const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    sha2::compress256(state, &[*GenericArray::from_slice(block)]);
}

/// HMAC-SHA256 under one key with a fixed message prefix. Key-derived
/// states zeroized on drop; `Debug` redacted.
#[derive(Clone)]
pub struct PrefixMac {
    /// State after the key ⊕ ipad block.
    inner: [u32; 8],
    /// State after the key ⊕ opad block.
    outer: [u32; 8],
    prefix: Vec<u8>,
    /// For long messages: the keyed MAC already fed the prefix.
    slow: Hmac<Sha256>,
}

impl std::fmt::Debug for PrefixMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrefixMac(<redacted>)")
    }
}

impl Drop for PrefixMac {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

impl PrefixMac {
    /// Key with `key` (any length, as HMAC allows) and fix `prefix`.
    pub fn new(key: &[u8], prefix: &[u8]) -> Self {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            use sha2::Digest;
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut pad = [0u8; 64];
        for (p, b) in pad.iter_mut().zip(&k) {
            *p = b ^ 0x36;
        }
        let mut inner = IV;
        compress(&mut inner, &pad);
        for (p, b) in pad.iter_mut().zip(&k) {
            *p = b ^ 0x5c;
        }
        let mut outer = IV;
        compress(&mut outer, &pad);
        pad.zeroize();
        k.zeroize();
        let mut slow = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        slow.update(prefix);
        PrefixMac {
            inner,
            outer,
            prefix: prefix.to_vec(),
            slow,
        }
    }

    /// `HMAC-SHA256(key, prefix || msg)`.
    pub fn mac(&self, msg: &[u8]) -> [u8; 32] {
        let len = self.prefix.len() + msg.len();
        if len > 119 {
            let mut m = self.slow.clone();
            m.update(msg);
            return m.finalize().into_bytes().into();
        }
        // Inner hash: the key block is already absorbed (64 bytes), so the
        // message is padded as if it followed 64 bytes.
        let mut buf = [0u8; 128];
        buf[..self.prefix.len()].copy_from_slice(&self.prefix);
        buf[self.prefix.len()..len].copy_from_slice(msg);
        buf[len] = 0x80;
        let blocks = if len + 9 <= 64 { 1 } else { 2 };
        let end = blocks * 64;
        buf[end - 8..end].copy_from_slice(&(((64 + len) as u64) * 8).to_be_bytes());
        let mut h = self.inner;
        for b in buf[..end].chunks_exact(64) {
            compress(&mut h, b.try_into().expect("64 bytes"));
        }
        buf.zeroize();
        // Outer hash over the 32-byte inner digest.
        let mut block = [0u8; 64];
        for (c, w) in block.chunks_exact_mut(4).zip(&h) {
            c.copy_from_slice(&w.to_be_bytes());
        }
        block[32] = 0x80;
        block[56..].copy_from_slice(&((64u64 + 32) * 8).to_be_bytes());
        let mut o = self.outer;
        compress(&mut o, &block);
        let mut out = [0u8; 32];
        for (c, w) in out.chunks_exact_mut(4).zip(&o) {
            c.copy_from_slice(&w.to_be_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
