//! CLKs (Cryptographic Long-term Keys) byte-identical to clkhash 0.18 for
//! linkage schema v3 (DESIGN §4.6), and trialink's opt-in hardening.
//!
//! ```text
//! secret ──HKDF(kdf.hash, salt, info)──► K0/K1 per feature (ignored ones count)
//! value ──missingValue / format (date→%Y%m%d, integer→decimal)──► tokens
//!       ──ngram (padded, positional) | exact──► k bits per token
//!       ──blakeHash (BLAKE2b keyed K0, salt str(j)) | doubleHash (HMAC-SHA1 K0, HMAC-MD5 K1)
//!       ──OR over features, XOR-fold──► bits, bit 0 = MSB of byte 0 ──► base64
//! ```
//!
//! Bits are held as `u64` words in which bit position `p` is bit `63 − p mod 64`
//! of word `p / 64`, so that the big-endian bytes of the words are exactly
//! clkhash's serialisation, and popcounts (for Dice) work on whole words.
//!
//! Extensions under the schema's `"trialink"` key (see [`schema::Hardening`]):
//! record-level salting, randomised response, and keyed blocking keys
//! ([`ClkEncoder::blocking_keys`]). Salting and randomised response change
//! the bits, so such CLKs only link with CLKs made under the same schema.

pub mod blake2b;
pub mod datefmt;
pub mod prefixmac;
pub mod row;
pub mod schema;

use base64::Engine;
use blake2b::KeyedBlake2b;
use hmac::{Hmac, Mac};
use md5::Md5;
use rayon::prelude::*;
use schema::{Case, Comparison, Format, HashType, Part, Schema, TextEncoding, Transform};
use sha1::Sha1;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// The secret CLKs are keyed with. Zeroized on drop, `Debug` redacted, no
/// `Display`.
pub struct ClkSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for ClkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClkSecret(<redacted>)")
    }
}

impl ClkSecret {
    /// The secret as given (clkhash takes the UTF-8 bytes of its secret string).
    pub fn from_bytes(b: &[u8]) -> Self {
        ClkSecret(Zeroizing::new(b.to_vec()))
    }

    /// The content of a secret file, less one trailing newline (`\n` or `\r\n`).
    pub fn from_file_content(b: &[u8]) -> Self {
        let b = b
            .strip_suffix(b"\n")
            .map(|b| b.strip_suffix(b"\r").unwrap_or(b))
            .unwrap_or(b);
        Self::from_bytes(b)
    }

    /// Read a secret file (its content less one trailing newline); the
    /// buffer read is zeroized.
    pub fn read_file(path: &std::path::Path) -> std::io::Result<Self> {
        let bytes = Zeroizing::new(tabular::limited::read(path, tabular::limited::KEY)?);
        Ok(Self::from_file_content(&bytes))
    }

    /// The secret derived from a trialink key (DESIGN §8): the 64 lowercase
    /// hex characters of `HKDF-SHA256(salt = "trialink-v1", ikm = key,
    /// info = "clk-secret")`, 32 bytes.
    pub fn from_trialink_key(key: &[u8]) -> Self {
        let mut okm = hkdf(
            ring::hkdf::HKDF_SHA256,
            Some(b"trialink-v1"),
            key,
            b"clk-secret",
            32,
        )
        .expect("32 bytes is within HKDF's limit");
        let secret = hex::encode(&*okm);
        okm.zeroize();
        ClkSecret(Zeroizing::new(secret.into_bytes()))
    }

    /// The single accessor to the secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

struct Len(usize);
impl ring::hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf(
    alg: ring::hkdf::Algorithm,
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[u8],
    n: usize,
) -> Result<Zeroizing<Vec<u8>>, ()> {
    let prk = ring::hkdf::Salt::new(alg, salt.unwrap_or(&[])).extract(ikm);
    let info = [info];
    let okm = prk.expand(&info, Len(n)).map_err(|_| ())?;
    let mut out = Zeroizing::new(vec![0u8; n]);
    okm.fill(&mut out).map_err(|_| ())?;
    Ok(out)
}

/// Why an encoder could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncoderError {
    /// HKDF cannot produce `2 × features × keySize` bytes (more than 255 hash blocks).
    #[error("the schema needs {needed} bytes of key material, more than HKDF can derive ({max}); use fewer features or a smaller keySize")]
    TooMuchKeyMaterial {
        /// Bytes needed.
        needed: usize,
        /// HKDF's limit for the hash.
        max: usize,
    },
    /// The secret is empty.
    #[error("the CLK secret is empty")]
    EmptySecret,
}

/// Why one value of a record could not be encoded. Names the feature and the
/// rule, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("feature `{feature}`: {problem}")]
pub struct ValueError {
    /// The feature's identifier (the CSV column).
    pub feature: String,
    /// What is wrong.
    pub problem: ValueProblem,
}

/// What is wrong with a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueProblem {
    /// Not a base-10 integer.
    #[error("expected a base-10 integer")]
    NotAnInteger,
    /// Outside `minimum..=maximum`.
    #[error("integer outside the schema's range")]
    OutOfRange,
    /// Does not match the date format or is not a real date.
    #[error("expected a real date in the schema's format `{0}`")]
    NotADate(String),
    /// Not one of the enum's values.
    #[error("expected one of the schema's enum values")]
    NotInEnum,
    /// Shorter than `minLength`.
    #[error("shorter than minLength {0}")]
    TooShort(usize),
    /// Longer than `maxLength`.
    #[error("longer than maxLength {0}")]
    TooLong(usize),
    /// Not in the required case.
    #[error("expected {0} case")]
    WrongCase(&'static str),
    /// Does not match the string format's `pattern` in full.
    #[error("does not match the schema's pattern")]
    PatternMismatch,
    /// Has characters the encoding cannot represent.
    #[error("has characters that {0} cannot encode")]
    NotEncodable(&'static str),
    /// Longer than [`schema::MAX_VALUE_BYTES`] bytes: refused before any
    /// hashing, so one long cell cannot cost minutes.
    #[error(
        "longer than {} bytes (the encoder's limit for one value)",
        schema::MAX_VALUE_BYTES
    )]
    ValueTooLong,
}

impl ValueProblem {
    /// A short reason code for rejects files.
    pub fn code(&self) -> &'static str {
        match self {
            ValueProblem::NotAnInteger => "not_an_integer",
            ValueProblem::OutOfRange => "out_of_range",
            ValueProblem::NotADate(_) => "not_a_date",
            ValueProblem::NotInEnum => "not_in_enum",
            ValueProblem::TooShort(_) => "too_short",
            ValueProblem::TooLong(_) => "too_long",
            ValueProblem::WrongCase(_) => "wrong_case",
            ValueProblem::PatternMismatch => "pattern_mismatch",
            ValueProblem::NotEncodable(_) => "not_encodable",
            ValueProblem::ValueTooLong => "value_too_long",
        }
    }
}

// One per feature, built once: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum Hasher {
    Blake(Vec<KeyedBlake2b>),
    Double {
        sha1: Hmac<Sha1>,
        md5: Hmac<Md5>,
        prevent_singularity: bool,
    },
}

struct FeatureEncoder {
    identifier: String,
    spec: schema::FeatureSpec,
    date_format_text: String,
    hasher: Hasher,
}

/// Encodes records into CLKs under one schema and secret.
pub struct ClkEncoder {
    schema: Schema,
    features: Vec<Option<FeatureEncoder>>,
    hash_l: usize,
    /// Per blocking pass, the blocking MAC with the fixed prefix
    /// `"trialink-block-v1" 0 name`.
    pass_macs: Vec<prefixmac::PrefixMac>,
    rr_key: Hmac<Sha256>,
    id: u64,
}

impl std::fmt::Debug for ClkEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClkEncoder")
            .field("l", &self.schema.l)
            .field("features", &self.schema.features.len())
            .finish_non_exhaustive()
    }
}

/// Per-record working buffers (n-grams, token bytes, bits, blocking parts).
#[derive(Default)]
struct Work {
    padded: String,
    offsets: Vec<usize>,
    tok: Vec<u8>,
    bits: Vec<u64>,
    part: String,
    /// A feature's bits (value-cache miss) and a token's bits (token-cache miss).
    tmp_value: Vec<u64>,
    tmp_token: Vec<u64>,
    cache: TokenCache,
}

/// The parts of [`Work`] that tokenising one feature value needs.
struct FeatureBuffers<'a> {
    padded: &'a mut String,
    offsets: &'a mut Vec<usize>,
    tok: &'a mut Vec<u8>,
    tmp_token: &'a mut Vec<u64>,
}

/// Reusable per-thread buffers (and token cache) for
/// [`ClkEncoder::encode_into`] and [`ClkEncoder::encode_with`]: after
/// `encode_into` the CLK is [`Scratch::clk`] and the blocking cell
/// [`Scratch::blocking`]. Nothing is allocated per record once the buffers
/// have grown. Zeroized on drop (it holds values, n-grams and keyed digests).
#[derive(Default)]
pub struct Scratch {
    work: Work,
    /// The record's formatted values, concatenated.
    fmt: String,
    /// Feature i's formatted value is `fmt[spans[i].0..spans[i].1]`.
    spans: Vec<Option<(usize, usize)>>,
    out: Vec<u64>,
    blocking: String,
}

impl Scratch {
    /// Buffers with a token cache of `cap` entries (0 = no cache).
    pub fn with_cache(cap: usize) -> Self {
        let mut s = Scratch::default();
        s.work.cache = TokenCache::with_capacity(cap);
        s
    }

    /// The CLK last encoded by [`ClkEncoder::encode_into`]:
    /// [`words_for`]`(l)` words.
    pub fn clk(&self) -> &[u64] {
        &self.out
    }

    /// The blocking cell last computed by [`ClkEncoder::encode_into`]
    /// (`name=hex16` items joined by `;`; empty without blocking).
    pub fn blocking(&self) -> &str {
        &self.blocking
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.work.padded.zeroize();
        self.work.tok.zeroize();
        self.work.part.zeroize();
        self.fmt.zeroize();
    }
}

thread_local! {
    static THREAD_SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

static NEXT_ENCODER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Words needed for `l` bits.
pub fn words_for(l: usize) -> usize {
    l.div_ceil(64)
}

#[inline]
fn set_bit(bits: &mut [u64], p: usize) {
    bits[p >> 6] |= 1u64 << (63 - (p & 63));
}

#[inline]
fn get_bit(bits: &[u64], p: usize) -> bool {
    bits[p >> 6] & (1u64 << (63 - (p & 63))) != 0
}

/// `int_be(bytes) mod m` for `m < 2^48` (L' is at most 2^28 here).
#[inline]
fn be_mod(bytes: &[u8], m: u64) -> u64 {
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
    fn material(&self, j: usize, tok: &[u8], l: usize) -> [u64; 8] {
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
    fn set_bits(
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

/// A per-thread cache of keyed token hashes and of the bits they set, as
/// clkhash keeps (`lru_cache`) but finer: names, dates and codes repeat a
/// great deal, and a lookup costs a fraction of a BLAKE2b compression or two
/// HMACs, and far less than setting the bits one by one.
///
/// Three kinds of entry, in two fixed-size two-way set-associative tables
/// (no chaining, no per-entry allocation; a lookup is one multiply-mix and
/// two inline key compares; a miss evicts the older way):
/// - **value bitmaps**: a whole feature value (≤ 24 bytes) → the bits its
///   tokens set. Given names, family names and codes hit almost always;
///   features whose values rarely repeat (dates, postcodes) are noticed
///   (hit rate under a half over 4096 lookups) and go token by token.
/// - **token bitmaps**: a token and its k → its k bits (positional date
///   digits: a few dozen tokens in all; postcode bigrams: a few thousand).
/// - **hash material**: a token (≤ 24 bytes) → the BLAKE2b digest or the
///   doubleHash pair, from which the bits are set (token-bitmap misses, and
///   every token when bitmaps are not kept).
///
/// Bitmaps are kept when the hashed length `l·2^xor_folds` is at most
/// 4096 bits and there is no record-level salt. Keys are exact (feature,
/// kind, k or salt index, length and bytes), so output never depends on
/// the cache. Tied to one encoder (cleared when another binds it),
/// allocated on first use, zeroized on clear and drop (it holds values,
/// n-grams and keyed digests).
pub struct TokenCache {
    material: Table,
    bitmaps: Table,
    /// Per feature: value-bitmap lookups and hits since the last check,
    /// and whether value bitmaps are still in use.
    stats: Vec<ValueStats>,
    owner: u64,
    seed: u64,
}

#[derive(Clone, Copy)]
struct ValueStats {
    lookups: u32,
    hits: u32,
    on: bool,
}

/// Longest token or value cached (longer ones are hashed every time).
const CACHE_TOKEN_MAX: usize = 24;
/// Key words per slot: meta, then 3 words of token bytes.
const SLOT_KEY: usize = 4;
/// Largest hashed length kept as bitmaps (64 words a slot at most).
const BITMAP_MAX_BITS: usize = 4096;
/// Default slots of each table: 16384 material slots × 96 bytes and 16384
/// bitmap slots × 160 bytes (l = 1024), about 4 MiB per thread. Measured
/// with `trialink encode` on 1M synthetic people (CPU seconds): 2048 slots
/// 5.0, 4096 3.6–4.3, 8192 3.5–3.6, 16384 3.2–3.5, 32768 3.4 (the working
/// set — a few thousand names, postcode bigrams at each k — no longer fits
/// below 16384).
const DEFAULT_CACHE_SLOTS: usize = 1 << 14;
/// Value-bitmap hit-rate check interval (lookups).
const VALUE_CHECK: u32 = 4096;

const KIND_MATERIAL: u64 = 0;
const KIND_TOKEN_BITS: u64 = 1;
const KIND_VALUE_BITS: u64 = 2;

/// A fixed-size two-way set-associative table of `[key; SLOT_KEY]` +
/// value words, `stride` words a slot.
struct Table {
    slots: Vec<u64>,
    stride: usize,
    /// Slots (a power of two, at least 2), or 0 when disabled.
    cap: usize,
}

impl Table {
    fn new(cap: usize) -> Self {
        Table {
            slots: Vec::new(),
            stride: 0,
            cap: if cap == 0 {
                0
            } else {
                cap.next_power_of_two().max(2)
            },
        }
    }

    /// Make sure the table is allocated with `value_words` per slot.
    #[inline]
    fn ready(&mut self, value_words: usize) {
        let stride = SLOT_KEY + value_words;
        if self.stride != stride || self.slots.len() != self.cap * stride {
            self.slots.zeroize();
            self.stride = stride;
            self.slots.resize(self.cap * stride, 0);
        }
    }

    /// The value words of `key`'s slot, or the set to insert into.
    #[inline]
    fn find(&self, key: &[u64; SLOT_KEY], h: u64) -> Result<usize, usize> {
        let set = (h >> 32) as usize & (self.cap - 2);
        for way in set..set + 2 {
            let o = way * self.stride;
            let k = &self.slots[o..o + SLOT_KEY];
            if (k[0] ^ key[0]) | (k[1] ^ key[1]) | (k[2] ^ key[2]) | (k[3] ^ key[3]) == 0 {
                return Ok(o + SLOT_KEY);
            }
        }
        Err(set)
    }

    #[inline]
    fn value(&self, at: usize) -> &[u64] {
        &self.slots[at..at + self.stride - SLOT_KEY]
    }

    /// Put `key` → `value` first in `set`, the previous first entry second.
    #[inline]
    fn insert(&mut self, set: usize, key: &[u64; SLOT_KEY], value: &[u64]) {
        let (a, b) = (set * self.stride, (set + 1) * self.stride);
        self.slots.copy_within(a..b, b);
        self.slots[a..a + SLOT_KEY].copy_from_slice(key);
        self.slots[a + SLOT_KEY..b].copy_from_slice(value);
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::with_capacity(DEFAULT_CACHE_SLOTS)
    }
}

/// A per-process random seed for slot placement (not a MAC: it only spreads
/// entries, so adversarial tokens cannot be chosen to collide in advance).
fn cache_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish() | 1
}

/// The exact key of an entry and its placement hash, or `None` when the
/// bytes are too long (or the indices too large) to cache.
#[inline]
fn cache_key(seed: u64, kind: u64, fidx: usize, n: usize, bytes: &[u8]) -> Option<([u64; SLOT_KEY], u64)> {
    if bytes.len() > CACHE_TOKEN_MAX || fidx > 0xffff || n > 0xf_ffff {
        return None;
    }
    let mut w = [0u64; 3];
    for (i, &b) in bytes.iter().enumerate() {
        w[i >> 3] |= (b as u64) << ((i & 7) * 8);
    }
    // Never 0, so an all-zero slot is empty.
    let meta = 1 | kind << 1 | (bytes.len() as u64) << 8 | (n as u64) << 16 | (fidx as u64) << 40;
    let mut h = (meta ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ w[0].wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
        ^ w[1].wrapping_mul(0x1656_67b1_9e37_79f9)
        ^ w[2].wrapping_mul(0x27d4_eb2f_1656_67c5);
    h ^= h >> 31;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    Some(([meta, w[0], w[1], w[2]], h))
}

#[inline]
fn or_into(dst: &mut [u64], src: &[u64]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d |= *s;
    }
}

impl TokenCache {
    /// A cache of about `cap` entries of each kind (rounded up to a power
    /// of two; 0 disables caching).
    pub fn with_capacity(cap: usize) -> Self {
        TokenCache {
            material: Table::new(cap),
            bitmaps: Table::new(cap),
            stats: Vec::new(),
            owner: 0,
            seed: cache_seed(),
        }
    }

    fn bind(&mut self, owner: u64, features: usize) {
        if self.owner != owner {
            self.material.slots.zeroize();
            self.bitmaps.slots.zeroize();
            self.stats.clear();
            self.stats.resize(
                features,
                ValueStats {
                    lookups: 0,
                    hits: 0,
                    on: true,
                },
            );
            self.owner = owner;
        }
    }

    /// Whether bitmaps are kept for a hashed length of `hash_l` bits.
    #[inline]
    fn bitmaps_for(&self, hash_l: usize) -> bool {
        self.bitmaps.cap != 0 && hash_l <= BITMAP_MAX_BITS
    }

    /// Whether feature `fidx`'s values are still looked up whole.
    #[inline]
    fn value_mode(&self, fidx: usize) -> bool {
        self.stats[fidx].on
    }

    #[inline]
    fn count_value(&mut self, fidx: usize, hit: bool) {
        let st = &mut self.stats[fidx];
        st.lookups += 1;
        st.hits += u32::from(hit);
        if st.lookups == VALUE_CHECK {
            st.on = st.hits * 2 >= st.lookups;
            st.lookups = 0;
            st.hits = 0;
        }
    }

    /// OR the cached bitmap of (`kind`, `fidx`, `n`, `bytes`) into `dst`, or
    /// compute it with `fill` (into `tmp`, zeroed), cache it and OR it.
    /// `false` (and nothing done) when the bytes cannot be cached.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn or_bitmap(
        &mut self,
        kind: u64,
        fidx: usize,
        n: usize,
        bytes: &[u8],
        dst: &mut [u64],
        tmp: &mut Vec<u64>,
        fill: impl FnOnce(&mut [u64], &mut TokenCache),
    ) -> Option<bool> {
        let (key, h) = cache_key(self.seed, kind, fidx, n, bytes)?;
        self.bitmaps.ready(dst.len());
        match self.bitmaps.find(&key, h) {
            Ok(at) => {
                or_into(dst, self.bitmaps.value(at));
                Some(true)
            }
            Err(set) => {
                tmp.clear();
                tmp.resize(dst.len(), 0);
                fill(tmp, self);
                self.bitmaps.insert(set, &key, tmp);
                or_into(dst, tmp);
                Some(false)
            }
        }
    }

    #[inline]
    fn get_or(&mut self, fidx: usize, j: usize, tok: &[u8], f: impl FnOnce() -> [u64; 8]) -> [u64; 8] {
        if self.material.cap == 0 || j > 0xff {
            return f();
        }
        let Some((key, h)) = cache_key(self.seed, KIND_MATERIAL, fidx, j, tok) else {
            return f();
        };
        self.material.ready(8);
        match self.material.find(&key, h) {
            Ok(at) => {
                let mut v = [0u64; 8];
                v.copy_from_slice(self.material.value(at));
                v
            }
            Err(set) => {
                let v = f();
                self.material.insert(set, &key, &v);
                v
            }
        }
    }
}

impl Drop for TokenCache {
    fn drop(&mut self) {
        self.material.slots.zeroize();
        self.bitmaps.slots.zeroize();
    }
}

/// The formatted values of one record: feature i's is `buf[spans[i]]`
/// (`None` for ignored features).
#[derive(Clone, Copy)]
struct Values<'a> {
    buf: &'a str,
    spans: &'a [Option<(usize, usize)>],
}

impl<'a> Values<'a> {
    #[inline]
    fn get(&self, i: usize) -> Option<&'a str> {
        self.spans[i].map(|(a, b)| &self.buf[a..b])
    }
}

/// Append `n` in decimal (positional n-gram prefixes).
#[inline]
fn push_decimal(buf: &mut Vec<u8>, mut n: usize) {
    let mut d = [0u8; 20];
    let mut i = d.len();
    loop {
        i -= 1;
        d[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&d[i..]);
}

fn encodable(s: &str, enc: TextEncoding) -> Result<(), &'static str> {
    match enc {
        TextEncoding::Utf8 => Ok(()),
        TextEncoding::Ascii => s.is_ascii().then_some(()).ok_or("ascii"),
        TextEncoding::Latin1 => s.chars().all(|c| (c as u32) < 256).then_some(()).ok_or("latin-1"),
    }
}

fn push_encoded(buf: &mut Vec<u8>, s: &str, enc: TextEncoding) {
    match enc {
        TextEncoding::Utf8 | TextEncoding::Ascii => buf.extend_from_slice(s.as_bytes()),
        TextEncoding::Latin1 => buf.extend(s.chars().map(|c| c as u32 as u8)),
    }
}

/// Python's `str(int(s, 10))` for ASCII input: surrounding whitespace, a
/// sign, digits with single underscores between them.
fn canonical_integer(s: &str) -> Option<(String, i128)> {
    let t = s.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let b = body.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() || !b[b.len() - 1].is_ascii_digit() {
        return None;
    }
    let mut digits = String::with_capacity(b.len());
    let mut prev_us = false;
    for &c in b {
        if c == b'_' {
            if prev_us {
                return None;
            }
            prev_us = true;
        } else if c.is_ascii_digit() {
            prev_us = false;
            digits.push(c as char);
        } else {
            return None;
        }
    }
    let stripped = digits.trim_start_matches('0');
    let stripped = if stripped.is_empty() { "0" } else { stripped };
    let value: i128 = stripped.parse().ok()?;
    let value = if neg { -value } else { value };
    let out = if neg && stripped != "0" {
        format!("-{stripped}")
    } else {
        stripped.to_string()
    };
    Some((out, value))
}

impl ClkEncoder {
    /// Derive keys for every feature and pre-key the hash states.
    pub fn new(schema: Schema, secret: &ClkSecret) -> Result<Self, EncoderError> {
        if secret.expose().is_empty() {
            return Err(EncoderError::EmptySecret);
        }
        let ks = schema.kdf.key_size;
        let n = 2 * schema.features.len() * ks;
        let (alg, hlen) = match schema.kdf.hash {
            schema::KdfHash::Sha256 => (ring::hkdf::HKDF_SHA256, 32),
            schema::KdfHash::Sha512 => (ring::hkdf::HKDF_SHA512, 64),
        };
        let okm = hkdf(
            alg,
            schema.kdf.salt.as_deref(),
            secret.expose(),
            schema.kdf.info.as_deref().unwrap_or(&[]),
            n,
        )
        .map_err(|_| EncoderError::TooMuchKeyMaterial {
            needed: n,
            max: 255 * hlen,
        })?;
        let features = schema
            .features
            .iter()
            .enumerate()
            .map(|(i, f)| {
                f.spec.as_ref().map(|spec| {
                    let k0 = &okm[2 * i * ks..(2 * i + 1) * ks];
                    let k1 = &okm[(2 * i + 1) * ks..(2 * i + 2) * ks];
                    let hasher = match spec.hash {
                        HashType::Blake => Hasher::Blake(
                            (0..spec.strategy.max_k().div_ceil(32).max(1))
                                .map(|j| KeyedBlake2b::new(k0, j.to_string().as_bytes()))
                                .collect(),
                        ),
                        HashType::Double { prevent_singularity } => Hasher::Double {
                            sha1: Hmac::<Sha1>::new_from_slice(k0).expect("HMAC takes any key length"),
                            md5: Hmac::<Md5>::new_from_slice(k1).expect("HMAC takes any key length"),
                            prevent_singularity,
                        },
                    };
                    let date_format_text = match &spec.format {
                        Format::Date { format } => format.as_str().to_string(),
                        _ => String::new(),
                    };
                    FeatureEncoder {
                        identifier: f.identifier.clone(),
                        spec: spec.clone(),
                        date_format_text,
                        hasher,
                    }
                })
            })
            .collect();
        let mut bk = hkdf(
            ring::hkdf::HKDF_SHA256,
            Some(b"trialink-v1"),
            secret.expose(),
            b"clk-blocking",
            32,
        )
        .expect("32 bytes");
        let pass_macs = schema
            .hardening
            .blocking
            .iter()
            .map(|pass| match &pass.filter {
                // A filter's bit positions depend on its group, not the
                // pass name, so filters of one group are comparable.
                Some(group) => {
                    let mut prefix = b"trialink-field-v1\x00".to_vec();
                    prefix.extend_from_slice(group.as_bytes());
                    prefix.push(0);
                    prefixmac::PrefixMac::new(&bk, &prefix)
                }
                None => {
                    let mut prefix = b"trialink-block-v1\x00".to_vec();
                    prefix.extend_from_slice(pass.name.as_bytes());
                    prefixmac::PrefixMac::new(&bk, &prefix)
                }
            })
            .collect();
        bk.zeroize();
        let mut rk = hkdf(
            ring::hkdf::HKDF_SHA256,
            Some(b"trialink-v1"),
            secret.expose(),
            b"clk-randomised-response",
            32,
        )
        .expect("32 bytes");
        let rr_key = Hmac::<Sha256>::new_from_slice(&rk).expect("any key length");
        rk.zeroize();
        let hash_l = schema.hash_l();
        let id = NEXT_ENCODER_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(ClkEncoder {
            schema,
            features,
            hash_l,
            pass_macs,
            rr_key,
            id,
        })
    }

    /// The schema this encoder implements.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Output length in bits.
    pub fn l(&self) -> usize {
        self.schema.l
    }

    /// Validate and format one value as clkhash does (missing-value sentinel
    /// first, then the format's rules), appending it to `buf`. `Ok(false)`
    /// for ignored features.
    fn format_value_into(&self, i: usize, raw: &str, buf: &mut String) -> Result<bool, ValueError> {
        let Some(fe) = &self.features[i] else {
            return Ok(false);
        };
        let spec = &fe.spec;
        if raw.len() > schema::MAX_VALUE_BYTES {
            return Err(ValueError {
                feature: fe.identifier.clone(),
                problem: ValueProblem::ValueTooLong,
            });
        }
        if let Some(m) = &spec.missing {
            if m.sentinel == raw {
                buf.push_str(&m.replace_with);
                return Ok(true);
            }
        }
        let err = |problem| ValueError {
            feature: fe.identifier.clone(),
            problem,
        };
        encodable(raw, spec.encoding).map_err(|e| err(ValueProblem::NotEncodable(e)))?;
        match &spec.format {
            Format::String {
                case,
                min_length,
                max_length,
                pattern,
            } => {
                if min_length.is_some() || max_length.is_some() {
                    let n = raw.chars().count();
                    if let Some(min) = min_length {
                        if n < *min {
                            return Err(err(ValueProblem::TooShort(*min)));
                        }
                    }
                    if let Some(max) = max_length {
                        if n > *max {
                            return Err(err(ValueProblem::TooLong(*max)));
                        }
                    }
                }
                match case {
                    Case::Mixed => {}
                    Case::Upper => {
                        if raw.to_uppercase() != raw {
                            return Err(err(ValueProblem::WrongCase("upper")));
                        }
                    }
                    Case::Lower => {
                        if raw.to_lowercase() != raw {
                            return Err(err(ValueProblem::WrongCase("lower")));
                        }
                    }
                }
                if let Some(p) = pattern {
                    if !p.full_match(raw) {
                        return Err(err(ValueProblem::PatternMismatch));
                    }
                }
                buf.push_str(raw);
            }
            Format::Integer { minimum, maximum } => {
                let (s, v) = canonical_integer(raw).ok_or_else(|| err(ValueProblem::NotAnInteger))?;
                if minimum.is_some_and(|m| v < m) || maximum.is_some_and(|m| v > m) {
                    return Err(err(ValueProblem::OutOfRange));
                }
                buf.push_str(&s);
            }
            Format::Date { format } => {
                if !format.normalise_into(raw, buf) {
                    return Err(err(ValueProblem::NotADate(fe.date_format_text.clone())));
                }
            }
            Format::Enum { values } => {
                if !values.contains(raw) {
                    return Err(err(ValueProblem::NotInEnum));
                }
                buf.push_str(raw);
            }
        }
        Ok(true)
    }

    /// Format every value of `record` into `buf`, feature i's at `spans[i]`.
    fn format_into(
        &self,
        record: &[&str],
        buf: &mut String,
        spans: &mut Vec<Option<(usize, usize)>>,
    ) -> Result<(), ValueError> {
        assert_eq!(record.len(), self.features.len(), "one value per schema feature");
        buf.clear();
        spans.clear();
        for (i, raw) in record.iter().enumerate() {
            let start = buf.len();
            let present = self.format_value_into(i, raw, buf)?;
            spans.push(present.then_some((start, buf.len())));
        }
        Ok(())
    }

    /// Encode one record: `record[i]` is the value of schema feature `i`
    /// (ignored features' values are not looked at). Returns
    /// [`words_for`]`(l)` words.
    pub fn encode(&self, record: &[&str]) -> Result<Vec<u64>, ValueError> {
        self.encode_with(record, &mut Scratch::with_cache(0))
    }

    /// [`ClkEncoder::encode`] with reusable buffers.
    pub fn encode_with(&self, record: &[&str], s: &mut Scratch) -> Result<Vec<u64>, ValueError> {
        self.encode_into(record, s, false)?;
        Ok(s.out.clone())
    }

    /// Encode one record and compute its blocking keys (formatting the
    /// values once): the CLK words and the `blocking` cell.
    pub fn encode_and_block(
        &self,
        record: &[&str],
        s: &mut Scratch,
    ) -> Result<(Vec<u64>, String), ValueError> {
        self.encode_into(record, s, true)?;
        Ok((s.out.clone(), s.blocking.clone()))
    }

    /// Encode one record into `s` without allocating: the CLK is then
    /// [`Scratch::clk`] and, with `blocking`, the blocking cell
    /// [`Scratch::blocking`] (as [`ClkEncoder::blocking_keys`] gives it).
    pub fn encode_into(&self, record: &[&str], s: &mut Scratch, blocking: bool) -> Result<(), ValueError> {
        let Scratch {
            work,
            fmt,
            spans,
            out,
            blocking: cell,
        } = s;
        cell.clear();
        out.clear();
        self.format_into(record, fmt, spans)?;
        let v = Values { buf: fmt, spans };
        self.encode_values(v, work, out);
        if blocking {
            self.blocking_values(v, &mut work.part, cell);
        }
        Ok(())
    }

    /// Set the bits of one feature value's tokens in `dst`.
    #[allow(clippy::too_many_arguments)]
    fn feature_bits(
        &self,
        fidx: usize,
        fe: &FeatureEncoder,
        value: &str,
        prefix: usize,
        bitmaps: bool,
        b: &mut FeatureBuffers<'_>,
        cache: &mut TokenCache,
        dst: &mut [u64],
    ) {
        let spec = &fe.spec;
        let hash_l = self.hash_l;
        let tmp_token = &mut *b.tmp_token;
        let mut put = |tok: &[u8], k: usize, dst: &mut [u64], cache: &mut TokenCache| {
            if bitmaps
                && cache
                    .or_bitmap(KIND_TOKEN_BITS, fidx, k, tok, dst, tmp_token, |t, c| {
                        fe.hasher.set_bits(fidx, tok, k, hash_l, t, c)
                    })
                    .is_some()
            {
                return;
            }
            fe.hasher.set_bits(fidx, tok, k, hash_l, dst, cache);
        };
        let tok = &mut *b.tok;
        match spec.comparison {
            Comparison::Exact => {
                tok.truncate(prefix);
                push_encoded(tok, value, spec.encoding);
                put(tok, spec.strategy.k_for(0, 1), dst, cache);
            }
            Comparison::Ngram { n, positional } => {
                if value.is_empty() {
                    return;
                }
                let (padded, offsets) = (&mut *b.padded, &mut *b.offsets);
                padded.clear();
                if n > 1 {
                    padded.extend(std::iter::repeat_n(' ', n - 1));
                }
                padded.push_str(value);
                if n > 1 {
                    padded.extend(std::iter::repeat_n(' ', n - 1));
                }
                offsets.clear();
                offsets.extend(padded.char_indices().map(|(o, _)| o));
                offsets.push(padded.len());
                let chars = offsets.len() - 1;
                if chars + 1 < n {
                    return;
                }
                let t = chars + 1 - n;
                for i in 0..t {
                    tok.truncate(prefix);
                    if positional {
                        push_decimal(tok, i + 1);
                        tok.push(b' ');
                    }
                    let gram = &padded[offsets[i]..offsets[i + n]];
                    push_encoded(tok, gram, spec.encoding);
                    put(tok, spec.strategy.k_for(i, t), dst, cache);
                }
            }
        }
    }

    fn encode_values(&self, v: Values<'_>, s: &mut Work, out: &mut Vec<u64>) {
        let hash_l = self.hash_l;
        s.bits.clear();
        s.bits.resize(words_for(hash_l), 0);
        // Record-level salt (extension): prefix every token.
        s.tok.clear();
        if let Some(part) = &self.schema.hardening.record_salt {
            s.part.clear();
            apply_transform_into(part.transform, v.get(part.feature).unwrap_or(""), &mut s.part);
            s.tok.extend_from_slice(b"trialink-salt\x00");
            s.tok.extend_from_slice(s.part.as_bytes());
            s.tok.push(0);
        }
        let prefix = s.tok.len();
        s.cache.bind(self.id, self.features.len());
        let bitmaps = prefix == 0 && s.cache.bitmaps_for(hash_l);
        let Work {
            padded,
            offsets,
            tok,
            bits,
            tmp_value,
            tmp_token,
            cache,
            ..
        } = s;
        for (fidx, fe) in self.features.iter().enumerate() {
            let (Some(fe), Some(value)) = (fe, v.get(fidx)) else {
                continue;
            };
            let mut buffers = FeatureBuffers {
                padded: &mut *padded,
                offsets: &mut *offsets,
                tok: &mut *tok,
                tmp_token: &mut *tmp_token,
            };
            if bitmaps && cache.value_mode(fidx) {
                let hit = cache.or_bitmap(
                    KIND_VALUE_BITS,
                    fidx,
                    0,
                    value.as_bytes(),
                    bits,
                    tmp_value,
                    |dst, cache| {
                        self.feature_bits(fidx, fe, value, prefix, bitmaps, &mut buffers, cache, dst)
                    },
                );
                if let Some(hit) = hit {
                    cache.count_value(fidx, hit);
                    continue;
                }
            }
            self.feature_bits(fidx, fe, value, prefix, bitmaps, &mut buffers, cache, bits);
        }
        // XOR folding: left half XOR right half, repeatedly.
        let mut len = hash_l;
        for _ in 0..self.schema.xor_folds {
            let half = len / 2;
            if half & 63 == 0 {
                let hw = half / 64;
                for w in 0..hw {
                    bits[w] ^= bits[w + hw];
                }
            } else {
                for p in 0..half {
                    if get_bit(bits, p + half) {
                        bits[p >> 6] ^= 1u64 << (63 - (p & 63));
                    }
                }
            }
            len = half;
        }
        out.clear();
        out.extend_from_slice(&bits[..words_for(len)]);
        clear_tail(out, len);
        if let Some(eps) = self.schema.hardening.rr_epsilon {
            self.randomised_response(v, eps, len, out);
        }
    }

    fn randomised_response(&self, values: Values<'_>, eps: f64, l: usize, out: &mut [u64]) {
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        let mut mac = self.rr_key.clone();
        mac.update(b"trialink-rr-v1\x00");
        for i in 0..values.spans.len() {
            match values.get(i) {
                Some(v) => {
                    mac.update(&(v.len() as u64).to_le_bytes());
                    mac.update(v.as_bytes());
                }
                None => mac.update(&u64::MAX.to_le_bytes()),
            }
        }
        let seed: [u8; 32] = mac.finalize().into_bytes().into();
        let mut rng = rand_chacha::ChaCha20Rng::from_seed(seed);
        let f = 1.0 / (1.0 + eps.exp());
        let threshold = (f * 4294967296.0).round().min(u32::MAX as f64) as u32;
        for p in 0..l {
            if rng.next_u32() < threshold {
                out[p >> 6] ^= 1u64 << (63 - (p & 63));
            }
        }
    }

    /// Keyed blocking keys for the schema's blocking passes, as written in
    /// the `blocking` column: `name=hex16` joined by `;`, in schema order.
    /// A pass is left out when any of its parts is empty. Each key is the
    /// first 8 bytes of `HMAC-SHA256(K_block, "trialink-block-v1" 0 name (0 part)*)`
    /// with `K_block = HKDF-SHA256(salt "trialink-v1", secret, "clk-blocking")`,
    /// so a blocking file cannot be dictionary-attacked without the secret.
    pub fn blocking_keys(&self, record: &[&str]) -> Result<String, ValueError> {
        // This thread's buffers: no allocation beyond the returned cell.
        Self::with_thread_scratch(|s| {
            self.format_into(record, &mut s.fmt, &mut s.spans)?;
            let mut cell = String::new();
            self.blocking_values(
                Values {
                    buf: &s.fmt,
                    spans: &s.spans,
                },
                &mut s.work.part,
                &mut cell,
            );
            Ok(cell)
        })
    }

    fn blocking_values(&self, v: Values<'_>, part: &mut String, out: &mut String) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (pass, pre) in self.schema.hardening.blocking.iter().zip(&self.pass_macs) {
            // `(0 part)*`, each part non-empty.
            part.clear();
            let mut complete = true;
            for p in &pass.parts {
                part.push('\0');
                let before = part.len();
                apply_transform_into(p.transform, v.get(p.feature).unwrap_or(""), part);
                if part.len() == before {
                    complete = false;
                    break;
                }
            }
            if !complete {
                continue;
            }
            if pass.filter.is_some() {
                let f = field_filter(pre, &part[1..]);
                if !out.is_empty() {
                    out.push(';');
                }
                out.push_str(&pass.name);
                out.push('=');
                for b in f.to_be_bytes() {
                    out.push(HEX[(b >> 4) as usize] as char);
                    out.push(HEX[(b & 15) as usize] as char);
                }
                continue;
            }
            if pass.sorted {
                // The same parts in ascending order: order-free match key.
                let mut items: Vec<&str> = part.split('\0').skip(1).collect();
                items.sort_unstable();
                let mut joined = String::with_capacity(part.len());
                for it in items {
                    joined.push('\0');
                    joined.push_str(it);
                }
                *part = joined;
            }
            let d = pre.mac(part.as_bytes());
            if !out.is_empty() {
                out.push(';');
            }
            out.push_str(&pass.name);
            out.push('=');
            for b in &d[..8] {
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }

    /// Run `f` with this thread's [`Scratch`] (one per thread for the life
    /// of the thread, so the token cache survives across calls and batches);
    /// a fresh one if this thread's is already in use.
    pub fn with_thread_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
        THREAD_SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => f(&mut s),
            Err(_) => f(&mut Scratch::default()),
        })
    }

    /// Run `work(i, &mut outs[i], scratch)` for every item of `outs` on
    /// rayon's pool (each call with its thread's [`Scratch`]) while `side`
    /// runs beside them — e.g. reading the next batch of records — and
    /// return `side`'s result. Lets a caller keep its output in order
    /// (one buffer per chunk of rows) without depending on rayon itself.
    pub fn par_work_with<O: Send, R: Send>(
        outs: &mut [O],
        work: impl Fn(usize, &mut O, &mut Scratch) + Sync + Send,
        side: impl FnOnce() -> R + Send,
    ) -> R {
        rayon::join(side, || {
            outs.par_iter_mut()
                .enumerate()
                .for_each(|(i, o)| Self::with_thread_scratch(|s| work(i, o, s)))
        })
        .0
    }

    /// Map `f` over `items` on rayon's pool with one [`Scratch`] per worker,
    /// keeping order (for callers that encode rows of their own type).
    pub fn par_map<I: Sync, T: Send>(
        &self,
        items: &[I],
        f: impl Fn(&Self, &mut Scratch, &I) -> T + Sync + Send,
    ) -> Vec<T> {
        // One Scratch per worker thread for the life of the thread, so the
        // token cache survives across calls (rayon's map_init would make a
        // fresh one for every split of the work).
        items
            .par_iter()
            .with_min_len(64)
            .map(|i| {
                THREAD_SCRATCH.with(|cell| match cell.try_borrow_mut() {
                    Ok(mut s) => f(self, &mut s, i),
                    Err(_) => f(self, &mut Scratch::default(), i),
                })
            })
            .collect()
    }

    /// Encode many records in parallel (rayon), keeping order.
    pub fn encode_many(&self, records: &[Vec<&str>]) -> Vec<Result<Vec<u64>, ValueError>> {
        self.par_map(records, |e, s, r| e.encode_with(r, s))
    }
}

fn clear_tail(words: &mut [u64], l: usize) {
    let r = l % 64;
    if r != 0 {
        if let Some(last) = words.last_mut() {
            *last &= !0u64 << (64 - r);
        }
    }
}

/// Fold common Latin letters with diacritics to ASCII (for phonetic codes).
fn fold_ascii(c: char) -> Option<char> {
    let c = c.to_ascii_uppercase();
    if c.is_ascii_alphabetic() {
        return Some(c);
    }
    let base = match c {
        'À'..='Å' | 'à'..='å' | 'Ā' | 'ā' | 'Ą' | 'ą' => 'A',
        'Ç' | 'ç' | 'Ć' | 'ć' | 'Č' | 'č' => 'C',
        'Ď' | 'ď' | 'Đ' | 'đ' | 'Ð' | 'ð' => 'D',
        'È'..='Ë' | 'è'..='ë' | 'Ē' | 'ē' | 'Ę' | 'ę' | 'Ě' | 'ě' => 'E',
        'Ì'..='Ï' | 'ì'..='ï' | 'Ī' | 'ī' => 'I',
        'Ł' | 'ł' => 'L',
        'Ñ' | 'ñ' | 'Ń' | 'ń' | 'Ň' | 'ň' => 'N',
        'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' | 'Ō' | 'ō' | 'Ő' | 'ő' => 'O',
        'Ř' | 'ř' => 'R',
        'Ś' | 'ś' | 'Š' | 'š' | 'ß' => 'S',
        'Ť' | 'ť' => 'T',
        'Ù'..='Ü' | 'ù'..='ü' | 'Ū' | 'ū' | 'Ů' | 'ů' | 'Ű' | 'ű' => 'U',
        'Ý' | 'ý' | 'ÿ' | 'Ÿ' => 'Y',
        'Ź' | 'ź' | 'Ż' | 'ż' | 'Ž' | 'ž' => 'Z',
        _ => return None,
    };
    Some(base)
}

/// American Soundex (letters only; accents folded first). Empty when the
/// value has no letters.
pub fn soundex(s: &str) -> String {
    let mut out = String::with_capacity(4);
    soundex_into(s, &mut out);
    out
}

/// [`soundex`], appended to `out`.
pub fn soundex_into(s: &str, out: &mut String) {
    fn code(c: char) -> u8 {
        match c {
            'B' | 'F' | 'P' | 'V' => b'1',
            'C' | 'G' | 'J' | 'K' | 'Q' | 'S' | 'X' | 'Z' => b'2',
            'D' | 'T' => b'3',
            'L' => b'4',
            'M' | 'N' => b'5',
            'R' => b'6',
            'H' | 'W' => b'h',
            _ => b'0', // vowels and Y
        }
    }
    let mut letters = s.chars().filter_map(fold_ascii);
    let Some(first) = letters.next() else {
        return;
    };
    let mut code4 = [b'0'; 4];
    code4[0] = first as u8;
    let mut n = 1;
    let mut last = code(first);
    for c in letters {
        let d = code(c);
        if d == b'h' {
            continue;
        }
        if d != b'0' && d != last {
            code4[n] = d;
            n += 1;
            if n == 4 {
                break;
            }
        }
        last = d;
    }
    out.extend(code4.iter().map(|&b| b as char));
}

/// Bits each bigram sets in a field filter.
pub const FIELD_FILTER_K: usize = 2;

/// A 64-bit keyed Bloom filter of `value`'s bigrams, the value padded with
/// a space at each end: each bigram sets [`FIELD_FILTER_K`] bits, bit `i`
/// taken from byte `i` of `HMAC-SHA256(K_block, "trialink-field-v1" 0 group 0 bigram)`
/// modulo 64 (bit 0 the most significant). Characters, not bytes, form bigrams.
pub fn field_filter(mac: &prefixmac::PrefixMac, value: &str) -> u64 {
    let mut chars: Vec<char> = Vec::with_capacity(value.len() + 2);
    chars.push(' ');
    chars.extend(value.chars());
    chars.push(' ');
    let mut f = 0u64;
    let mut buf = [0u8; 8];
    for w in chars.windows(2) {
        let n = w[0].encode_utf8(&mut buf[..4]).len();
        let m = w[1].encode_utf8(&mut buf[n..]).len();
        let d = mac.mac(&buf[..n + m]);
        for b in &d[..FIELD_FILTER_K] {
            f |= 1u64 << (63 - (b % 64));
        }
    }
    f
}

/// Days since 1970-01-01 of a `YYYYMMDD` date (proleptic Gregorian).
fn day_number(v: &str) -> Option<i64> {
    let y: i64 = v.get(0..4)?.parse().ok()?;
    let m: i64 = v.get(4..6)?.parse().ok()?;
    let d: i64 = v.get(6..8)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Apply a blocking/salt transform to a formatted value.
pub fn apply_transform(t: Transform, v: &str) -> String {
    let mut out = String::new();
    apply_transform_into(t, v, &mut out);
    out
}

/// [`apply_transform`], appended to `out`.
pub fn apply_transform_into(t: Transform, v: &str, out: &mut String) {
    fn upper_no_space(v: &str, out: &mut String) {
        for c in v.chars().filter(|c| !c.is_whitespace()) {
            if c.is_ascii() {
                out.push(c.to_ascii_uppercase());
            } else {
                out.extend(c.to_uppercase());
            }
        }
    }
    match t {
        Transform::Value => out.push_str(v),
        Transform::Upper => upper_no_space(v, out),
        Transform::Year => out.push_str(v.get(0..4).unwrap_or("")),
        Transform::MonthDay => out.push_str(v.get(4..8).unwrap_or("")),
        Transform::YearMonth => out.push_str(v.get(0..6).unwrap_or("")),
        Transform::DayMonthSet => {
            if let (Some(m), Some(d)) = (v.get(4..6), v.get(6..8)) {
                let (a, b) = if m <= d { (m, d) } else { (d, m) };
                out.push_str(a);
                out.push_str(b);
            }
        }
        Transform::Soundex => soundex_into(v, out),
        Transform::Initial => {
            if let Some(c) = v.chars().find_map(fold_ascii) {
                out.push(c);
            }
        }
        Transform::DayPairEven | Transform::DayPairOdd => {
            if let Some(n) = day_number(v) {
                let n = if t == Transform::DayPairOdd { n + 1 } else { n };
                out.push_str(&n.div_euclid(2).to_string());
            }
        }
        Transform::PostcodeSector => {
            let start = out.len();
            upper_no_space(v, out);
            let n = out[start..].chars().count();
            if n >= 5 {
                let cut = out[start..]
                    .char_indices()
                    .nth(n - 2)
                    .map_or(out.len(), |(i, _)| start + i);
                out.truncate(cut);
            }
        }
        Transform::PostcodeDistrict => {
            let start = out.len();
            upper_no_space(v, out);
            let n = out[start..].chars().count();
            if n >= 5 {
                let cut = out[start..]
                    .char_indices()
                    .nth(n - 3)
                    .map_or(out.len(), |(i, _)| start + i);
                out.truncate(cut);
            }
        }
    }
}

/// The serialised bytes of a CLK of `l` bits (bit 0 = MSB of byte 0).
pub fn to_bytes(words: &[u64], l: usize) -> Vec<u8> {
    let mut out: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
    out.truncate(l.div_ceil(8));
    out
}

/// Standard base64 (with padding) of a CLK of `l` bits, as clkhash writes it.
pub fn to_base64(words: &[u64], l: usize) -> String {
    let mut out = Vec::with_capacity(l.div_ceil(8).div_ceil(3) * 4);
    push_base64(words, l, &mut out);
    String::from_utf8(out).expect("base64 is ASCII")
}

/// Append the standard base64 (with padding) of a CLK of `l` bits to `out`
/// without allocating (for `l` up to 4096 bits; longer CLKs go through a
/// temporary buffer).
pub fn push_base64(words: &[u64], l: usize, out: &mut Vec<u8>) {
    use base64::Engine;
    let nbytes = l.div_ceil(8);
    let mut stack = [0u8; 512];
    let mut heap = Vec::new();
    let bytes: &mut [u8] = if nbytes <= stack.len() {
        &mut stack[..nbytes]
    } else {
        heap.resize(nbytes, 0);
        &mut heap
    };
    for (chunk, w) in bytes.chunks_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_be_bytes()[..chunk.len()]);
    }
    let start = out.len();
    out.resize(start + nbytes.div_ceil(3) * 4, 0);
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(&*bytes, &mut out[start..])
        .expect("the buffer is sized for the encoding");
    out.truncate(start + n);
}

/// Why a serialised CLK could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClkDecodeError {
    /// Not standard base64.
    #[error("not standard base64")]
    NotBase64,
    /// Wrong number of bytes for the expected length.
    #[error("decodes to {found} bytes, expected {expected}")]
    WrongLength {
        /// Bytes found.
        found: usize,
        /// Bytes expected.
        expected: usize,
    },
}

/// Decode a base64 CLK into words (bit layout as in this module).
/// With `expected_bytes = None` any length is accepted.
pub fn from_base64(s: &str, expected_bytes: Option<usize>) -> Result<Vec<u64>, ClkDecodeError> {
    let b = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| ClkDecodeError::NotBase64)?;
    if let Some(e) = expected_bytes {
        if b.len() != e {
            return Err(ClkDecodeError::WrongLength {
                found: b.len(),
                expected: e,
            });
        }
    }
    Ok(bytes_to_words(&b))
}

/// Pack serialised CLK bytes into words (zero-padded).
pub fn bytes_to_words(b: &[u8]) -> Vec<u64> {
    b.chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_be_bytes(w)
        })
        .collect()
}

/// SHA-256 (hex) of a schema file's bytes, for manifests: the other party
/// can check they encoded with the same schema.
pub fn schema_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

impl Schema {
    /// What a manifest should record about this schema (no secrets): output
    /// length, folds, features and their hashing, and every trialink
    /// extension in force, with whether the CLKs stay clkhash-compatible.
    pub fn describe(&self) -> serde_json::Value {
        use serde_json::json;
        let features: Vec<serde_json::Value> = self
            .features
            .iter()
            .map(|f| match &f.spec {
                None => json!({ "identifier": f.identifier, "ignored": true }),
                Some(s) => json!({
                    "identifier": f.identifier,
                    "format": match &s.format {
                        Format::String { .. } => "string",
                        Format::Integer { .. } => "integer",
                        Format::Date { .. } => "date",
                        Format::Enum { .. } => "enum",
                    },
                    "comparison": match s.comparison {
                        Comparison::Ngram { n, positional } => json!({ "type": "ngram", "n": n, "positional": positional }),
                        Comparison::Exact => json!({ "type": "exact" }),
                    },
                    "strategy": match s.strategy {
                        schema::Strategy::BitsPerToken(k) => json!({ "bitsPerToken": k }),
                        schema::Strategy::BitsPerFeature(b) => json!({ "bitsPerFeature": b }),
                    },
                    "hash": match s.hash {
                        HashType::Blake => json!({ "type": "blakeHash" }),
                        HashType::Double { prevent_singularity } => json!({ "type": "doubleHash", "prevent_singularity": prevent_singularity }),
                    },
                    "pattern": matches!(&s.format, Format::String { pattern: Some(_), .. }),
                    "missingValue": s.missing.is_some(),
                }),
            })
            .collect();
        let part = |p: &Part| json!({ "identifier": self.features[p.feature].identifier, "transform": p.transform.name() });
        json!({
            "version": 3,
            "l": self.l,
            "xor_folds": self.xor_folds,
            "xorFolds_alias_used": self.xor_folds_alias_used,
            "kdf": {
                "hash": match self.kdf.hash { schema::KdfHash::Sha256 => "SHA256", schema::KdfHash::Sha512 => "SHA512" },
                "salt": self.kdf.salt.is_some(),
                "info": self.kdf.info.is_some(),
                "keySize": self.kdf.key_size,
            },
            "features": features,
            "trialink_extensions": {
                "record_salt": self.hardening.record_salt.as_ref().map(part),
                "randomised_response_epsilon": self.hardening.rr_epsilon,
                "blocking": self.hardening.blocking.iter().map(|b| {
                    let mut o = json!({ "name": b.name, "parts": b.parts.iter().map(part).collect::<Vec<_>>() });
                    if let Some(g) = &b.filter {
                        o["filter"] = json!(g);
                    }
                    if b.sorted {
                        o["sorted"] = json!(true);
                    }
                    o
                }).collect::<Vec<_>>(),
            },
            "clkhash_compatible": !self.hardening.changes_clk(),
        })
    }

    /// For each feature, the CSV column holding it: `Ok` with `None` for
    /// ignored features that are absent, `Err` with the identifiers of
    /// hashed features the header lacks.
    pub fn bind_columns(&self, header: &[String]) -> Result<Vec<Option<usize>>, Vec<String>> {
        let mut missing = Vec::new();
        let cols = self
            .features
            .iter()
            .map(|f| {
                let c = header
                    .iter()
                    .position(|h| *h == f.identifier)
                    .or_else(|| header.iter().position(|h| h.eq_ignore_ascii_case(&f.identifier)));
                if c.is_none() && f.spec.is_some() {
                    missing.push(f.identifier.clone());
                }
                c
            })
            .collect();
        if missing.is_empty() {
            Ok(cols)
        } else {
            Err(missing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_integers_like_python() {
        assert_eq!(canonical_integer(" +007 ").unwrap().0, "7");
        assert_eq!(canonical_integer("-0").unwrap().0, "0");
        assert_eq!(canonical_integer("-1_000").unwrap().0, "-1000");
        assert!(canonical_integer("1__0").is_none());
        assert!(canonical_integer("_1").is_none());
        assert!(canonical_integer("1.0").is_none());
        assert!(canonical_integer("").is_none());
    }

    #[test]
    fn value_length_cap_is_a_counted_reject_not_work() {
        let schema = schema::Schema::from_json(
            r#"{"version":3,"clkConfig":{"l":1024,"kdf":{"type":"HKDF"}},"features":[
              {"identifier":"name","format":{"type":"string"},"hashing":{"comparison":{"type":"ngram","n":2},"strategy":{"bitsPerToken":1024}}}]}"#,
        )
        .unwrap();
        let enc = ClkEncoder::new(schema, &ClkSecret::from_bytes(b"s")).unwrap();
        let at_cap = "a".repeat(schema::MAX_VALUE_BYTES);
        assert!(enc.encode(&[&at_cap]).is_ok());
        // Multi-byte characters count by bytes: 1025 bytes is over.
        let over = format!("{}é", "a".repeat(schema::MAX_VALUE_BYTES - 1));
        let e = enc.encode(&[&over]).unwrap_err();
        assert_eq!(e.problem, ValueProblem::ValueTooLong);
        assert_eq!(e.problem.code(), "value_too_long");
        assert_eq!(e.feature, "name");
        // A 300 KB cell is refused at once (it took ~2 minutes to hash).
        let huge = "b".repeat(300_000);
        let t = std::time::Instant::now();
        assert_eq!(
            enc.encode(&[&huge]).unwrap_err().problem,
            ValueProblem::ValueTooLong
        );
        assert!(t.elapsed().as_secs_f64() < 1.0);
        assert!(!e.to_string().contains("aaaa"));
    }

    #[test]
    fn soundex_examples() {
        assert_eq!(soundex("Robert"), "R163");
        assert_eq!(soundex("Rupert"), "R163");
        assert_eq!(soundex("Ashcraft"), "A261");
        assert_eq!(soundex("Tymczak"), "T522");
        assert_eq!(soundex("Pfister"), "P236");
        assert_eq!(soundex("Müller"), "M460");
        assert_eq!(soundex("O'Brien"), "O165");
        assert_eq!(soundex("123"), "");
    }

    #[test]
    fn postcode_district() {
        assert_eq!(apply_transform(Transform::PostcodeDistrict, "ec1a 1bb"), "EC1A");
        assert_eq!(apply_transform(Transform::PostcodeDistrict, "M1 1AE"), "M1");
        assert_eq!(apply_transform(Transform::PostcodeDistrict, "M1"), "M1");
        assert_eq!(apply_transform(Transform::PostcodeSector, "ec1a 1bb"), "EC1A1");
        assert_eq!(apply_transform(Transform::DayPairEven, "19700101"), "0");
        assert_eq!(apply_transform(Transform::DayPairOdd, "19700101"), "0");
        assert_eq!(apply_transform(Transform::DayPairEven, "19700102"), "0");
        assert_eq!(apply_transform(Transform::DayPairOdd, "19700102"), "1");
        assert_eq!(day_number("20000301"), Some(11_017));
        assert_eq!(day_number("19691231"), Some(-1));
        assert_eq!(apply_transform(Transform::DayPairEven, "2000"), "");
        // Over four years of consecutive dates (leap day included): dates
        // one day apart agree on exactly one day pair, two apart on none.
        let mut dates = Vec::new();
        for y in 1999..2003 {
            for m in 1..=12 {
                let days = [
                    31,
                    if y % 4 == 0 { 29 } else { 28 },
                    31,
                    30,
                    31,
                    30,
                    31,
                    31,
                    30,
                    31,
                    30,
                    31,
                ][m - 1];
                for d in 1..=days {
                    dates.push(format!("{y}{m:02}{d:02}"));
                }
            }
        }
        let pair = |d: &str| {
            (
                apply_transform(Transform::DayPairEven, d),
                apply_transform(Transform::DayPairOdd, d),
            )
        };
        for w in dates.windows(3) {
            let (a, b, c) = (pair(&w[0]), pair(&w[1]), pair(&w[2]));
            assert_eq!(u8::from(a.0 == b.0) + u8::from(a.1 == b.1), 1, "{w:?}");
            assert!(a.0 != c.0 && a.1 != c.1, "{w:?}");
        }
    }

    #[test]
    fn secret_file_loses_one_newline() {
        assert_eq!(ClkSecret::from_file_content(b"abc\n\n").expose(), b"abc\n");
        assert_eq!(ClkSecret::from_file_content(b"abc\r\n").expose(), b"abc");
        assert_eq!(ClkSecret::from_file_content(b"abc").expose(), b"abc");
        assert_eq!(
            format!("{:?}", ClkSecret::from_bytes(b"x")),
            "ClkSecret(<redacted>)"
        );
        assert_eq!(ClkSecret::from_trialink_key(&[1; 32]).expose().len(), 64);
    }
}
