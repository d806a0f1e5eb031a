//! A per-thread cache of keyed token hashes and of the bits whole values
//! set, so repeated names and dates are hashed once.

use zeroize::Zeroize;

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
pub(crate) struct ValueStats {
    lookups: u32,
    hits: u32,
    on: bool,
}

/// Longest token or value cached (longer ones are hashed every time).
pub(crate) const CACHE_TOKEN_MAX: usize = 24;
/// Key words per slot: meta, then 3 words of token bytes.
pub(crate) const SLOT_KEY: usize = 4;
/// Largest hashed length kept as bitmaps (64 words a slot at most).
pub(crate) const BITMAP_MAX_BITS: usize = 4096;
/// Default slots of each table: 16384 material slots × 96 bytes and 16384
/// bitmap slots × 160 bytes (l = 1024), about 4 MiB per thread. Measured
/// with `trialink encode` on 1M synthetic people (CPU seconds): 2048 slots
/// 5.0, 4096 3.6–4.3, 8192 3.5–3.6, 16384 3.2–3.5, 32768 3.4 (the working
/// set — a few thousand names, postcode bigrams at each k — no longer fits
/// below 16384).
pub(crate) const DEFAULT_CACHE_SLOTS: usize = 1 << 14;
/// Value-bitmap hit-rate check interval (lookups).
pub(crate) const VALUE_CHECK: u32 = 4096;

pub(crate) const KIND_MATERIAL: u64 = 0;
pub(crate) const KIND_TOKEN_BITS: u64 = 1;
pub(crate) const KIND_VALUE_BITS: u64 = 2;

/// A fixed-size two-way set-associative table of `[key; SLOT_KEY]` +
/// value words, `stride` words a slot.
pub(crate) struct Table {
    slots: Vec<u64>,
    stride: usize,
    /// Slots (a power of two, at least 2), or 0 when disabled.
    cap: usize,
}

impl Table {
    pub(crate) fn new(cap: usize) -> Self {
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
    pub(crate) fn ready(&mut self, value_words: usize) {
        let stride = SLOT_KEY + value_words;
        if self.stride != stride || self.slots.len() != self.cap * stride {
            self.slots.zeroize();
            self.stride = stride;
            self.slots.resize(self.cap * stride, 0);
        }
    }

    /// The value words of `key`'s slot, or the set to insert into.
    #[inline]
    pub(crate) fn find(&self, key: &[u64; SLOT_KEY], h: u64) -> Result<usize, usize> {
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
    pub(crate) fn value(&self, at: usize) -> &[u64] {
        &self.slots[at..at + self.stride - SLOT_KEY]
    }

    /// Put `key` → `value` first in `set`, the previous first entry second.
    #[inline]
    pub(crate) fn insert(&mut self, set: usize, key: &[u64; SLOT_KEY], value: &[u64]) {
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
pub(crate) fn cache_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish() | 1
}

/// The exact key of an entry and its placement hash, or `None` when the
/// bytes are too long (or the indices too large) to cache.
#[inline]
pub(crate) fn cache_key(
    seed: u64,
    kind: u64,
    fidx: usize,
    n: usize,
    bytes: &[u8],
) -> Option<([u64; SLOT_KEY], u64)> {
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
pub(crate) fn or_into(dst: &mut [u64], src: &[u64]) {
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

    pub(crate) fn bind(&mut self, owner: u64, features: usize) {
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
    pub(crate) fn bitmaps_for(&self, hash_l: usize) -> bool {
        self.bitmaps.cap != 0 && hash_l <= BITMAP_MAX_BITS
    }

    /// Whether feature `fidx`'s values are still looked up whole.
    #[inline]
    pub(crate) fn value_mode(&self, fidx: usize) -> bool {
        self.stats[fidx].on
    }

    #[inline]
    pub(crate) fn count_value(&mut self, fidx: usize, hit: bool) {
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
    pub(crate) fn or_bitmap(
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
    pub(crate) fn get_or(
        &mut self,
        fidx: usize,
        j: usize,
        tok: &[u8],
        f: impl FnOnce() -> [u64; 8],
    ) -> [u64; 8] {
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
