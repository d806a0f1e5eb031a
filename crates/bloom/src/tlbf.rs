//! TLBF v1: the exchangeable Bloom filter of 32-byte tokens (format in docs/formats.md).
//!
//! Layout (little-endian throughout):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `TLBF` |
//! | 4 | 1 | version = 1 |
//! | 5 | 3 | zero |
//! | 8 | 4 | k (u32) |
//! | 12 | 8 | m, number of bits (u64, multiple of 64) |
//! | 20 | 8 | n, tokens inserted (u64) |
//! | 28 | 8 | key fingerprint (8 raw bytes) |
//! | 36 | m/8 | bitmap: u64 words, bit `p` is bit `p mod 64` of word `p / 64` |
//! | end | 32 | SHA-256 of everything before it |
//!
//! A false positive only ever errs towards *not* contacting someone, so the
//! filter is safe for non-contact and already-enrolled lists.

use sha2::{Digest, Sha256};
use std::io::{Read, Write};

/// The four magic bytes at the start of every TLBF file.
pub const MAGIC: [u8; 4] = *b"TLBF";
/// The only version this crate reads and writes.
pub const VERSION: u8 = 1;
/// Bytes before the bitmap.
pub const HEADER_LEN: usize = 36;
/// Bytes of the trailing SHA-256 checksum.
pub const CHECKSUM_LEN: usize = 32;
/// Largest bitmap accepted (2^34 bits = 2 GiB of bitmap, room for about a
/// billion tokens at a 0.1% false-positive rate): a file from another
/// organisation declaring more is refused when its header is parsed, before
/// anything is allocated.
pub const MAX_BITS: u64 = 1 << 34;
/// Largest hash count accepted. `k` positions are computed for every
/// membership test, so an unbounded `k` in a 76-byte file would make each test
/// take seconds; no sensible false-positive rate needs more than 64
/// (k = 64 already means a design rate near 2^-64).
pub const MAX_K: u32 = 64;

/// Why a TLBF file could not be built or read. No variant carries a token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TlbfError {
    /// The file is shorter than the fixed header and checksum.
    #[error("TLBF file is truncated: {len} bytes, expected at least {min}")]
    Truncated {
        /// Bytes read.
        len: usize,
        /// Minimum length of a valid file.
        min: usize,
    },
    /// The first four bytes are not `TLBF`.
    #[error("not a TLBF file: bad magic at offset 0 (expected \"TLBF\")")]
    BadMagic,
    /// The version byte is not 1.
    #[error("unsupported TLBF version {found} at offset 4 (this build reads version 1)")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// Bytes 5..8 are not zero.
    #[error("TLBF reserved bytes at offset 5..8 are not zero")]
    ReservedNotZero,
    /// `m` is zero, not a multiple of 64, or too large.
    #[error(
        "TLBF bit count m={m} at offset 12 is invalid (expected a non-zero multiple of 64, at most 2^34)"
    )]
    BadBitCount {
        /// The `m` field.
        m: u64,
    },
    /// `k` is zero or more than [`MAX_K`].
    #[error("TLBF hash count k={k} at offset 8 is invalid (expected 1 to 64)")]
    BadHashCount {
        /// The `k` field.
        k: u32,
    },
    /// The file length does not match `m`.
    #[error("TLBF length mismatch: header says {expected} bytes, file has {found}")]
    LengthMismatch {
        /// Length implied by the header.
        expected: u64,
        /// Actual length.
        found: u64,
    },
    /// The trailing SHA-256 does not match the content.
    #[error("TLBF checksum mismatch: the file is corrupted or was modified")]
    ChecksumMismatch,
    /// Sizing parameters out of range.
    #[error("invalid filter sizing: {0}")]
    BadSizing(&'static str),
    /// The key fingerprint is not 16 hexadecimal characters.
    #[error("key fingerprint must be 16 hexadecimal characters")]
    BadFingerprint,
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(String),
}

/// Bits `m` and hash count `k` for `n` tokens at false-positive rate `p`:
/// `m = ceil(−n·ln p / (ln 2)²)` rounded up to a multiple of 64 (at least 64),
/// `k = max(1, round(m/n · ln 2))`.
pub fn sizing(n: u64, p: f64) -> Result<(u64, u32), TlbfError> {
    if !(p > 0.0 && p < 1.0) {
        return Err(TlbfError::BadSizing(
            "false-positive rate must be strictly between 0 and 1",
        ));
    }
    let ln2 = std::f64::consts::LN_2;
    let raw = (-(n as f64) * p.ln() / (ln2 * ln2)).ceil();
    if !raw.is_finite() || raw > MAX_BITS as f64 {
        return Err(TlbfError::BadSizing("filter would exceed 2^34 bits"));
    }
    let mut m = raw as u64;
    m = m.div_ceil(64) * 64;
    if m < 64 {
        m = 64;
    }
    let k = if n == 0 {
        1
    } else {
        let k = (m as f64 / n as f64 * ln2).round();
        (k.max(1.0).min(u32::MAX as f64)) as u32
    };
    if k > MAX_K {
        return Err(TlbfError::BadSizing(
            "false-positive rate too small: it would need more than 64 hash functions",
        ));
    }
    Ok((m, k))
}

/// Parse a 16-hex-character key fingerprint into the 8 raw header bytes.
pub fn fingerprint_bytes(hex_fp: &str) -> Result<[u8; 8], TlbfError> {
    let mut out = [0u8; 8];
    if hex_fp.len() != 16 {
        return Err(TlbfError::BadFingerprint);
    }
    hex::decode_to_slice(hex_fp, &mut out).map_err(|_| TlbfError::BadFingerprint)?;
    Ok(out)
}

/// A TLBF v1 filter in memory.
#[derive(Clone, PartialEq, Eq)]
pub struct Tlbf {
    k: u32,
    m: u64,
    n: u64,
    fingerprint: [u8; 8],
    words: Vec<u64>,
}

impl std::fmt::Debug for Tlbf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tlbf")
            .field("k", &self.k)
            .field("m", &self.m)
            .field("n", &self.n)
            .field("fingerprint", &hex::encode(self.fingerprint))
            .finish_non_exhaustive()
    }
}

/// The fixed header of a TLBF file, checked by [`Tlbf::check_header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Hash count (1 to [`MAX_K`]).
    pub k: u32,
    /// Bits (a non-zero multiple of 64, at most [`MAX_BITS`]).
    pub m: u64,
    /// Tokens inserted, as declared.
    pub n: u64,
    /// Key fingerprint.
    pub fingerprint: [u8; 8],
    /// The whole file's length the header implies.
    pub file_len: u64,
}

#[inline]
fn positions(token: &[u8; 32], k: u32, m: u64) -> impl Iterator<Item = u64> {
    let h1 = u64::from_le_bytes(token[0..8].try_into().expect("8 bytes"));
    let h2 = u64::from_le_bytes(token[8..16].try_into().expect("8 bytes")) | 1;
    (0..k as u64).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % m)
}

impl Tlbf {
    /// An empty filter sized for `n` tokens at false-positive rate `p`.
    pub fn for_capacity(n: u64, p: f64, fingerprint: [u8; 8]) -> Result<Self, TlbfError> {
        let (m, k) = sizing(n, p)?;
        Ok(Self::with_params(m, k, fingerprint))
    }

    /// An empty filter with explicit `m` (rounded up to a multiple of 64,
    /// at most [`MAX_BITS`]) and `k` (clamped to 1..=[`MAX_K`]), so that every
    /// filter this builds can be read back.
    pub fn with_params(m: u64, k: u32, fingerprint: [u8; 8]) -> Self {
        let m = m.clamp(64, MAX_BITS).div_ceil(64) * 64;
        Tlbf {
            k: k.clamp(1, MAX_K),
            m,
            n: 0,
            fingerprint,
            words: vec![0; (m / 64) as usize],
        }
    }

    /// Build a filter from tokens (sized for their number; duplicates are
    /// inserted, and counted, as given — deduplicate first if `n` should count
    /// distinct people).
    pub fn build<'a, I>(tokens: I, p: f64, fingerprint: [u8; 8]) -> Result<Self, TlbfError>
    where
        I: IntoIterator<Item = &'a [u8; 32]>,
        I::IntoIter: ExactSizeIterator,
    {
        let it = tokens.into_iter();
        let mut f = Self::for_capacity(it.len() as u64, p, fingerprint)?;
        for t in it {
            f.insert(t);
        }
        Ok(f)
    }

    /// Insert a token.
    pub fn insert(&mut self, token: &[u8; 32]) {
        for p in positions(token, self.k, self.m) {
            self.words[(p / 64) as usize] |= 1u64 << (p % 64);
        }
        self.n += 1;
    }

    /// Whether the token may be in the set (false positives at about the
    /// design rate, never false negatives).
    pub fn contains(&self, token: &[u8; 32]) -> bool {
        positions(token, self.k, self.m).all(|p| self.words[(p / 64) as usize] & (1u64 << (p % 64)) != 0)
    }

    /// Number of hash positions per token.
    pub fn k(&self) -> u32 {
        self.k
    }
    /// Number of bits.
    pub fn m(&self) -> u64 {
        self.m
    }
    /// Number of tokens inserted.
    pub fn n(&self) -> u64 {
        self.n
    }
    /// The key fingerprint as 8 raw bytes.
    pub fn fingerprint(&self) -> [u8; 8] {
        self.fingerprint
    }
    /// The key fingerprint as 16 lowercase hex characters.
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint)
    }
    /// Bits set in the bitmap.
    pub fn bits_set(&self) -> u64 {
        self.words.iter().map(|w| w.count_ones() as u64).sum()
    }
    /// Expected false-positive rate given the bits actually set: `(set/m)^k`.
    pub fn estimated_fpr(&self) -> f64 {
        (self.bits_set() as f64 / self.m as f64).powi(self.k as i32)
    }

    /// Serialise to the TLBF v1 byte layout.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.words.len() * 8 + CHECKSUM_LEN);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.k.to_le_bytes());
        out.extend_from_slice(&self.m.to_le_bytes());
        out.extend_from_slice(&self.n.to_le_bytes());
        out.extend_from_slice(&self.fingerprint);
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Check the fixed header (the first [`HEADER_LEN`] bytes, or fewer if
    /// the file is shorter) without looking at the bitmap: magic, version,
    /// reserved bytes, `m` (non-zero, a multiple of 64, at most [`MAX_BITS`])
    /// and `k` (1 to [`MAX_K`]). Returns the total file length the header
    /// implies, so that a reader can refuse a short or long file before
    /// allocating or reading the bitmap.
    pub fn check_header(b: &[u8]) -> Result<Header, TlbfError> {
        let min = HEADER_LEN + CHECKSUM_LEN;
        if b.len() < 4 {
            return Err(TlbfError::Truncated { len: b.len(), min });
        }
        if b[0..4] != MAGIC {
            return Err(TlbfError::BadMagic);
        }
        if b.len() < HEADER_LEN {
            return Err(TlbfError::Truncated { len: b.len(), min });
        }
        if b[4] != VERSION {
            return Err(TlbfError::UnsupportedVersion { found: b[4] });
        }
        if b[5..8] != [0, 0, 0] {
            return Err(TlbfError::ReservedNotZero);
        }
        let k = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        let m = u64::from_le_bytes(b[12..20].try_into().expect("8 bytes"));
        let n = u64::from_le_bytes(b[20..28].try_into().expect("8 bytes"));
        let fingerprint: [u8; 8] = b[28..36].try_into().expect("8 bytes");
        if m == 0 || m % 64 != 0 || m > MAX_BITS {
            return Err(TlbfError::BadBitCount { m });
        }
        if k == 0 || k > MAX_K {
            return Err(TlbfError::BadHashCount { k });
        }
        Ok(Header {
            k,
            m,
            n,
            fingerprint,
            file_len: (HEADER_LEN + CHECKSUM_LEN) as u64 + m / 8,
        })
    }

    /// Parse TLBF v1 bytes, checking magic, version, reserved bytes, the
    /// parameter caps, length and checksum.
    pub fn from_bytes(b: &[u8]) -> Result<Self, TlbfError> {
        let min = HEADER_LEN + CHECKSUM_LEN;
        let h = Self::check_header(b)?;
        if b.len() < min {
            return Err(TlbfError::Truncated { len: b.len(), min });
        }
        if b.len() as u64 != h.file_len {
            return Err(TlbfError::LengthMismatch {
                expected: h.file_len,
                found: b.len() as u64,
            });
        }
        let body = b.len() - CHECKSUM_LEN;
        let sum = Sha256::digest(&b[..body]);
        if sum.as_slice() != &b[body..] {
            return Err(TlbfError::ChecksumMismatch);
        }
        let words = b[HEADER_LEN..body]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        Ok(Tlbf {
            k: h.k,
            m: h.m,
            n: h.n,
            fingerprint: h.fingerprint,
            words,
        })
    }

    /// Read a TLBF file from a reader: the header first (refused on its own
    /// if its parameters are out of range), then exactly the length it
    /// declares — never more, so a hostile stream cannot make this buffer
    /// without bound. `known_len`, when the caller knows the file's length
    /// (from its metadata), is checked against the header before the bitmap
    /// is read.
    pub fn read_from_len<R: Read>(mut r: R, known_len: Option<u64>) -> Result<Self, TlbfError> {
        let io = |e: std::io::Error| TlbfError::Io(e.kind().to_string());
        let mut head = Vec::with_capacity(HEADER_LEN);
        (&mut r)
            .take(HEADER_LEN as u64)
            .read_to_end(&mut head)
            .map_err(io)?;
        let h = Self::check_header(&head)?;
        if let Some(len) = known_len {
            if len != h.file_len {
                return Err(TlbfError::LengthMismatch {
                    expected: h.file_len,
                    found: len,
                });
            }
        }
        let mut buf = head;
        // Read at most one byte more than declared, to detect a long file.
        (&mut r)
            .take(h.file_len - HEADER_LEN as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(io)?;
        if buf.len() as u64 > h.file_len {
            return Err(TlbfError::LengthMismatch {
                expected: h.file_len,
                found: buf.len() as u64,
            });
        }
        Self::from_bytes(&buf)
    }

    /// Read a whole TLBF file from a reader (see [`Tlbf::read_from_len`]).
    pub fn read_from<R: Read>(r: R) -> Result<Self, TlbfError> {
        Self::read_from_len(r, None)
    }

    /// Read a TLBF file: a regular file only (a FIFO or device is refused
    /// before it is opened), whose header parameters are checked on their
    /// own and whose length (from metadata) must be what the header declares
    /// (36 + m/8 + 32 bytes) before the bitmap is read or allocated.
    pub fn read_file(path: &std::path::Path) -> Result<Self, TlbfError> {
        let io = |e: std::io::Error| TlbfError::Io(e.to_string());
        let f = tabular::limited::open_regular(path, tabular::limited::TLBF.what).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        Self::read_from_len(f, Some(len))
    }

    /// Same as [`Tlbf::read_file`].
    pub fn read_path(path: &std::path::Path) -> Result<Self, TlbfError> {
        Self::read_file(path)
    }

    /// Write the filter to a writer.
    pub fn write_to<W: Write>(&self, mut w: W) -> Result<(), TlbfError> {
        w.write_all(&self.to_bytes())
            .map_err(|e| TlbfError::Io(e.kind().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizing_matches_design_example() {
        assert_eq!(sizing(200, 0.001).unwrap(), (2880, 10));
        assert_eq!(sizing(0, 0.01).unwrap(), (64, 1));
        assert_eq!(sizing(1, 0.5).unwrap().0, 64);
        assert!(sizing(10, 0.0).is_err());
        assert!(sizing(10, 1.0).is_err());
        assert!(sizing(10, f64::NAN).is_err());
    }

    #[test]
    fn errors_are_specific() {
        let mut f = Tlbf::with_params(128, 3, [1; 8]);
        f.insert(&[7; 32]);
        let good = f.to_bytes();
        assert_eq!(Tlbf::from_bytes(&good).unwrap(), f);
        assert!(matches!(
            Tlbf::from_bytes(&good[..10]),
            Err(TlbfError::Truncated { .. })
        ));
        assert!(matches!(
            Tlbf::from_bytes(&good[..good.len() - 1]),
            Err(TlbfError::LengthMismatch { .. })
        ));
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(Tlbf::from_bytes(&bad), Err(TlbfError::BadMagic));
        let mut bad = good.clone();
        bad[4] = 2;
        assert_eq!(
            Tlbf::from_bytes(&bad),
            Err(TlbfError::UnsupportedVersion { found: 2 })
        );
        let mut bad = good.clone();
        bad[6] = 1;
        assert_eq!(Tlbf::from_bytes(&bad), Err(TlbfError::ReservedNotZero));
        let mut bad = good.clone();
        bad[40] ^= 1;
        assert_eq!(Tlbf::from_bytes(&bad), Err(TlbfError::ChecksumMismatch));
        let mut bad = good.clone();
        bad[12] = 65;
        assert_eq!(Tlbf::from_bytes(&bad), Err(TlbfError::BadBitCount { m: 65 }));
        assert!(matches!(Tlbf::from_bytes(b""), Err(TlbfError::Truncated { .. })));
    }

    /// A header-only file (no bitmap) with a valid checksum over what is there.
    fn header(k: u32, m: u64) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&[VERSION, 0, 0, 0]);
        b.extend_from_slice(&k.to_le_bytes());
        b.extend_from_slice(&m.to_le_bytes());
        b.extend_from_slice(&[0; 16]);
        let sum = Sha256::digest(&b);
        b.extend_from_slice(&sum);
        b
    }

    #[test]
    fn k_cap_boundary() {
        let mut f = Tlbf::with_params(128, MAX_K, [1; 8]);
        f.insert(&[3; 32]);
        let at_cap = f.to_bytes();
        assert_eq!(Tlbf::from_bytes(&at_cap).unwrap().k(), 64);
        let mut over = at_cap.clone();
        over[8..12].copy_from_slice(&(MAX_K + 1).to_le_bytes());
        assert_eq!(Tlbf::from_bytes(&over), Err(TlbfError::BadHashCount { k: 65 }));
        // The 76-byte hostile shape: huge k, tiny m, valid checksum.
        let huge = header(u32::MAX, 64);
        let t = std::time::Instant::now();
        assert_eq!(
            Tlbf::from_bytes(&huge),
            Err(TlbfError::BadHashCount { k: u32::MAX })
        );
        assert!(t.elapsed().as_secs_f64() < 1.0);
        assert_eq!(
            Tlbf::from_bytes(&header(0, 64)),
            Err(TlbfError::BadHashCount { k: 0 })
        );
        // Building never makes a filter it could not read.
        assert_eq!(Tlbf::with_params(64, u32::MAX, [0; 8]).k(), MAX_K);
        assert!(matches!(sizing(10, 1e-30), Err(TlbfError::BadSizing(_))));
    }

    #[test]
    fn m_cap_boundary_is_checked_before_the_bitmap() {
        // At the cap the header is accepted (the file is then too short).
        let at = header(3, MAX_BITS);
        assert_eq!(Tlbf::check_header(&at).unwrap().file_len, 68 + MAX_BITS / 8);
        assert!(matches!(
            Tlbf::from_bytes(&at),
            Err(TlbfError::LengthMismatch { .. })
        ));
        let over = header(3, MAX_BITS + 64);
        assert_eq!(
            Tlbf::from_bytes(&over),
            Err(TlbfError::BadBitCount { m: MAX_BITS + 64 })
        );
        // A reader refuses a short file from its declared length alone.
        assert!(matches!(
            Tlbf::read_from_len(&at[..], Some(at.len() as u64)),
            Err(TlbfError::LengthMismatch { .. })
        ));
        // Streamed: reads only what the header declares, plus one byte.
        let mut f = Tlbf::with_params(256, 4, [2; 8]);
        f.insert(&[5; 32]);
        let good = f.to_bytes();
        assert_eq!(Tlbf::read_from(&good[..]).unwrap(), f);
        let mut long = good.clone();
        long.extend_from_slice(&[0; 100]);
        assert!(matches!(
            Tlbf::read_from(&long[..]),
            Err(TlbfError::LengthMismatch { .. })
        ));
        assert!(matches!(
            sizing(u64::MAX / 4, 0.001),
            Err(TlbfError::BadSizing(_))
        ));
    }

    proptest! {
        #[test]
        fn no_false_negatives_and_roundtrip(tokens in proptest::collection::vec(any::<[u8; 32]>(), 0..200), p in 0.0001f64..0.5) {
            let f = Tlbf::build(tokens.iter(), p, [9; 8]).unwrap();
            prop_assert_eq!(f.n(), tokens.len() as u64);
            for t in &tokens { prop_assert!(f.contains(t)); }
            let back = Tlbf::from_bytes(&f.to_bytes()).unwrap();
            prop_assert_eq!(back, f);
        }

        #[test]
        fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let a = Tlbf::from_bytes(&bytes);
            let b = Tlbf::read_from(&bytes[..]);
            prop_assert_eq!(a.is_ok(), b.is_ok());
        }
    }
}
