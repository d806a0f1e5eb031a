//! Keyed BLAKE2b-512 with the key block compressed once.
//!
//! clkhash computes `blake2b(token, key=K0, salt=str(j))` for every token. In
//! keyed mode BLAKE2b's first block is the zero-padded key, so for a fixed key
//! and salt the state after that block is a constant: [`KeyedBlake2b::new`]
//! computes it once and [`KeyedBlake2b::digest`] then costs one compression
//! per 128 bytes of token (one for every n-gram) instead of two. Checked
//! against the `blake2` crate in the tests below.

use zeroize::Zeroize;

const IV: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

const SIGMA: [[usize; 16]; 12] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
];

#[inline(always)]
fn g(v: &mut [u64; 16], a: usize, b: usize, c: usize, d: usize, x: u64, y: u64) {
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
    v[d] = (v[d] ^ v[a]).rotate_right(32);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(24);
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
    v[d] = (v[d] ^ v[a]).rotate_right(16);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(63);
}

macro_rules! round {
    ($v:ident, $m:ident, $r:expr) => {{
        const S: [usize; 16] = SIGMA[$r];
        g(&mut $v, 0, 4, 8, 12, $m[S[0]], $m[S[1]]);
        g(&mut $v, 1, 5, 9, 13, $m[S[2]], $m[S[3]]);
        g(&mut $v, 2, 6, 10, 14, $m[S[4]], $m[S[5]]);
        g(&mut $v, 3, 7, 11, 15, $m[S[6]], $m[S[7]]);
        g(&mut $v, 0, 5, 10, 15, $m[S[8]], $m[S[9]]);
        g(&mut $v, 1, 6, 11, 12, $m[S[10]], $m[S[11]]);
        g(&mut $v, 2, 7, 8, 13, $m[S[12]], $m[S[13]]);
        g(&mut $v, 3, 4, 9, 14, $m[S[14]], $m[S[15]]);
    }};
}

/// One BLAKE2b compression, rounds unrolled with constant message indices.
#[inline]
fn compress(h: &mut [u64; 8], block: &[u8; 128], t: u128, last: bool) {
    let mut m = [0u64; 16];
    for (i, w) in m.iter_mut().enumerate() {
        *w = u64::from_le_bytes(block[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    }
    let mut v = [0u64; 16];
    v[..8].copy_from_slice(h);
    v[8..].copy_from_slice(&IV);
    v[12] ^= t as u64;
    v[13] ^= (t >> 64) as u64;
    if last {
        v[14] = !v[14];
    }
    round!(v, m, 0);
    round!(v, m, 1);
    round!(v, m, 2);
    round!(v, m, 3);
    round!(v, m, 4);
    round!(v, m, 5);
    round!(v, m, 6);
    round!(v, m, 7);
    round!(v, m, 8);
    round!(v, m, 9);
    round!(v, m, 10);
    round!(v, m, 11);
    for i in 0..8 {
        h[i] ^= v[i] ^ v[i + 8];
    }
}

/// BLAKE2b-512 keyed with a 1–64-byte key and a salt of at most 16 bytes
/// (zero-padded, as Python's `hashlib.blake2b` does), with the key block
/// already compressed.
#[derive(Clone)]
pub struct KeyedBlake2b {
    /// Parameter-block state, before the key block.
    h0: [u64; 8],
    /// State after the key block (t = 128, not final).
    keyed: [u64; 8],
    key_block: [u8; 128],
}

impl Drop for KeyedBlake2b {
    fn drop(&mut self) {
        self.h0.zeroize();
        self.keyed.zeroize();
        self.key_block.zeroize();
    }
}

impl std::fmt::Debug for KeyedBlake2b {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedBlake2b(<redacted>)")
    }
}

impl KeyedBlake2b {
    /// Key `key` (1..=64 bytes) and salt `salt` (0..=16 bytes). Panics on
    /// lengths outside those ranges (callers control both).
    pub fn new(key: &[u8], salt: &[u8]) -> Self {
        assert!(
            !key.is_empty() && key.len() <= 64,
            "BLAKE2b key must be 1..=64 bytes"
        );
        assert!(salt.len() <= 16, "BLAKE2b salt must be at most 16 bytes");
        let mut h0 = IV;
        h0[0] ^= 0x0101_0000 ^ ((key.len() as u64) << 8) ^ 64;
        let mut s = [0u8; 16];
        s[..salt.len()].copy_from_slice(salt);
        h0[4] ^= u64::from_le_bytes(s[0..8].try_into().expect("8 bytes"));
        h0[5] ^= u64::from_le_bytes(s[8..16].try_into().expect("8 bytes"));
        let mut key_block = [0u8; 128];
        key_block[..key.len()].copy_from_slice(key);
        let mut keyed = h0;
        compress(&mut keyed, &key_block, 128, false);
        KeyedBlake2b { h0, keyed, key_block }
    }

    /// The 64-byte digest of `msg`.
    pub fn digest(&self, msg: &[u8]) -> [u8; 64] {
        let h = self.digest_words(msg);
        let mut out = [0u8; 64];
        for (i, w) in h.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// The digest as its eight state words (the digest is their
    /// little-endian bytes).
    #[inline]
    pub fn digest_words(&self, msg: &[u8]) -> [u64; 8] {
        let mut h;
        if msg.is_empty() {
            h = self.h0;
            compress(&mut h, &self.key_block, 128, true);
        } else {
            h = self.keyed;
            let mut t: u128 = 128;
            let mut rest = msg;
            while rest.len() > 128 {
                t += 128;
                compress(&mut h, rest[..128].try_into().expect("128 bytes"), t, false);
                rest = &rest[128..];
            }
            let mut block = [0u8; 128];
            block[..rest.len()].copy_from_slice(rest);
            t += rest.len() as u128;
            compress(&mut h, &block, t, true);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blake2::digest::{FixedOutput, Mac};
    use proptest::prelude::*;

    fn reference(key: &[u8], salt: &[u8], msg: &[u8]) -> [u8; 64] {
        let mut m = blake2::Blake2bMac512::new_with_salt_and_personal(key, salt, &[]).unwrap();
        m.update(msg);
        m.finalize_fixed().into()
    }

    #[test]
    fn rfc7693_style_vectors_match_blake2_crate() {
        let key: Vec<u8> = (0u8..64).collect();
        for len in [0usize, 1, 2, 63, 64, 127, 128, 129, 255, 256, 257, 1000] {
            let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for salt in [&b""[..], b"0", b"1", b"31", b"0123456789abcdef"] {
                assert_eq!(
                    KeyedBlake2b::new(&key, salt).digest(&msg),
                    reference(&key, salt, &msg),
                    "len {len}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn matches_blake2_crate(key in proptest::collection::vec(any::<u8>(), 1..=64),
                                salt in proptest::collection::vec(any::<u8>(), 0..=16),
                                msg in proptest::collection::vec(any::<u8>(), 0..400)) {
            prop_assert_eq!(KeyedBlake2b::new(&key, &salt).digest(&msg), reference(&key, &salt, &msg));
        }
    }
}
