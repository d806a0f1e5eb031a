//! HMAC-SHA256 (RFC 2104) with a pre-keyed state that is zeroized on drop.
//!
//! The `hmac` crate's keyed state (`Hmac<Sha256>`) cannot be zeroized: its
//! SHA-256 cores keep their chaining values in private fields and neither
//! `hmac` 0.12 nor `sha2` 0.10 offers a `zeroize` feature. A keyed HMAC state
//! is as good as the key for making tokens, so trialink keeps its own: the two
//! chaining values after absorbing `key ⊕ ipad` and `key ⊕ opad`, in a boxed
//! array (moves copy only the pointer) that [`Drop`] overwrites with zeros.
//! The compression function is `sha2::compress256` (the same runtime-detected
//! SHA-NI / SSSE3 / portable code `Sha256` uses), so a token still costs two
//! compressions. Checked against the `hmac` crate for messages of every length
//! up to several blocks (unit tests) and by the token known-answer vectors (fixtures/vectors).
//!
//! This is trialink's one HMAC-SHA256 core: tokens use it with 32-byte keys,
//! and keyed blocking (`bloom`'s `PrefixMac`) with any key length and a
//! message in parts ([`PrekeyedHmac::mac_parts`]), so a fixed prefix is never
//! copied or re-hashed.

use sha2::digest::generic_array::GenericArray;
use zeroize::Zeroize;

/// SHA-256 initial hash value (FIPS 180-4 §5.3.3).
const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
}

/// A keyed HMAC-SHA256 state: `[inner, outer]` chaining values. Zeroized on
/// drop; no `Debug` (its owner prints a redacted form).
#[derive(Clone)]
pub struct PrekeyedHmac {
    state: Box<[[u32; 8]; 2]>,
}

impl Zeroize for PrekeyedHmac {
    fn zeroize(&mut self) {
        self.state.zeroize();
    }
}

impl Drop for PrekeyedHmac {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl PrekeyedHmac {
    /// Key the state with a 32-byte key (shorter than the 64-byte block, so
    /// it is used as is, zero-padded).
    pub fn new(key: &[u8; 32]) -> PrekeyedHmac {
        Self::new_any(key)
    }

    /// Key the state with a key of any length, as HMAC allows: one longer
    /// than the 64-byte block is hashed first (RFC 2104).
    pub fn new_any(key: &[u8]) -> PrekeyedHmac {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            use sha2::Digest;
            k[..32].copy_from_slice(&sha2::Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut h = PrekeyedHmac {
            state: Box::new([IV; 2]),
        };
        let mut block = [0u8; 64];
        for (pad, st) in [0x36u8, 0x5c].into_iter().zip(h.state.iter_mut()) {
            for (b, k) in block.iter_mut().zip(&k) {
                *b = k ^ pad;
            }
            compress(st, &block);
        }
        block.zeroize();
        k.zeroize();
        h
    }

    /// `HMAC-SHA256(key, msg)`. The block buffer that held message bytes is
    /// zeroized before returning (messages carry identifiers).
    pub fn mac(&self, msg: &[u8]) -> [u8; 32] {
        self.mac_parts(&[msg])
    }

    /// `HMAC-SHA256(key, parts[0] || parts[1] || …)`, without joining the
    /// parts: full blocks are compressed where they lie.
    pub fn mac_parts(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut inner = self.state[0];
        let mut block = [0u8; 64];
        let mut fill = 0usize;
        let mut total = 0u64;
        for part in parts {
            let mut p = *part;
            total += p.len() as u64;
            if fill > 0 {
                let n = (64 - fill).min(p.len());
                block[fill..fill + n].copy_from_slice(&p[..n]);
                fill += n;
                p = &p[n..];
                if fill < 64 {
                    continue;
                }
                compress(&mut inner, &block);
            }
            let mut chunks = p.chunks_exact(64);
            for c in &mut chunks {
                compress(&mut inner, c.try_into().expect("64-byte chunk"));
            }
            // The block is empty here: `fill` was 0 or its block was just
            // compressed.
            let rem = chunks.remainder();
            block[..rem.len()].copy_from_slice(rem);
            fill = rem.len();
        }
        block[fill..].fill(0);
        block[fill] = 0x80;
        if fill + 1 + 8 > 64 {
            compress(&mut inner, &block);
            block.fill(0);
        }
        // The inner hash covers the 64-byte `key ⊕ ipad` block too.
        let bits = (64 + total) * 8;
        block[56..].copy_from_slice(&bits.to_be_bytes());
        compress(&mut inner, &block);
        block.zeroize();

        let mut outer = self.state[1];
        let mut ob = [0u8; 64];
        for (o, w) in ob.chunks_exact_mut(4).zip(inner) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        ob[32] = 0x80;
        ob[56..].copy_from_slice(&((64u64 + 32) * 8).to_be_bytes());
        compress(&mut outer, &ob);
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(outer) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    #[cfg(test)]
    pub(crate) fn state_words(&self) -> [[u32; 8]; 2] {
        *self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;

    fn reference(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        m.update(msg);
        m.finalize().into_bytes().into()
    }

    #[test]
    fn every_length_matches_the_hmac_crate() {
        let key: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(1));
        let h = PrekeyedHmac::new(&key);
        let msg: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        // Every length across the padding boundaries (55/56/63/64) and
        // several blocks.
        for n in 0..=msg.len() {
            assert_eq!(h.mac(&msg[..n]), reference(&key, &msg[..n]), "length {n}");
        }
    }

    #[test]
    fn known_answer_hi_there() {
        // HMAC-SHA256 with key 0x0b*32 over "Hi There", computed independently
        // (Python: hmac.new(b'\x0b'*32, b'Hi There', 'sha256').hexdigest()).
        let h = PrekeyedHmac::new(&[0x0b; 32]);
        assert_eq!(
            hex::encode(h.mac(b"Hi There")),
            "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"
        );
    }

    #[test]
    fn zeroize_clears_the_keyed_state_and_drop_calls_it() {
        let mut h = PrekeyedHmac::new(&[0x42; 32]);
        assert_ne!(h.state_words(), [[0; 8]; 2]);
        let c = h.clone();
        h.zeroize();
        assert_eq!(h.state_words(), [[0; 8]; 2]);
        // A clone is independent (its own box, its own zeroize on drop).
        assert_eq!(c.mac(b"x"), reference(&[0x42; 32], b"x"));
    }

    fn reference_any(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    #[test]
    fn parts_split_anywhere_and_keys_of_any_length_match_the_hmac_crate() {
        let msg: Vec<u8> = (0..200u32).map(|i| (i * 11 + 5) as u8).collect();
        for klen in [0usize, 1, 32, 63, 64, 65, 100] {
            let key: Vec<u8> = (0..klen).map(|i| i as u8 ^ 0x5a).collect();
            let h = PrekeyedHmac::new_any(&key);
            for n in [0usize, 1, 55, 56, 63, 64, 65, 119, 120, 128, 200] {
                for cut in [0, n / 3, n / 2, n.saturating_sub(1), n] {
                    let (a, b) = msg[..n].split_at(cut);
                    let want = reference_any(&key, &[a, b]);
                    assert_eq!(h.mac_parts(&[a, b]), want, "key {klen} len {n} cut {cut}");
                    assert_eq!(h.mac_parts(&[a, &[], b]), want, "empty middle part");
                }
            }
        }
        // RFC 4231 test case 2 (key "Jefe"), the message in two parts.
        let h = PrekeyedHmac::new_any(b"Jefe");
        assert_eq!(
            hex::encode(h.mac_parts(&[b"what do ya want ", b"for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    proptest! {
        #[test]
        fn parts_match_the_hmac_crate(key in proptest::collection::vec(any::<u8>(), 0..100),
                                      a in proptest::collection::vec(any::<u8>(), 0..140),
                                      b in proptest::collection::vec(any::<u8>(), 0..140),
                                      c in proptest::collection::vec(any::<u8>(), 0..70)) {
            prop_assert_eq!(PrekeyedHmac::new_any(&key).mac_parts(&[&a, &b, &c]), reference_any(&key, &[&a, &b, &c]));
        }

        #[test]
        fn matches_the_hmac_crate(key in proptest::array::uniform32(any::<u8>()),
                                  msg in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(PrekeyedHmac::new(&key).mac(&msg), reference(&key, &msg));
        }
    }
}
