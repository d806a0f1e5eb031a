//! The CLK encoder: per-feature keys built once from the schema and secret,
//! then records encoded (with their blocking keys) through reusable
//! per-thread buffers.

use super::cache::{KIND_TOKEN_BITS, KIND_VALUE_BITS};
use super::hashing::{clear_tail, get_bit, Hasher};
use super::normalise::{canonical_integer, encodable, push_decimal, push_encoded};
use super::secret::hkdf;
use super::*;
use blake2b::KeyedBlake2b;
use hmac::{Hmac, Mac};
use md5::Md5;
use rayon::prelude::*;
use schema::{Case, Comparison, Format, HashType, Schema};
use sha1::Sha1;
use sha2::Sha256;
use zeroize::Zeroize;

pub(crate) struct FeatureEncoder {
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
pub(crate) struct Work {
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
pub(crate) struct FeatureBuffers<'a> {
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

pub(crate) static NEXT_ENCODER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The formatted values of one record: feature i's is `buf[spans[i]]`
/// (`None` for ignored features).
#[derive(Clone, Copy)]
pub(crate) struct Values<'a> {
    buf: &'a str,
    spans: &'a [Option<(usize, usize)>],
}

impl<'a> Values<'a> {
    #[inline]
    fn get(&self, i: usize) -> Option<&'a str> {
        self.spans[i].map(|(a, b)| &self.buf[a..b])
    }
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
