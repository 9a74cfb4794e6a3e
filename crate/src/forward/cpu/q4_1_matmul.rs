//! Matrix multiply of Q4_1 weights (GGUF blocks, kept as they are in the file) against
//! activations quantized to Q8_1 on the fly. Our own kernel because candle 0.11 has only the
//! scalar Q4_1 dot product (SmolLM2's prefill ran at half llama.cpp's speed on it).
//!
//! Numerics equal candle's `vec_dot_q4_1_q8_1` (ggml's scalar one) bit for bit: the same Q8_1
//! activations (scale rounded to f16, the block sum `s` rounded to f16 twice), an exact integer
//! dot product per block (AVX2 here), then per block, in order and without fused multiply-adds,
//! `sum += sumi·d_w·d_x + m_w·s_x`.

use half::f16;

use super::q8_matmul::{OutPtr, ROWS_PER_ITEM};

pub const QK: usize = 32;
/// d (f16), m (f16), 16 bytes of nibbles: element j in the low nibble of byte j, j + 16 in the high.
pub const BLOCK_BYTES: usize = 20;

/// A (rows, cols) weight matrix of Q4_1 blocks, row-major, in GGUF layout.
pub struct Q4_1Matrix {
    pub blocks: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}

impl Q4_1Matrix {
    fn nb(&self) -> usize {
        self.cols / QK
    }

    fn row_bytes(&self) -> usize {
        self.nb() * BLOCK_BYTES
    }

    /// Dequantize row `r` into `out` (cols) as candle does (`q·d + m`), then multiply by `scale`.
    pub fn dequantize_row(&self, r: usize, scale: f32, out: &mut [f32]) {
        for (b, o) in self.blocks[r * self.row_bytes()..][..self.row_bytes()].chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(QK)) {
            let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
            let m = f16::from_le_bytes([b[2], b[3]]).to_f32();
            for (j, &q) in b[4..].iter().enumerate() {
                o[j] = ((q & 0x0f) as f32 * d + m) * scale;
                o[j + 16] = ((q >> 4) as f32 * d + m) * scale;
            }
        }
    }
}

/// Activations quantized to Q8_1, structure-of-arrays: `qs` (n, cols), per block the scale `d`
/// and `s` = d·Σqs, both as f16 values widened to f32.
struct Quantized {
    qs: Vec<i8>,
    d: Vec<f32>,
    s: Vec<f32>,
}

/// candle's / ggml's `quantize_row_q8_1`.
fn quantize(x: &[f32]) -> Quantized {
    let mut qs = vec![0i8; x.len()];
    let mut d = vec![0f32; x.len() / QK];
    let mut s = vec![0f32; x.len() / QK];
    for (((xb, qb), db), sb) in x.chunks_exact(QK).zip(qs.chunks_exact_mut(QK)).zip(d.iter_mut()).zip(s.iter_mut()) {
        let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = amax / 127.0;
        let inv = if scale != 0.0 { 1.0 / scale } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in qb.iter_mut().zip(xb) {
            *q = (v * inv).round() as i8;
            sum += *q as i32;
        }
        let d16 = f16::from_f32(scale);
        *db = d16.to_f32();
        *sb = f16::from_f32(f16::from_f32(sum as f32).to_f32() * *db).to_f32();
    }
    Quantized { qs, d, s }
}

/// `x` is (n, cols) row-major; returns (n, rows).
pub fn matmul_q4_1(w: &Q4_1Matrix, x: &[f32], n: usize) -> Vec<f32> {
    let q = quantize(x);
    let mut out = vec![0f32; n * w.rows];
    let ptr = OutPtr(out.as_mut_ptr());
    let items = w.rows.div_ceil(ROWS_PER_ITEM);
    let dot = block_dots();
    let nb = w.nb();
    candle_core::utils::barrier_pool().execute_chunked(items, |range| {
        let out = ptr; // the whole Send + Sync wrapper, not its raw field
        let mut row = Row { vals: vec![0u8; w.cols], d: vec![0f32; nb], m: vec![0f32; nb] };
        let mut sumi = vec![0i32; nb];
        for item in range {
            let r0 = item * ROWS_PER_ITEM;
            for r in r0..(r0 + ROWS_PER_ITEM).min(w.rows) {
                let blocks = &w.blocks[r * w.row_bytes()..][..w.row_bytes()];
                if let (1, Some(packed)) = (n, dot.packed) {
                    // Decode: each row is used once, so its nibbles are unpacked in registers.
                    row.scales(blocks);
                    packed(blocks, &q.qs, &mut sumi);
                    let v = row.combine(&sumi, &q.d, &q.s);
                    // SAFETY: r < rows; this item alone owns rows r0..r0 + ROWS_PER_ITEM.
                    unsafe { *out.0.add(r) = v };
                    continue;
                }
                row.unpack(blocks);
                for t in 0..n {
                    (dot.unpacked)(&row.vals, &q.qs[t * w.cols..][..w.cols], &mut sumi);
                    let v = row.combine(&sumi, &q.d[t * nb..][..nb], &q.s[t * nb..][..nb]);
                    // SAFETY: (t, r) < (n, rows); this item alone owns rows r0..r0 + ROWS_PER_ITEM.
                    unsafe { *out.0.add(t * w.rows + r) = v };
                }
            }
        }
    });
    out
}

/// One weight row unpacked for reuse by every activation row: its 4-bit values one per byte
/// (block order, as in the activations) and its blocks' scales and minimums.
struct Row {
    vals: Vec<u8>,
    d: Vec<f32>,
    m: Vec<f32>,
}

impl Row {
    fn scales(&mut self, blocks: &[u8]) {
        for ((b, d), m) in blocks.chunks_exact(BLOCK_BYTES).zip(&mut self.d).zip(&mut self.m) {
            *d = f16::from_le_bytes([b[0], b[1]]).to_f32();
            *m = f16::from_le_bytes([b[2], b[3]]).to_f32();
        }
    }

    fn unpack(&mut self, blocks: &[u8]) {
        self.scales(blocks);
        for (b, v) in blocks.chunks_exact(BLOCK_BYTES).zip(self.vals.chunks_exact_mut(QK)) {
            for (j, &q) in b[4..].iter().enumerate() {
                v[j] = q & 0x0f;
                v[j + 16] = q >> 4;
            }
        }
    }

    /// The row's value from its exact per-block integer dot products, in candle's order.
    fn combine(&self, sumi: &[i32], xd: &[f32], xs: &[f32]) -> f32 {
        let mut sum = 0f32;
        for ((((&si, &dw), &mw), &dx), &sx) in sumi.iter().zip(&self.d).zip(&self.m).zip(xd).zip(xs) {
            sum += si as f32 * dw * dx + mw * sx;
        }
        sum
    }
}

/// Per-block integer dot products of one weight row with one activation row: from the row's
/// unpacked values (0..=15, one per byte), and, where there is SIMD for it, from its blocks.
#[derive(Clone, Copy)]
struct BlockDots {
    unpacked: fn(&[u8], &[i8], &mut [i32]),
    packed: Option<fn(&[u8], &[i8], &mut [i32])>,
}

fn block_dots() -> BlockDots {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY (of the calls inside): AVX2 was just detected.
        return BlockDots {
            unpacked: |w, x, out| unsafe { avx2::block_dots::<false>(w, x, out) },
            packed: Some(|w, x, out| unsafe { avx2::block_dots::<true>(w, x, out) }),
        };
    }
    BlockDots { unpacked: block_dots_portable, packed: None }
}

fn block_dots_portable(w: &[u8], x: &[i8], out: &mut [i32]) {
    for ((wb, xb), o) in w.chunks_exact(QK).zip(x.chunks_exact(QK)).zip(out.iter_mut()) {
        *o = wb.iter().zip(xb).map(|(&a, &b)| a as i32 * b as i32).sum();
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{BLOCK_BYTES, QK};

    /// The 8 i32 lanes of block `b`'s pairwise products (exact: values 0..=15, unsigned, times
    /// i8, summed in pairs by `maddubs`, stay within i16); weights unpacked or GGUF blocks.
    #[inline(always)]
    unsafe fn lanes<const PACKED: bool>(wp: *const u8, xp: *const i8, b: usize) -> __m256i {
        let wv = if PACKED {
            let q = _mm_loadu_si128(wp.add(b * BLOCK_BYTES + 4) as *const __m128i);
            _mm256_and_si256(_mm256_insertf128_si256::<1>(_mm256_castsi128_si256(q), _mm_srli_epi16::<4>(q)), _mm256_set1_epi8(0x0f))
        } else {
            _mm256_loadu_si256(wp.add(b * QK) as *const __m256i)
        };
        let xv = _mm256_loadu_si256(xp.add(b * QK) as *const __m256i);
        _mm256_madd_epi16(_mm256_maddubs_epi16(wv, xv), _mm256_set1_epi16(1))
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn block_dots<const PACKED: bool>(w: &[u8], x: &[i8], out: &mut [i32]) {
        let nb = out.len().min(w.len() / if PACKED { BLOCK_BYTES } else { QK }).min(x.len() / QK);
        let (wp, xp, op) = (w.as_ptr(), x.as_ptr(), out.as_mut_ptr());
        let mut b = 0;
        // Eight blocks at a time: three rounds of pairwise adds leave each block's sum in a lane.
        while b + 8 <= nb {
            let p: [__m256i; 8] = std::array::from_fn(|i| lanes::<PACKED>(wp, xp, b + i));
            let q = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
            let r = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
            let sums = _mm256_add_epi32(_mm256_permute2x128_si256::<0x20>(q, r), _mm256_permute2x128_si256::<0x31>(q, r));
            _mm256_storeu_si256(op.add(b) as *mut __m256i, sums);
            b += 8;
        }
        for b in b..nb {
            let p = lanes::<PACKED>(wp, xp, b);
            let s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256::<1>(p));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
            *op.add(b) = _mm_cvtsi128_si32(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
    use candle_core::{Device, Module, Tensor};

    fn random(rows: usize, cols: usize, seed: u32) -> (Q4_1Matrix, Vec<f32>) {
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
            blocks.extend_from_slice(&f16::from_f32(-((next() % 1000) as f32) / 20_000.0).to_le_bytes());
            blocks.extend((0..16).map(|_| next() as u8));
        }
        let x = (0..cols * 5).map(|_| (next() % 2001) as f32 / 100.0 - 10.0).collect();
        (Q4_1Matrix { blocks, rows, cols }, x)
    }

    fn candle_matrix(w: &Q4_1Matrix) -> QMatMul {
        let storage = QStorage::from_data(std::borrow::Cow::Borrowed(&w.blocks), &Device::Cpu, GgmlDType::Q4_1).unwrap();
        QMatMul::from_qtensor(QTensor::new(storage, (w.rows, w.cols)).unwrap()).unwrap()
    }

    #[test]
    fn equals_candles_q4_1_matmul_bit_for_bit() {
        // 13 blocks a row: a group of eight and five single blocks.
        let (rows, cols) = (37, 416);
        let (w, x) = random(rows, cols, 11);
        let qmm = candle_matrix(&w);
        for n in [1, 2, 5] {
            let got = matmul_q4_1(&w, &x[..n * cols], n);
            let xt = Tensor::from_slice(&x[..n * cols], (n, cols), &Device::Cpu).unwrap();
            let want = qmm.forward(&xt).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let differ = got.iter().zip(&want).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
            assert_eq!(differ, 0, "n={n}: {differ} of {} outputs differ from candle's", got.len());
        }
    }

    #[test]
    fn rows_dequantize_as_candles_embedding_does() {
        let (w, _) = random(9, 64, 3);
        let qmm = candle_matrix(&w);
        let ids = Tensor::from_slice(&[0u32, 8, 3], 3, &Device::Cpu).unwrap();
        let want = qmm.embedding(&ids).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut got = vec![0f32; 3 * 64];
        for (&id, out) in [0usize, 8, 3].iter().zip(got.chunks_exact_mut(64)) {
            w.dequantize_row(id, 1.0, out);
        }
        assert_eq!(got, want);
    }

    #[test]
    fn simd_block_dots_equal_the_portable_ones() {
        let (w, x) = random(1, 576, 5);
        let q = quantize(&x[..576]);
        let mut row = Row { vals: vec![0u8; 576], d: vec![0f32; 18], m: vec![0f32; 18] };
        row.unpack(&w.blocks);
        let (mut a, mut b, mut c) = (vec![0i32; 18], vec![0i32; 18], vec![0i32; 18]); // 8 + 8 + 2 blocks
        block_dots_portable(&row.vals, &q.qs, &mut a);
        let dots = block_dots();
        (dots.unpacked)(&row.vals, &q.qs, &mut b);
        assert_eq!(a, b, "from unpacked values");
        if let Some(packed) = dots.packed {
            packed(&w.blocks, &q.qs, &mut c);
            assert_eq!(a, c, "from the blocks");
        }
        assert!(a.iter().any(|&v| v != 0));
    }
}
