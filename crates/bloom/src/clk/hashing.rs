//! Hashing tokens into bit positions: clkhash's `blakeHash` and
//! `doubleHash` strategies, and the bit-array helpers.

use super::*;
use blake2b::KeyedBlake2b;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;

// One per feature, built once: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Hasher {
    Blake(Vec<KeyedBlake2b>),
    Double {
        sha1: Hmac<Sha1>,
        md5: Hmac<Md5>,
        prevent_singularity: bool,
    },
}

/// Words needed for `l` bits.
pub fn words_for(l: usize) -> usize {
    l.div_ceil(64)
}

#[inline]
pub(crate) fn set_bit(bits: &mut [u64], p: usize) {
    bits[p >> 6] |= 1u64 << (63 - (p & 63));
}

#[inline]
pub(crate) fn get_bit(bits: &[u64], p: usize) -> bool {
    bits[p >> 6] & (1u64 << (63 - (p & 63))) != 0
}

/// `int_be(bytes) mod m` for `m < 2^48` (L' is at most 2^28 here).
#[inline]
pub(crate) fn be_mod(bytes: &[u8], m: u64) -> u64 {
    debug_assert!(m < 1 << 48);
    let mut r: u64 = 0;
    for b in bytes {
        r = ((r << 8) | *b as u64) % m;
    }
    r
}

impl Hasher {
    /// The raw hash material for a token: BLAKE2b state words for salt `j`,
    /// or `[a, b, 0…]` for doubleHash.
    #[inline]
    pub(crate) fn material(&self, j: usize, tok: &[u8], l: usize) -> [u64; 8] {
        match self {
            Hasher::Blake(states) => states[j].digest_words(tok),
            Hasher::Double {
                sha1,
                md5,
                prevent_singularity,
            } => {
                let lm = l as u64;
                let mut h = sha1.clone();
                h.update(tok);
                let a = be_mod(&h.finalize().into_bytes(), lm);
                let mut h = md5.clone();
                h.update(tok);
                let mut b = be_mod(&h.finalize().into_bytes(), lm);
                if *prevent_singularity {
                    // clkhash: while b == 0, HMAC-MD5(K1, token || chr(i).encode()) for i = 0, 1, …
                    let mut i: u32 = 0;
                    while b == 0 {
                        let mut h = md5.clone();
                        h.update(tok);
                        let c = char::from_u32(i).unwrap_or('\u{fffd}');
                        let mut buf = [0u8; 4];
                        h.update(c.encode_utf8(&mut buf).as_bytes());
                        b = be_mod(&h.finalize().into_bytes(), lm);
                        i += 1;
                    }
                }
                [a, b, 0, 0, 0, 0, 0, 0]
            }
        }
    }

    #[inline]
    pub(crate) fn set_bits(
        &self,
        fidx: usize,
        tok: &[u8],
        k: usize,
        l: usize,
        bits: &mut [u64],
        cache: &mut TokenCache,
    ) {
        match self {
            Hasher::Blake(_) => {
                let mask = l - 1; // l is a power of two (checked by the schema)
                let mut i = 0;
                let mut j = 0;
                while i < k {
                    // The digest's bytes are the state words little-endian, so
                    // its n-th little-endian u16 is bits 16(n mod 4).. of word n/4.
                    let h = cache.get_or(fidx, j, tok, || self.material(j, tok, l));
                    let n = (k - i).min(32);
                    for x in 0..n {
                        let short = (h[x >> 2] >> ((x & 3) * 16)) as u16;
                        set_bit(bits, short as usize & mask);
                    }
                    i += n;
                    j += 1;
                }
            }
            Hasher::Double { .. } => {
                if k == 0 {
                    return;
                }
                let lm = l as u64;
                let h = cache.get_or(fidx, 0, tok, || self.material(0, tok, l));
                let (a, b) = (h[0], h[1]);
                // a, b < L' ≤ 2^28 and k < 2^17: no overflow in u64.
                let mut p = a;
                for _ in 0..k {
                    set_bit(bits, p as usize);
                    p += b;
                    if p >= lm {
                        p -= lm;
                    }
                }
            }
        }
    }
}

pub(crate) fn clear_tail(words: &mut [u64], l: usize) {
    let r = l % 64;
    if r != 0 {
        if let Some(last) = words.last_mut() {
            *last &= !0u64 << (64 - r);
        }
    }
}
