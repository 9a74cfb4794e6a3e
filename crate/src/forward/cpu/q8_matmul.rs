//! Matrix multiply of Q8_0 or Q5_0 weights (GGUF blocks, kept as they are in the file) against
//! activations quantized to Q8_0 on the fly, as llama.cpp does. Our own kernel because candle's
//! Q8_0 path reaches only ~12 GB/s on the 178 MB Gemma output head and it has no SIMD Q5_0 at
//! all. Prefill tiles 4 weight rows × 2 activation rows; decode streams the weight rows in
//! order with software prefetch (AVX2 on x86_64, a portable loop elsewhere).
//!
//! Numerics equal ggml's Q8_0 × Q8_0 and Q5_0 × Q8_0: same activation rounding, f16-rounded
//! scales, exact integer block dot products, f32 accumulation.

use half::f16;

pub const QK: usize = 32;

/// The weight block formats this kernel reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockFormat {
    /// f16 scale, 32 × i8.
    Q8_0,
    /// f16 scale, 32 high bits (u32), 32 × 4-bit low parts; values in [-16, 15].
    Q5_0,
}

impl BlockFormat {
    pub const fn bytes(self) -> usize {
        match self {
            Self::Q8_0 => 34,
            Self::Q5_0 => 22,
        }
    }

    /// The 32 integer values of one block.
    fn unpack(self, b: &[u8], out: &mut [i8; QK]) {
        match self {
            Self::Q8_0 => {
                for (o, &q) in out.iter_mut().zip(&b[2..34]) {
                    *o = q as i8;
                }
            }
            Self::Q5_0 => {
                let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
                for j in 0..16 {
                    let lo = b[6 + j];
                    out[j] = ((lo & 0x0f) | ((((qh >> j) & 1) as u8) << 4)) as i8 - 16;
                    out[j + 16] = ((lo >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4)) as i8 - 16;
                }
            }
        }
    }
}

/// A (rows, cols) weight matrix of Q8_0 or Q5_0 blocks, row-major, in GGUF layout.
pub struct Q8Matrix {
    pub format: BlockFormat,
    pub blocks: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}

impl Q8Matrix {
    fn nb(&self) -> usize {
        self.cols / QK
    }

    fn row_bytes(&self) -> usize {
        self.nb() * self.format.bytes()
    }

    /// Dequantize row `r` into `out` (cols), then multiply by `scale` (in that order, as ggml
    /// scales an embedding after the lookup: the rounding matters for greedy agreement).
    pub fn dequantize_row(&self, r: usize, scale: f32, out: &mut [f32]) {
        let rb = self.row_bytes();
        let mut vals = [0i8; QK];
        for (b, o) in self.blocks[r * rb..][..rb].chunks_exact(self.format.bytes()).zip(out.chunks_exact_mut(QK)) {
            let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
            self.format.unpack(b, &mut vals);
            for (o, &q) in o.iter_mut().zip(&vals) {
                *o = q as f32 * d * scale;
            }
        }
    }
}

/// Activations quantized to Q8_0, structure-of-arrays: `qs` (n, cols) and scales `d` (n, cols/32).
struct Quantized {
    qs: Vec<i8>,
    d: Vec<f32>,
}

fn quantize(x: &[f32]) -> Quantized {
    let mut qs = vec![0i8; x.len()];
    let mut d = vec![0f32; x.len() / QK];
    for ((xb, qb), db) in x.chunks_exact(QK).zip(qs.chunks_exact_mut(QK)).zip(d.iter_mut()) {
        let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = amax / 127.0;
        let inv = if scale != 0.0 { 1.0 / scale } else { 0.0 };
        for (q, &v) in qb.iter_mut().zip(xb) {
            *q = (v * inv).round() as i8;
        }
        *db = f16::from_f32(scale).to_f32();
    }
    Quantized { qs, d }
}

/// Output pointer shared by workers that write disjoint elements.
#[derive(Clone, Copy)]
pub(super) struct OutPtr(pub(super) *mut f32);
// SAFETY: every (activation row, weight row) element is written by exactly one work item.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// Weight rows per work item (a multiple of 4).
pub(super) const ROWS_PER_ITEM: usize = 16;

/// `x` is (n, cols) row-major; returns (n, rows).
pub fn matmul_q8(w: &Q8Matrix, x: &[f32], n: usize) -> Vec<f32> {
    let q = quantize(x);
    let mut out = vec![0f32; n * w.rows];
    let ptr = OutPtr(out.as_mut_ptr());
    let items = w.rows.div_ceil(ROWS_PER_ITEM);
    let kernel = Kernel::detect();
    candle_core::utils::barrier_pool().execute_chunked(items, |range| {
        for item in range {
            let r0 = item * ROWS_PER_ITEM;
            let r1 = (r0 + ROWS_PER_ITEM).min(w.rows);
            kernel.rows(w, &q, n, r0, r1, ptr);
        }
    });
    out
}

#[derive(Clone, Copy)]
enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Kernel {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c") {
            return Self::Avx2;
        }
        Self::Portable
    }

    /// Compute out[t, r] for weight rows r0..r1 and every activation row t.
    fn rows(self, w: &Q8Matrix, q: &Quantized, n: usize, r0: usize, r1: usize, out: OutPtr) {
        let nb = w.nb();
        let rb = w.row_bytes();
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut r = r0;
        #[cfg(target_arch = "x86_64")]
        if let (Self::Avx2, 1) = (self, n) {
            // Decode: walk the weight rows in order, one sequential stream with prefetch. In a
            // real decode step no matrix is cache-resident (the 178 MB output head evicts
            // everything), so this beats the 4-row tiles, which win only on cached weights.
            for r in r0..r1 {
                // SAFETY: AVX2/FMA/F16C were detected; row r is in bounds.
                let wr = &w.blocks[r * rb..][..rb];
                let v = unsafe {
                    match w.format {
                        BlockFormat::Q8_0 => avx2::row::<avx2::Q8>(wr, &q.qs[..w.cols], &q.d[..nb]),
                        BlockFormat::Q5_0 => avx2::row::<avx2::Q5>(wr, &q.qs[..w.cols], &q.d[..nb]),
                    }
                };
                // SAFETY: r < rows; this item alone owns rows r0..r1.
                unsafe { *out.0.add(r) = v };
            }
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Self::Avx2 = self {
            // Prefill over Q5_0: unpack each 4-row tile to Q8_0 once and reuse it for every
            // activation row, instead of unpacking again for each pair of rows.
            let widen = w.format == BlockFormat::Q5_0 && n > 2;
            let mut scratch = if widen { vec![0u8; 4 * nb * BlockFormat::Q8_0.bytes()] } else { Vec::new() };
            while r + 4 <= r1 {
                let mut format = w.format;
                let mut wr = &w.blocks[r * rb..][..4 * rb];
                if widen {
                    widen_q5_0_into(wr, &mut scratch);
                    (format, wr) = (BlockFormat::Q8_0, &scratch[..]);
                }
                let mut t = 0;
                while t < n {
                    let tn = (n - t).min(2);
                    let mut acc = [[0f32; 4]; 2];
                    // SAFETY: AVX2/FMA/F16C were detected; rows r..r+4 and activation rows
                    // t..t+tn are in bounds (the slices are indexed with the same extents).
                    unsafe {
                        let (xq, xd) = (&q.qs[t * w.cols..][..tn * w.cols], &q.d[t * nb..][..tn * nb]);
                        match (format, tn) {
                            (BlockFormat::Q8_0, 2) => avx2::tile::<avx2::Q8, 2>(wr, nb, xq, xd, &mut acc),
                            (BlockFormat::Q8_0, _) => avx2::tile::<avx2::Q8, 1>(wr, nb, xq, xd, &mut acc),
                            (BlockFormat::Q5_0, 2) => avx2::tile::<avx2::Q5, 2>(wr, nb, xq, xd, &mut acc),
                            (BlockFormat::Q5_0, _) => avx2::tile::<avx2::Q5, 1>(wr, nb, xq, xd, &mut acc),
                        }
                    };
                    for (ti, a) in acc.iter().enumerate().take(tn) {
                        for (ri, &v) in a.iter().enumerate() {
                            // SAFETY: (t+ti, r+ri) < (n, rows); this item alone owns rows r0..r1.
                            unsafe { *out.0.add((t + ti) * w.rows + r + ri) = v };
                        }
                    }
                    t += tn;
                }
                r += 4;
            }
        }
        for r in r..r1 {
            let wr = &w.blocks[r * rb..][..rb];
            for t in 0..n {
                let v = dot_portable(w.format, wr, &q.qs[t * w.cols..][..w.cols], &q.d[t * nb..][..nb]);
                // SAFETY: as above.
                unsafe { *out.0.add(t * w.rows + r) = v };
            }
        }
    }
}

/// Q5_0 blocks → Q8_0 blocks (exact: Q5_0 values are integers in [-16, 15]).
pub fn widen_q5_0_into(q5: &[u8], q8: &mut [u8]) {
    let mut vals = [0i8; QK];
    for (src, dst) in q5.chunks_exact(BlockFormat::Q5_0.bytes()).zip(q8.chunks_exact_mut(BlockFormat::Q8_0.bytes())) {
        dst[..2].copy_from_slice(&src[..2]);
        BlockFormat::Q5_0.unpack(src, &mut vals);
        for (d, &v) in dst[2..].iter_mut().zip(&vals) {
            *d = v as u8;
        }
    }
}

fn dot_portable(format: BlockFormat, wr: &[u8], xq: &[i8], xd: &[f32]) -> f32 {
    let mut sum = 0f32;
    let mut vals = [0i8; QK];
    for ((b, xb), &dx) in wr.chunks_exact(format.bytes()).zip(xq.chunks_exact(QK)).zip(xd) {
        let dw = f16::from_le_bytes([b[0], b[1]]).to_f32();
        format.unpack(b, &mut vals);
        let isum: i32 = vals.iter().zip(xb).map(|(&w, &x)| w as i32 * x as i32).sum();
        sum += isum as f32 * (dw * dx);
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::QK;

    /// How a weight block format is read in AVX2: its size and its 32 values as signed bytes.
    pub trait Format {
        const BYTES: usize;
        unsafe fn values(b: *const u8) -> __m256i;
    }

    pub struct Q8;
    pub struct Q5;

    impl Format for Q8 {
        const BYTES: usize = 34;
        #[inline(always)]
        unsafe fn values(b: *const u8) -> __m256i {
            _mm256_loadu_si256(b.add(2) as *const __m256i)
        }
    }

    impl Format for Q5 {
        const BYTES: usize = 22;
        /// Low nibbles | 0xF0 where the high bit is clear: as i8 that is (nibble + 16·bit) − 16.
        #[inline(always)]
        unsafe fn values(b: *const u8) -> __m256i {
            let qh = u32::from_le_bytes([*b.add(2), *b.add(3), *b.add(4), *b.add(5)]);
            let lo = _mm_loadu_si128(b.add(6) as *const __m128i);
            let nibbles = _mm256_and_si256(
                _mm256_insertf128_si256::<1>(_mm256_castsi128_si256(lo), _mm_srli_epi16::<4>(lo)),
                _mm256_set1_epi8(0x0f),
            );
            // One byte per bit of qh: 0xFF where set.
            let shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
            let spread = _mm256_shuffle_epi8(_mm256_set1_epi32(qh as i32), shuf);
            let bits = _mm256_cmpeq_epi8(_mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe)), _mm256_set1_epi64x(-1));
            _mm256_or_si256(nibbles, _mm256_andnot_si256(bits, _mm256_set1_epi8(0xf0u8 as i8)))
        }
    }

    /// Bytes ahead to prefetch in a row streamed from DRAM.
    const PREFETCH_AHEAD: usize = 256;

    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// 8 partial int32 sums of a 32 × i8 block dot product, as f32.
    #[inline(always)]
    unsafe fn block_dot(w: __m256i, x: __m256i) -> __m256 {
        let ax = _mm256_sign_epi8(w, w);
        let sy = _mm256_sign_epi8(x, w);
        let p16 = _mm256_maddubs_epi16(ax, sy);
        _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)))
    }

    #[inline(always)]
    unsafe fn scale(b: *const u8) -> f32 {
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(u16::from_le_bytes([*b, *b.add(1)]) as i32)))
    }

    /// Dot product of one weight row (nb blocks) with one quantized activation row.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn row<F: Format>(w: &[u8], xq: &[i8], xd: &[f32]) -> f32 {
        let nb = xd.len();
        let wp = w.as_ptr();
        let xp = xq.as_ptr();
        // One accumulator, blocks in order: ggml's summation order, so logits round like llama.cpp's.
        let mut acc = _mm256_setzero_ps();
        for b in 0..nb {
            let o = b * F::BYTES;
            _mm_prefetch::<_MM_HINT_T0>(wp.add(o + PREFETCH_AHEAD) as *const i8);
            let xv = _mm256_loadu_si256(xp.add(b * QK) as *const __m256i);
            let d = _mm256_set1_ps(scale(wp.add(o)) * *xd.get_unchecked(b));
            acc = _mm256_fmadd_ps(block_dot(F::values(wp.add(o)), xv), d, acc);
        }
        hsum(acc)
    }

    /// Dot products of 4 consecutive weight rows (`w`: 4 × nb blocks) with `T` (1 or 2)
    /// quantized activation rows (`xq`: T × nb*32, `xd`: T × nb) into `acc[t][r]`.
    /// `T` is a constant so the 4·T accumulators stay in registers.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn tile<F: Format, const T: usize>(w: &[u8], nb: usize, xq: &[i8], xd: &[f32], acc: &mut [[f32; 4]; 2]) {
        let wp = w.as_ptr();
        let row = nb * F::BYTES;
        let xp = xq.as_ptr();
        let mut a = [[_mm256_setzero_ps(); 4]; T];
        for b in 0..nb {
            let o = b * F::BYTES;
            let wv = [F::values(wp.add(o)), F::values(wp.add(row + o)), F::values(wp.add(2 * row + o)), F::values(wp.add(3 * row + o))];
            let dw = [scale(wp.add(o)), scale(wp.add(row + o)), scale(wp.add(2 * row + o)), scale(wp.add(3 * row + o))];
            for t in 0..T {
                let xv = _mm256_loadu_si256(xp.add(t * nb * QK + b * QK) as *const __m256i);
                let dx = *xd.get_unchecked(t * nb + b);
                for r in 0..4 {
                    a[t][r] = _mm256_fmadd_ps(block_dot(wv[r], xv), _mm256_set1_ps(dw[r] * dx), a[t][r]);
                }
            }
        }
        for t in 0..T {
            for r in 0..4 {
                acc[t][r] = hsum(a[t][r]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_matrix(format: BlockFormat, rows: usize, cols: usize, seed: u32) -> (Q8Matrix, Vec<f32>) {
        let mut s = seed;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s
        };
        let mut blocks = Vec::new();
        for _ in 0..rows * cols / QK {
            blocks.extend_from_slice(&f16::from_f32((next() % 1000) as f32 / 50_000.0).to_le_bytes());
            blocks.extend((0..format.bytes() - 2).map(|_| next() as u8));
        }
        let x = (0..cols * 5).map(|_| (next() % 2001) as f32 / 100.0 - 10.0).collect();
        (Q8Matrix { format, blocks, rows, cols }, x)
    }

    #[test]
    fn q5_0_unpack_matches_the_ggml_layout() {
        // Element i's fifth bit is bit i of qh; low nibbles: j in the low half of qs[j], j+16 in the high.
        let mut b = vec![0u8; 22];
        b[2..6].copy_from_slice(&0x8000_0001u32.to_le_bytes());
        b[6] = 0x3a; // element 0: 0xa | 0x10 → 26 − 16 = 10; element 16: 0x3 → 3 − 16 = −13
        b[21] = 0xf0; // element 15: 0 − 16; element 31: 0xf | 0x10 → 31 − 16 = 15
        let mut v = [0i8; QK];
        BlockFormat::Q5_0.unpack(&b, &mut v);
        assert_eq!((v[0], v[16], v[15], v[31], v[1]), (10, -13, -16, 15, -16));
    }

    #[test]
    fn simd_tiles_equal_the_portable_dot_and_dequantized_reference() {
        for format in [BlockFormat::Q8_0, BlockFormat::Q5_0] {
            // 37 rows: 9 tiles of 4 and a remainder; 5 activation rows: pairs and a single.
            let (w, x) = random_matrix(format, 37, 96, 7);
            let rb = w.row_bytes();
            for n in [1, 2, 5] {
                let got = matmul_q8(&w, &x[..n * 96], n);
                let q = quantize(&x[..n * 96]);
                let mut row = vec![0f32; 96];
                for t in 0..n {
                    for r in 0..37 {
                        let exact = dot_portable(format, &w.blocks[r * rb..][..rb], &q.qs[t * 96..][..96], &q.d[t * 3..][..3]);
                        let g = got[t * 37 + r];
                        assert!((g - exact).abs() <= 1e-4 * exact.abs().max(1.0), "{format:?} n={n} t={t} r={r}: {g} vs {exact}");
                        // Against f32 math on dequantized weights: only activation rounding differs.
                        w.dequantize_row(r, 1.0, &mut row);
                        let f: f32 = row.iter().zip(&x[t * 96..]).map(|(a, b)| a * b).sum();
                        let norm: f32 = row.iter().map(|a| a.abs()).sum::<f32>() * 10.0;
                        assert!((g - f).abs() <= 0.01 * norm, "{format:?} n={n} t={t} r={r}: {g} vs f32 {f}");
                    }
                }
            }
        }
    }
}
