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
pub(crate) struct PrekeyedHmac {
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
    pub(crate) fn new(key: &[u8; 32]) -> PrekeyedHmac {
        let mut h = PrekeyedHmac {
            state: Box::new([IV; 2]),
        };
        let mut block = [0u8; 64];
        for (pad, st) in [0x36u8, 0x5c].into_iter().zip(h.state.iter_mut()) {
            block.fill(pad);
            for (b, k) in block.iter_mut().zip(key) {
                *b ^= k;
            }
            compress(st, &block);
        }
        block.zeroize();
        h
    }

    /// `HMAC-SHA256(key, msg)`. The block buffer that held message bytes is
    /// zeroized before returning (messages carry identifiers).
    pub(crate) fn mac(&self, msg: &[u8]) -> [u8; 32] {
        let mut inner = self.state[0];
        let mut chunks = msg.chunks_exact(64);
        for c in &mut chunks {
            compress(&mut inner, c.try_into().expect("64-byte chunk"));
        }
        let rem = chunks.remainder();
        let mut block = [0u8; 64];
        block[..rem.len()].copy_from_slice(rem);
        block[rem.len()] = 0x80;
        if rem.len() + 1 + 8 > 64 {
            compress(&mut inner, &block);
            block.fill(0);
        }
        // The inner hash covers the 64-byte `key ⊕ ipad` block too.
        let bits = (64 + msg.len() as u64) * 8;
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

    proptest! {
        #[test]
        fn matches_the_hmac_crate(key in proptest::array::uniform32(any::<u8>()),
                                  msg in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(PrekeyedHmac::new(&key).mac(&msg), reference(&key, &msg));
        }
    }
}
