//! Dice similarity over packed `u64` words, with run-time CPU dispatch.
//!
//! `dice(A, B) = 2|A∧B| / (|A|+|B|)`; a filter with no bits set never
//! matches anything (its score is 0). The hot operation is one query against
//! many rows of a [`ClkMatrix`]: [`and_popcounts`] computes `|q ∧ row|` for a
//! run of rows with the best kernel the CPU has (AVX-512 VPOPCNTDQ, AVX2,
//! POPCNT, or portable scalar), all in the isolated `simd` module and tested
//! against the scalar path.

mod simd;

use std::sync::OnceLock;

/// A popcount kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kernel {
    /// Portable Rust (`count_ones` without target features).
    Scalar,
    /// x86-64 `popcnt`.
    Popcnt,
    /// x86-64 AVX2 nibble-table popcount.
    Avx2,
    /// x86-64 AVX-512F + VPOPCNTDQ.
    Avx512,
}

impl Kernel {
    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Popcnt => "popcnt",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512-vpopcntdq",
        }
    }

    /// Whether this CPU can run the kernel.
    pub fn is_supported(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Popcnt => std::arch::is_x86_feature_detected!("popcnt"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every kernel this CPU supports, slowest first.
    pub fn available() -> Vec<Kernel> {
        [Kernel::Scalar, Kernel::Popcnt, Kernel::Avx2, Kernel::Avx512]
            .into_iter()
            .filter(|k| k.is_supported())
            .collect()
    }

    /// The fastest supported kernel (detected once). For 1024-bit CLKs
    /// AVX-512 is fastest, then POPCNT (which beats the AVX2 table method on
    /// short rows).
    pub fn best() -> Kernel {
        static BEST: OnceLock<Kernel> = OnceLock::new();
        *BEST.get_or_init(|| {
            if Kernel::Avx512.is_supported() {
                Kernel::Avx512
            } else if Kernel::Popcnt.is_supported() {
                Kernel::Popcnt
            } else {
                Kernel::Scalar
            }
        })
    }
}

pub(crate) fn scalar(query: &[u64], matrix: &[u64], stride: usize, out: &mut [u32]) {
    for (o, row) in out.iter_mut().zip(matrix.chunks_exact(stride)) {
        *o = query.iter().zip(row).map(|(a, b)| (a & b).count_ones()).sum();
    }
}

/// `out[r] = popcount(query AND matrix[r*stride .. (r+1)*stride])` for
/// `r < out.len()`, with `kernel` (falls back to scalar when the CPU lacks it).
///
/// Panics if `query.len() != stride`, `stride == 0`, or the matrix is shorter
/// than `out.len() * stride`.
pub fn and_popcounts_with(kernel: Kernel, query: &[u64], matrix: &[u64], stride: usize, out: &mut [u32]) {
    assert!(stride > 0 && query.len() == stride, "query must be one row");
    assert!(
        matrix.len() >= out.len() * stride,
        "matrix shorter than the rows asked for"
    );
    if !kernel.is_supported() {
        return scalar(query, matrix, stride, out);
    }
    simd::dispatch(kernel, query, matrix, stride, out)
}

/// [`and_popcounts_with`] using [`Kernel::best`].
#[inline]
pub fn and_popcounts(query: &[u64], matrix: &[u64], stride: usize, out: &mut [u32]) {
    and_popcounts_with(Kernel::best(), query, matrix, stride, out)
}

/// Dice coefficient from the intersection count and the two popcounts; 0 when
/// either filter is empty (an all-zero filter never matches).
#[inline]
pub fn dice_from_counts(common: u32, pop_a: u32, pop_b: u32) -> f64 {
    if pop_a == 0 || pop_b == 0 {
        0.0
    } else {
        2.0 * common as f64 / (pop_a as f64 + pop_b as f64)
    }
}

/// Dice coefficient of two equal-length filters.
pub fn dice(a: &[u64], b: &[u64]) -> f64 {
    assert_eq!(a.len(), b.len(), "filters of different length");
    let pa = a.iter().map(|w| w.count_ones()).sum();
    let pb = b.iter().map(|w| w.count_ones()).sum();
    let c = a.iter().zip(b).map(|(x, y)| (x & y).count_ones()).sum();
    dice_from_counts(c, pa, pb)
}

/// Equal-length filters stored contiguously, with their popcounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClkMatrix {
    stride: usize,
    words: Vec<u64>,
    pops: Vec<u32>,
}

impl ClkMatrix {
    /// An empty matrix of rows of `stride` words.
    pub fn new(stride: usize) -> Self {
        assert!(stride > 0, "rows must have at least one word");
        ClkMatrix {
            stride,
            words: Vec::new(),
            pops: Vec::new(),
        }
    }

    /// Words per row.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.pops.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.pops.is_empty()
    }

    /// Append a row; panics if its length is not the stride.
    pub fn push(&mut self, row: &[u64]) {
        assert_eq!(
            row.len(),
            self.stride,
            "row length differs from the matrix stride"
        );
        self.words.extend_from_slice(row);
        self.pops.push(row.iter().map(|w| w.count_ones()).sum());
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[u64] {
        &self.words[i * self.stride..(i + 1) * self.stride]
    }

    /// Popcount of row `i`.
    pub fn pop(&self, i: usize) -> u32 {
        self.pops[i]
    }

    /// All words, row-major.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Rows `start..start+out.len()` AND-popcounted against `query`.
    pub fn and_popcounts(&self, query: &[u64], start: usize, out: &mut [u32]) {
        and_popcounts(query, &self.words[start * self.stride..], self.stride, out)
    }

    /// Calls `found(row, score)` for every row in `start..end` whose Dice
    /// score with `query` (popcount `q_pop`) is at least `threshold`.
    pub fn scan(
        &self,
        query: &[u64],
        q_pop: u32,
        start: usize,
        end: usize,
        threshold: f64,
        mut found: impl FnMut(usize, f64),
    ) {
        if q_pop == 0 {
            return;
        }
        let mut buf = [0u32; 256];
        let mut r = start;
        // Cheap prefilter without a division (slightly loose so it never
        // drops a pair the exact test below would keep).
        let t_lo = threshold * (1.0 - 1e-9);
        while r < end {
            let n = (end - r).min(buf.len());
            self.and_popcounts(query, r, &mut buf[..n]);
            let pops = &self.pops[r..r + n];
            for (i, (&c, &p)) in buf[..n].iter().zip(pops).enumerate() {
                if 2.0 * c as f64 >= t_lo * (q_pop + p) as f64 {
                    let s = dice_from_counts(c, q_pop, p);
                    if s >= threshold && s > 0.0 {
                        found(r + i, s);
                    }
                }
            }
            r += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dice_basics() {
        assert_eq!(dice(&[0b1111], &[0b1111]), 1.0);
        assert_eq!(dice(&[0b1100], &[0b0011]), 0.0);
        assert_eq!(dice(&[0b1110], &[0b0111]), 2.0 * 2.0 / 6.0);
        assert_eq!(dice(&[0], &[0]), 0.0, "all-zero never matches");
        assert_eq!(dice_from_counts(0, 0, 5), 0.0);
    }

    #[test]
    fn scan_respects_threshold_and_zero_rows() {
        let mut m = ClkMatrix::new(2);
        m.push(&[u64::MAX, 0]);
        m.push(&[0, 0]);
        m.push(&[u64::MAX, u64::MAX]);
        let mut hits = Vec::new();
        m.scan(&[u64::MAX, 0], 64, 0, 3, 0.5, |r, s| hits.push((r, s)));
        assert_eq!(hits, vec![(0, 1.0), (2, 128.0 / 192.0)]);
        let mut none = 0;
        m.scan(&[0, 0], 0, 0, 3, 0.0, |_, _| none += 1);
        assert_eq!(none, 0);
    }

    proptest! {
        #[test]
        fn every_kernel_matches_scalar(stride in 1usize..40, rows in 0usize..20, seed in any::<u64>()) {
            let mut x = seed | 1;
            let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
            let query: Vec<u64> = (0..stride).map(|_| next()).collect();
            // Rows with a spare tail so kernels cannot read past what they are given unnoticed.
            let matrix: Vec<u64> = (0..rows * stride).map(|_| next()).collect();
            let mut want = vec![0u32; rows];
            scalar(&query, &matrix, stride, &mut want);
            for k in Kernel::available() {
                let mut got = vec![0u32; rows];
                and_popcounts_with(k, &query, &matrix, stride, &mut got);
                prop_assert_eq!(&got, &want, "kernel {}", k.name());
            }
        }

        /// The 1024-bit fast path (eight rows at a time, then a tail).
        #[test]
        fn stride16_matches_scalar(rows in 0usize..70, seed in any::<u64>()) {
            let mut x = seed | 1;
            let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
            let query: Vec<u64> = (0..16).map(|_| next()).collect();
            let matrix: Vec<u64> = (0..rows * 16).map(|_| next()).collect();
            let mut want = vec![0u32; rows];
            scalar(&query, &matrix, 16, &mut want);
            for k in Kernel::available() {
                let mut got = vec![0u32; rows];
                and_popcounts_with(k, &query, &matrix, 16, &mut got);
                prop_assert_eq!(&got, &want, "kernel {}", k.name());
            }
        }

        #[test]
        fn dice_is_symmetric_and_bounded(a in proptest::collection::vec(any::<u64>(), 16), b in proptest::collection::vec(any::<u64>(), 16)) {
            let s = dice(&a, &b);
            prop_assert_eq!(s, dice(&b, &a));
            prop_assert!((0.0..=1.0).contains(&s));
        }
    }

    #[test]
    fn kernels_on_edge_values() {
        for stride in [1, 7, 8, 9, 15, 16, 17, 32] {
            let q = vec![u64::MAX; stride];
            let m = vec![u64::MAX; stride * 3];
            for k in Kernel::available() {
                let mut out = [0u32; 3];
                and_popcounts_with(k, &q, &m, stride, &mut out);
                assert_eq!(out, [64 * stride as u32; 3], "{} stride {stride}", k.name());
            }
        }
    }
}
