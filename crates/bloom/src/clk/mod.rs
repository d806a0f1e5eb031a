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
pub mod schema;

use base64::Engine;
use blake2b::KeyedBlake2b;
use hmac::{Hmac, Mac};
use md5::Md5;
use rayon::prelude::*;
use schema::{Case, Comparison, Format, HashType, Part, Schema, TextEncoding, Transform};
use sha1::Sha1;
use sha2::Sha256;
use std::borrow::Cow;
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
        let bytes = Zeroizing::new(std::fs::read(path)?);
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
    /// Has characters the encoding cannot represent.
    #[error("has characters that {0} cannot encode")]
    NotEncodable(&'static str),
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
            ValueProblem::NotEncodable(_) => "not_encodable",
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
    block_key: Hmac<Sha256>,
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

/// Reusable per-thread buffers (and token cache) for [`ClkEncoder::encode_with`].
#[derive(Default)]
pub struct Scratch {
    padded: String,
    offsets: Vec<usize>,
    tok: Vec<u8>,
    bits: Vec<u64>,
    cache: TokenCache,
}

impl Scratch {
    /// Buffers with a token cache of `cap` entries (0 = no cache).
    pub fn with_cache(cap: usize) -> Self {
        Scratch {
            padded: String::new(),
            offsets: Vec::new(),
            tok: Vec::new(),
            bits: Vec::new(),
            cache: TokenCache::with_capacity(cap),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.padded.zeroize();
        self.tok.zeroize();
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

/// A per-thread cache of keyed token hashes, as clkhash keeps (`lru_cache`):
/// names, dates and codes repeat a great deal, and a lookup costs a fraction
/// of a BLAKE2b compression or two HMACs. Bounded (cleared when full), tied
/// to one encoder, zeroized on drop (it holds n-grams and keyed digests).
pub struct TokenCache {
    map: std::collections::HashMap<CacheKey, [u64; 8], FastHash>,
    cap: usize,
    owner: u64,
}

/// Longest token cached (longer ones are hashed every time).
const CACHE_TOKEN_MAX: usize = 36;

/// A cache key held inline (no pointer to chase on lookup) as five words,
/// so equality is five integer compares rather than a `memcmp` call:
/// feature index, salt index, token length, then the token bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct CacheKey([u64; 5]);

impl CacheKey {
    #[inline]
    fn new(fidx: usize, j: usize, tok: &[u8]) -> Option<Self> {
        if tok.len() > CACHE_TOKEN_MAX || fidx > u16::MAX as usize || j > u8::MAX as usize {
            return None;
        }
        let mut b = [0u8; 40];
        b[0..2].copy_from_slice(&(fidx as u16).to_le_bytes());
        b[2] = j as u8;
        b[3] = tok.len() as u8;
        b[4..4 + tok.len()].copy_from_slice(tok);
        let mut w = [0u64; 5];
        for (i, x) in w.iter_mut().enumerate() {
            *x = u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        }
        Some(CacheKey(w))
    }
}

/// A fast, per-cache randomly seeded hash for short keys (the token cache's
/// SipHash lookups were a quarter of encoding time). Not a MAC: only used to
/// place cache entries.
#[derive(Clone)]
struct FastHash(u64);

impl FastHash {
    fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        FastHash(h.finish())
    }
}

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.0 =
                (self.0.rotate_left(5) ^ u64::from_le_bytes(b) ^ ((rest.len() as u64) << 59)).wrapping_mul(K);
        }
    }
    #[inline]
    fn finish(&self) -> u64 {
        // Final avalanche so the high bits hashbrown uses are mixed.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::with_capacity(1 << 16)
    }
}

impl TokenCache {
    /// A cache holding at most `cap` tokens (0 disables caching).
    pub fn with_capacity(cap: usize) -> Self {
        TokenCache {
            map: std::collections::HashMap::with_hasher(FastHash::new()),
            cap,
            owner: 0,
        }
    }

    fn clear(&mut self) {
        for (mut k, mut v) in self.map.drain() {
            k.0.zeroize();
            v.zeroize();
        }
    }

    fn bind(&mut self, owner: u64) {
        if self.owner != owner {
            self.clear();
            self.owner = owner;
        }
    }

    #[inline]
    fn get_or(&mut self, fidx: usize, j: usize, tok: &[u8], f: impl FnOnce() -> [u64; 8]) -> [u64; 8] {
        if self.cap == 0 {
            return f();
        }
        let Some(key) = CacheKey::new(fidx, j, tok) else {
            return f();
        };
        if let Some(v) = self.map.get(&key) {
            return *v;
        }
        let v = f();
        if self.map.len() >= self.cap {
            self.clear();
        }
        self.map.insert(key, v);
        v
    }
}

impl Drop for TokenCache {
    fn drop(&mut self) {
        self.clear();
    }
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
        let block_key = Hmac::<Sha256>::new_from_slice(&bk).expect("any key length");
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
            block_key,
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
    /// first, then the format's rules).
    fn format_value<'a>(&self, i: usize, raw: &'a str) -> Result<Option<Cow<'a, str>>, ValueError> {
        let Some(fe) = &self.features[i] else {
            return Ok(None);
        };
        let spec = &fe.spec;
        if let Some(m) = &spec.missing {
            if m.sentinel == raw {
                return Ok(Some(Cow::Owned(m.replace_with.clone())));
            }
        }
        let err = |problem| ValueError {
            feature: fe.identifier.clone(),
            problem,
        };
        encodable(raw, spec.encoding).map_err(|e| err(ValueProblem::NotEncodable(e)))?;
        Ok(Some(match &spec.format {
            Format::String {
                case,
                min_length,
                max_length,
                pattern: _,
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
                Cow::Borrowed(raw)
            }
            Format::Integer { minimum, maximum } => {
                let (s, v) = canonical_integer(raw).ok_or_else(|| err(ValueProblem::NotAnInteger))?;
                if minimum.is_some_and(|m| v < m) || maximum.is_some_and(|m| v > m) {
                    return Err(err(ValueProblem::OutOfRange));
                }
                Cow::Owned(s)
            }
            Format::Date { format } => Cow::Owned(
                format
                    .normalise(raw)
                    .ok_or_else(|| err(ValueProblem::NotADate(fe.date_format_text.clone())))?,
            ),
            Format::Enum { values } => {
                if !values.contains(raw) {
                    return Err(err(ValueProblem::NotInEnum));
                }
                Cow::Borrowed(raw)
            }
        }))
    }

    fn formatted<'a>(&self, record: &[&'a str]) -> Result<Vec<Option<Cow<'a, str>>>, ValueError> {
        assert_eq!(record.len(), self.features.len(), "one value per schema feature");
        record
            .iter()
            .enumerate()
            .map(|(i, v)| self.format_value(i, v))
            .collect()
    }

    /// Encode one record: `record[i]` is the value of schema feature `i`
    /// (ignored features' values are not looked at). Returns
    /// [`words_for`]`(l)` words.
    pub fn encode(&self, record: &[&str]) -> Result<Vec<u64>, ValueError> {
        self.encode_with(record, &mut Scratch::default())
    }

    /// [`ClkEncoder::encode`] with reusable buffers.
    pub fn encode_with(&self, record: &[&str], s: &mut Scratch) -> Result<Vec<u64>, ValueError> {
        let values = self.formatted(record)?;
        Ok(self.encode_formatted(&values, s))
    }

    /// Encode one record and compute its blocking keys (formatting the
    /// values once): the CLK words and the `blocking` cell.
    pub fn encode_and_block(
        &self,
        record: &[&str],
        s: &mut Scratch,
    ) -> Result<(Vec<u64>, String), ValueError> {
        let values = self.formatted(record)?;
        Ok((
            self.encode_formatted(&values, s),
            self.blocking_formatted(&values),
        ))
    }

    fn encode_formatted(&self, values: &[Option<Cow<'_, str>>], s: &mut Scratch) -> Vec<u64> {
        let hash_l = self.hash_l;
        s.bits.clear();
        s.bits.resize(words_for(hash_l), 0);
        // Record-level salt (extension): prefix every token.
        s.tok.clear();
        if let Some(part) = &self.schema.hardening.record_salt {
            let salt = part_value(part, values);
            s.tok.extend_from_slice(b"trialink-salt\x00");
            s.tok.extend_from_slice(salt.as_bytes());
            s.tok.push(0);
        }
        let prefix = s.tok.len();
        s.cache.bind(self.id);
        for (fidx, (fe, value)) in self.features.iter().zip(values).enumerate() {
            let (Some(fe), Some(value)) = (fe, value) else {
                continue;
            };
            let spec = &fe.spec;
            match spec.comparison {
                Comparison::Exact => {
                    s.tok.truncate(prefix);
                    push_encoded(&mut s.tok, value, spec.encoding);
                    let k = spec.strategy.k_for(0, 1);
                    fe.hasher
                        .set_bits(fidx, &s.tok, k, hash_l, &mut s.bits, &mut s.cache);
                }
                Comparison::Ngram { n, positional } => {
                    if value.is_empty() {
                        continue;
                    }
                    s.padded.clear();
                    if n > 1 {
                        s.padded.extend(std::iter::repeat_n(' ', n - 1));
                    }
                    s.padded.push_str(value);
                    if n > 1 {
                        s.padded.extend(std::iter::repeat_n(' ', n - 1));
                    }
                    s.offsets.clear();
                    s.offsets.extend(s.padded.char_indices().map(|(o, _)| o));
                    s.offsets.push(s.padded.len());
                    let chars = s.offsets.len() - 1;
                    if chars + 1 < n {
                        continue;
                    }
                    let t = chars + 1 - n;
                    for i in 0..t {
                        s.tok.truncate(prefix);
                        if positional {
                            use std::io::Write;
                            let _ = write!(&mut s.tok, "{} ", i + 1);
                        }
                        let gram = &s.padded[s.offsets[i]..s.offsets[i + n]];
                        push_encoded(&mut s.tok, gram, spec.encoding);
                        let k = spec.strategy.k_for(i, t);
                        fe.hasher
                            .set_bits(fidx, &s.tok, k, hash_l, &mut s.bits, &mut s.cache);
                    }
                }
            }
        }
        // XOR folding: left half XOR right half, repeatedly.
        let mut len = hash_l;
        for _ in 0..self.schema.xor_folds {
            let half = len / 2;
            if half & 63 == 0 {
                let hw = half / 64;
                for w in 0..hw {
                    s.bits[w] ^= s.bits[w + hw];
                }
            } else {
                for p in 0..half {
                    if get_bit(&s.bits, p + half) {
                        s.bits[p >> 6] ^= 1u64 << (63 - (p & 63));
                    }
                }
            }
            len = half;
        }
        let mut out = s.bits[..words_for(len)].to_vec();
        clear_tail(&mut out, len);
        if let Some(eps) = self.schema.hardening.rr_epsilon {
            self.randomised_response(values, eps, len, &mut out);
        }
        out
    }

    fn randomised_response(&self, values: &[Option<Cow<'_, str>>], eps: f64, l: usize, out: &mut [u64]) {
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        let mut mac = self.rr_key.clone();
        mac.update(b"trialink-rr-v1\x00");
        for v in values {
            match v {
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
        let values = self.formatted(record)?;
        Ok(self.blocking_formatted(&values))
    }

    fn blocking_formatted(&self, values: &[Option<Cow<'_, str>>]) -> String {
        let mut out = String::new();
        for pass in &self.schema.hardening.blocking {
            let parts: Vec<String> = pass.parts.iter().map(|p| part_value(p, values)).collect();
            if parts.iter().any(String::is_empty) {
                continue;
            }
            let mut mac = self.block_key.clone();
            mac.update(b"trialink-block-v1\x00");
            mac.update(pass.name.as_bytes());
            for p in &parts {
                mac.update(b"\x00");
                mac.update(p.as_bytes());
            }
            let d = mac.finalize().into_bytes();
            if !out.is_empty() {
                out.push(';');
            }
            out.push_str(&pass.name);
            out.push('=');
            out.push_str(&hex::encode(&d[..8]));
        }
        out
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

fn part_value(part: &Part, values: &[Option<Cow<'_, str>>]) -> String {
    let v = values[part.feature].as_deref().unwrap_or("");
    apply_transform(part.transform, v)
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
        return String::new();
    };
    let mut out = vec![first as u8];
    let mut last = code(first);
    for c in letters {
        let d = code(c);
        if d == b'h' {
            continue;
        }
        if d != b'0' && d != last {
            out.push(d);
            if out.len() == 4 {
                break;
            }
        }
        last = d;
    }
    while out.len() < 4 {
        out.push(b'0');
    }
    String::from_utf8(out).expect("ASCII")
}

/// Apply a blocking/salt transform to a formatted value.
pub fn apply_transform(t: Transform, v: &str) -> String {
    match t {
        Transform::Value => v.to_string(),
        Transform::Upper => v
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect(),
        Transform::Year => v.get(0..4).unwrap_or("").to_string(),
        Transform::MonthDay => v.get(4..8).unwrap_or("").to_string(),
        Transform::Soundex => soundex(v),
        Transform::Initial => v
            .chars()
            .find_map(fold_ascii)
            .map(String::from)
            .unwrap_or_default(),
        Transform::PostcodeDistrict => {
            let s: String = v
                .chars()
                .filter(|c| !c.is_whitespace())
                .flat_map(char::to_uppercase)
                .collect();
            let n = s.chars().count();
            if n >= 5 {
                s.chars().take(n - 3).collect()
            } else {
                s
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
    base64::engine::general_purpose::STANDARD.encode(to_bytes(words, l))
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
                        Format::String { pattern, .. } => if pattern.is_some() { "string (pattern not enforced by trialink)" } else { "string" },
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
                "blocking": self.hardening.blocking.iter().map(|b| json!({ "name": b.name, "parts": b.parts.iter().map(part).collect::<Vec<_>>() })).collect::<Vec<_>>(),
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
