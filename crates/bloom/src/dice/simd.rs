//! The only `unsafe` code in this crate: popcount(query AND row) over packed
//! `u64` words with x86-64 SIMD, selected at run time.
//!
//! Safety argument, once for the whole module: every function here is
//! `unsafe` only because it is compiled with `#[target_feature]`; the safe
//! wrapper in [`super`] calls it only after `is_x86_feature_detected!` has
//! confirmed those features, and only after checking that `query.len() ==
//! stride`, `stride > 0` and `matrix.len() >= out.len() * stride`, so every
//! pointer read below stays inside `query` or `matrix`. Loads are unaligned
//! (`loadu`), so no alignment is assumed. Each function is tested against the
//! scalar path in `super::tests`.

#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::Kernel;

/// Run `kernel`, which the caller has confirmed with [`Kernel::is_supported`],
/// after checking the lengths every kernel relies on.
pub(super) fn dispatch(kernel: Kernel, query: &[u64], matrix: &[u64], stride: usize, out: &mut [u32]) {
    assert!(kernel.is_supported(), "kernel not supported by this CPU");
    assert!(stride > 0 && query.len() == stride, "query must be one row");
    assert!(
        matrix.len() >= out.len() * stride,
        "matrix shorter than the rows asked for"
    );
    match kernel {
        Kernel::Scalar => super::scalar(query, matrix, stride, out),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: features and lengths checked above.
        Kernel::Popcnt => unsafe { and_popcounts_popcnt(query, matrix, stride, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: features and lengths checked above.
        Kernel::Avx2 => unsafe { and_popcounts_avx2(query, matrix, stride, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: features and lengths checked above.
        Kernel::Avx512 => unsafe { and_popcounts_avx512(query, matrix, stride, out) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => super::scalar(query, matrix, stride, out),
    }
}

/// AVX-512F + VPOPCNTDQ: eight 64-bit popcounts per instruction.
///
/// # Safety
/// The CPU must support `avx512f` and `avx512vpopcntdq`; `query.len() ==
/// stride > 0` and `matrix.len() >= out.len() * stride`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
pub(super) unsafe fn and_popcounts_avx512(query: &[u64], matrix: &[u64], stride: usize, out: &mut [u32]) {
    let full = stride / 8;
    let rem = stride % 8;
    let tail_mask: __mmask8 = ((1u16 << rem) - 1) as u8;
    let q = query.as_ptr();
    let m = matrix.as_ptr();
    if stride == 16 {
        // The common 1024-bit CLK: keep the query in two registers, and sum
        // eight rows' lane counts at once with a transpose-and-add tree
        // instead of eight horizontal reductions.
        let q0 = _mm512_loadu_si512(q as *const __m512i);
        let q1 = _mm512_loadu_si512(q.add(8) as *const __m512i);
        let row_counts = |row: *const u64| -> __m512i {
            let a = _mm512_and_si512(q0, _mm512_loadu_si512(row as *const __m512i));
            let b = _mm512_and_si512(q1, _mm512_loadu_si512(row.add(8) as *const __m512i));
            _mm512_add_epi64(_mm512_popcnt_epi64(a), _mm512_popcnt_epi64(b))
        };
        let pair = |x: __m512i, y: __m512i| {
            _mm512_add_epi64(_mm512_unpacklo_epi64(x, y), _mm512_unpackhi_epi64(x, y))
        };
        let fold = |x: __m512i, y: __m512i| {
            _mm512_add_epi64(
                _mm512_shuffle_i64x2::<0b10_00_10_00>(x, y),
                _mm512_shuffle_i64x2::<0b11_01_11_01>(x, y),
            )
        };
        let blocks = out.len() / 8;
        for blk in 0..blocks {
            let base = m.add(blk * 8 * 16);
            let a0 = pair(row_counts(base), row_counts(base.add(16)));
            let a1 = pair(row_counts(base.add(32)), row_counts(base.add(48)));
            let a2 = pair(row_counts(base.add(64)), row_counts(base.add(80)));
            let a3 = pair(row_counts(base.add(96)), row_counts(base.add(112)));
            let c0 = fold(a0, a1);
            let c1 = fold(a2, a3);
            // Lanes: row0 row1 | row2 row3 | row4 row5 | row6 row7.
            let e = fold(c0, c1);
            let sums = _mm512_cvtepi64_epi32(e);
            _mm256_storeu_si256(out.as_mut_ptr().add(blk * 8) as *mut __m256i, sums);
        }
        for (r, o) in out.iter_mut().enumerate().skip(blocks * 8) {
            *o = _mm512_reduce_add_epi64(row_counts(m.add(r * 16))) as u32;
        }
        return;
    }
    for (r, o) in out.iter_mut().enumerate() {
        let row = m.add(r * stride);
        let mut acc = _mm512_setzero_si512();
        for c in 0..full {
            let a = _mm512_loadu_si512(q.add(c * 8) as *const __m512i);
            let b = _mm512_loadu_si512(row.add(c * 8) as *const __m512i);
            acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_and_si512(a, b)));
        }
        if rem != 0 {
            let a = _mm512_maskz_loadu_epi64(tail_mask, q.add(full * 8) as *const i64);
            let b = _mm512_maskz_loadu_epi64(tail_mask, row.add(full * 8) as *const i64);
            acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_and_si512(a, b)));
        }
        *o = _mm512_reduce_add_epi64(acc) as u32;
    }
}

/// AVX2: nibble-table popcount (Muła), summed with `vpsadbw`.
///
/// # Safety
/// The CPU must support `avx2`; `query.len() == stride > 0` and
/// `matrix.len() >= out.len() * stride`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn and_popcounts_avx2(query: &[u64], matrix: &[u64], stride: usize, out: &mut [u32]) {
    let lookup = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
    );
    let low = _mm256_set1_epi8(0x0f);
    let zero = _mm256_setzero_si256();
    let full = stride / 4;
    let q = query.as_ptr();
    let m = matrix.as_ptr();
    for (r, o) in out.iter_mut().enumerate() {
        let row = m.add(r * stride);
        let mut acc = _mm256_setzero_si256();
        for c in 0..full {
            let a = _mm256_loadu_si256(q.add(c * 4) as *const __m256i);
            let b = _mm256_loadu_si256(row.add(c * 4) as *const __m256i);
            let v = _mm256_and_si256(a, b);
            let lo = _mm256_and_si256(v, low);
            let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
            let cnt = _mm256_add_epi8(_mm256_shuffle_epi8(lookup, lo), _mm256_shuffle_epi8(lookup, hi));
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(cnt, zero));
        }
        let mut lanes = [0u64; 4];
        _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc);
        let mut total = lanes.iter().sum::<u64>() as u32;
        for c in full * 4..stride {
            total += (*q.add(c) & *row.add(c)).count_ones();
        }
        *o = total;
    }
}

/// Hardware `popcnt` on each word.
///
/// # Safety
/// The CPU must support `popcnt`; `query.len() == stride > 0` and
/// `matrix.len() >= out.len() * stride`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
pub(super) unsafe fn and_popcounts_popcnt(query: &[u64], matrix: &[u64], stride: usize, out: &mut [u32]) {
    // Safe code, compiled with the popcnt instruction enabled.
    for (o, row) in out.iter_mut().zip(matrix.chunks_exact(stride)) {
        *o = query.iter().zip(row).map(|(a, b)| (a & b).count_ones()).sum();
    }
}
