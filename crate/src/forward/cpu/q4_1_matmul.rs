//! Matrix multiply of Q4_1 weights (GGUF blocks, kept as they are in the file) against
//! activations quantized to Q8_1 on the fly. Our own kernel because candle 0.11 has only the
//! scalar Q4_1 dot product (SmolLM2's prefill ran at half llama.cpp's speed on it).
//!
//! Numerics equal candle's `vec_dot_q4_1_q8_1` (ggml's scalar one) bit for bit: the same Q8_1
//! activations (scale rounded to f16, the block sum `s` rounded to f16 twice), an exact integer
//! dot product per block (AVX2 here), then per block, in order and without fused multiply-adds,
//! `sum += sumi·d_w·d_x + m_w·s_x`. With AVX2, eight such chains run in the lanes of one vector:
//! eight weight rows against one activation row (decode), or one weight row against eight
//! activation rows (prefill).

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

/// Activation rows per prefill tile: one weight block is unpacked once and dotted with the
/// same block of eight activation rows, whose eight sums then advance eight chains at once.
pub const TILE: usize = 8;

/// `x` is (n, cols) row-major; returns (n, rows).
pub fn matmul_q4_1(w: &Q4_1Matrix, x: &[f32], n: usize) -> Vec<f32> {
    let q = quantize(x);
    let mut out = vec![0f32; n * w.rows];
    let ptr = OutPtr(out.as_mut_ptr());
    let items = w.rows.div_ceil(ROWS_PER_ITEM);
    let dot = block_dots();
    let tiles = if dot.tile.is_some() { n / TILE } else { 0 };
    let (td, ts) = (tile_major(&q.d, tiles, w.nb()), tile_major(&q.s, tiles, w.nb()));
    let tiled = Tiled { tiles, d: &td, s: &ts };
    candle_core::utils::barrier_pool().execute_chunked(items, |range| {
        let out = ptr; // the whole Send + Sync wrapper, not its raw field
        let mut s = Scratch::new(w);
        for item in range {
            let r0 = item * ROWS_PER_ITEM;
            let r1 = (r0 + ROWS_PER_ITEM).min(w.rows);
            // SAFETY: this item alone owns rows r0..r1 of every output row.
            unsafe { s.rows(w, &q, n, &tiled, dot, r0..r1, out) };
        }
    });
    out
}

/// The activations' per-block scales of each full tile, tile-major (see `tile_major`).
struct Tiled<'a> {
    tiles: usize,
    d: &'a [f32],
    s: &'a [f32],
}

/// One worker's buffers.
struct Scratch {
    row: Row,
    sumi: Vec<i32>,
}

impl Scratch {
    fn new(w: &Q4_1Matrix) -> Self {
        Scratch { row: Row { vals: vec![0u8; w.cols], d: vec![0f32; w.nb()], m: vec![0f32; w.nb()] }, sumi: vec![0i32; w.nb()] }
    }

    /// Outputs (t, r) for every activation row t and weight rows r in `rows`.
    /// SAFETY: `out` points to (n, w.rows) values, and no other thread writes these rows.
    unsafe fn rows(&mut self, w: &Q4_1Matrix, q: &Quantized, n: usize, tiled: &Tiled, dot: BlockDots, rows: std::ops::Range<usize>, out: OutPtr) {
        let (nb, rb) = (w.nb(), w.row_bytes());
        let mut r = rows.start;
        if let Some(eight) = dot.rows.filter(|_| n == 1 || dot.tile.is_none()) {
            // Decode (and prefill where there is no tile kernel): eight weight rows at a time
            // against each activation row, their nibbles unpacked in registers.
            let mut v8 = [0f32; TILE];
            while r + TILE <= rows.end {
                for t in 0..n {
                    let x = (&q.qs[t * w.cols..][..w.cols], &q.d[t * nb..][..nb], &q.s[t * nb..][..nb]);
                    eight(&w.blocks[r * rb..][..TILE * rb], rb, x.0, x.1, x.2, &mut v8);
                    std::ptr::copy_nonoverlapping(v8.as_ptr(), out.0.add(t * w.rows + r), TILE);
                }
                r += TILE;
            }
        }
        for r in r..rows.end {
            let blocks = &w.blocks[r * rb..][..rb];
            if let Some(tile) = dot.tile {
                let mut v8 = [0f32; TILE];
                for k in 0..tiled.tiles {
                    let span = k * TILE * nb..(k + 1) * TILE * nb;
                    tile(blocks, &q.qs[k * TILE * w.cols..][..TILE * w.cols], &tiled.d[span.clone()], &tiled.s[span], &mut v8);
                    for (i, &v) in v8.iter().enumerate() {
                        *out.0.add((k * TILE + i) * w.rows + r) = v;
                    }
                }
            }
            // The activation rows no tile covers, one at a time from the unpacked row.
            if tiled.tiles * TILE < n {
                self.row.unpack(blocks);
            }
            for t in tiled.tiles * TILE..n {
                (dot.unpacked)(&self.row.vals, &q.qs[t * w.cols..][..w.cols], &mut self.sumi);
                *out.0.add(t * w.rows + r) = self.row.combine(&self.sumi, &q.d[t * nb..][..nb], &q.s[t * nb..][..nb]);
            }
        }
    }
}

/// Per-block activation scales (n, nb) rearranged tile by tile as (tiles, nb, TILE): a block's
/// scales of a tile's eight rows side by side, one vector load.
fn tile_major(v: &[f32], tiles: usize, nb: usize) -> Vec<f32> {
    let mut out = vec![0f32; tiles * nb * TILE];
    for k in 0..tiles {
        for i in 0..TILE {
            for b in 0..nb {
                out[(k * nb + b) * TILE + i] = v[(k * TILE + i) * nb + b];
            }
        }
    }
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
    fn unpack(&mut self, blocks: &[u8]) {
        for (((b, v), d), m) in blocks.chunks_exact(BLOCK_BYTES).zip(self.vals.chunks_exact_mut(QK)).zip(&mut self.d).zip(&mut self.m) {
            *d = f16::from_le_bytes([b[0], b[1]]).to_f32();
            *m = f16::from_le_bytes([b[2], b[3]]).to_f32();
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

/// Per-block integer dot products of one weight row with one activation row, from the row's
/// unpacked values (0..=15, one per byte); and, where there is SIMD for them, whole outputs:
/// TILE weight rows against one activation row (decode), one weight row against a tile of TILE
/// activation rows (prefill).
#[derive(Clone, Copy)]
struct BlockDots {
    unpacked: fn(&[u8], &[i8], &mut [i32]),
    rows: Option<RowsFn>,
    tile: Option<TileFn>,
}

/// (TILE weight rows' blocks, bytes from one row to the next, one activation row's Q8_1 values, d, s, out).
type RowsFn = fn(&[u8], usize, &[i8], &[f32], &[f32], &mut [f32; TILE]);
/// (weight row's blocks, TILE activation rows of Q8_1 values, their d and s tile-major, out).
type TileFn = fn(&[u8], &[i8], &[f32], &[f32], &mut [f32; TILE]);

fn block_dots() -> BlockDots {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY (of the calls inside): AVX2 was just detected.
        return BlockDots {
            unpacked: |w, x, out| unsafe { avx2::block_dots(w, x, out) },
            rows: Some(|w, stride, x, d, s, out| unsafe { avx2::rows(w, stride, x, d, s, out) }),
            tile: Some(|w, x, d, s, out| unsafe { avx2::tile(w, x, d, s, out) }),
        };
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return BlockDots { unpacked: block_dots_portable, rows: Some(simd128::rows), tile: None };
    #[allow(unreachable_code)]
    BlockDots { unpacked: block_dots_portable, rows: None, tile: None }
}

fn block_dots_portable(w: &[u8], x: &[i8], out: &mut [i32]) {
    for ((wb, xb), o) in w.chunks_exact(QK).zip(x.chunks_exact(QK)).zip(out.iter_mut()) {
        *o = wb.iter().zip(xb).map(|(&a, &b)| a as i32 * b as i32).sum();
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use half::f16;

    use super::{BLOCK_BYTES, QK, TILE};

    /// A GGUF block's 32 values (0..=15), one per byte, in element order.
    #[inline(always)]
    unsafe fn nibbles(bp: *const u8) -> __m256i {
        let q = _mm_loadu_si128(bp.add(4) as *const __m128i);
        _mm256_and_si256(_mm256_insertf128_si256::<1>(_mm256_castsi128_si256(q), _mm_srli_epi16::<4>(q)), _mm256_set1_epi8(0x0f))
    }

    /// The 8 i32 lanes of one block's pairwise products (exact: values 0..=15, unsigned, times
    /// i8, summed in pairs by `maddubs`, stay within i16).
    #[inline(always)]
    unsafe fn pairs(wv: __m256i, xp: *const i8) -> __m256i {
        let xv = _mm256_loadu_si256(xp as *const __m256i);
        _mm256_madd_epi16(_mm256_maddubs_epi16(wv, xv), _mm256_set1_epi16(1))
    }

    /// Block `b`'s lanes from unpacked weights.
    #[inline(always)]
    unsafe fn lanes(wp: *const u8, xp: *const i8, b: usize) -> __m256i {
        pairs(_mm256_loadu_si256(wp.add(b * QK) as *const __m256i), xp.add(b * QK))
    }

    /// One step of every lane's chain in candle's order: `acc + ((S·d_w)·d_x + m_w·s_x)`, each
    /// operation rounded as written (no fused multiply-add).
    #[inline(always)]
    unsafe fn step(acc: __m256, sums: __m256i, dw: __m256, mw: __m256, dx: __m256, sx: __m256) -> __m256 {
        _mm256_add_ps(acc, _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(sums), dw), dx), _mm256_mul_ps(mw, sx)))
    }

    /// A block header's f16 at byte `at` (0: d, 2: m), widened.
    #[inline(always)]
    unsafe fn half_at(bp: *const u8, at: usize) -> f32 {
        f16::from_le_bytes([*bp.add(at), *bp.add(at + 1)]).to_f32()
    }

    /// TILE consecutive weight rows (`w`: their GGUF blocks, `stride` bytes apart) against one
    /// activation row (`x`, its per-block `xd`, `xs`): lane i is row i's output.
    #[target_feature(enable = "avx2")]
    pub unsafe fn rows(w: &[u8], stride: usize, x: &[i8], xd: &[f32], xs: &[f32], out: &mut [f32; TILE]) {
        let nb = if w.len() < TILE * stride { 0 } else { (stride / BLOCK_BYTES).min(x.len() / QK).min(xd.len()).min(xs.len()) };
        let (wp, xp) = (w.as_ptr(), x.as_ptr());
        let mut acc = _mm256_setzero_ps();
        for b in 0..nb {
            let xv = _mm256_loadu_si256(xp.add(b * QK) as *const __m256i);
            let bp = |i: usize| wp.add(i * stride + b * BLOCK_BYTES);
            // The weights come from DRAM (a decode step reads every matrix once): the next
            // group's bytes, spread over this group's steps.
            for l in 0..3 {
                _mm_prefetch::<_MM_HINT_T0>(wp.wrapping_add(TILE * stride + b * 192 + l * 64) as *const i8);
            }
            let sums = reduce8(std::array::from_fn(|i| _mm256_madd_epi16(_mm256_maddubs_epi16(nibbles(bp(i)), xv), _mm256_set1_epi16(1))));
            let dw: [f32; TILE] = std::array::from_fn(|i| half_at(bp(i), 0));
            let mw: [f32; TILE] = std::array::from_fn(|i| half_at(bp(i), 2));
            let (dw, mw) = (_mm256_loadu_ps(dw.as_ptr()), _mm256_loadu_ps(mw.as_ptr()));
            acc = step(acc, sums, dw, mw, _mm256_set1_ps(xd[b]), _mm256_set1_ps(xs[b]));
        }
        _mm256_storeu_ps(out.as_mut_ptr(), acc);
    }

    /// Lane i = the sum of p[i]'s lanes: three rounds of pairwise adds.
    #[inline(always)]
    unsafe fn reduce8(p: [__m256i; 8]) -> __m256i {
        let q = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
        let r = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
        _mm256_add_epi32(_mm256_permute2x128_si256::<0x20>(q, r), _mm256_permute2x128_si256::<0x31>(q, r))
    }

    /// One weight row (its GGUF blocks) against TILE activation rows (`x`: TILE rows of `cols`
    /// values; `xd`, `xs`: per block, the TILE rows' d and s side by side): lane i is activation
    /// row i's output.
    #[target_feature(enable = "avx2")]
    pub unsafe fn tile(w: &[u8], x: &[i8], xd: &[f32], xs: &[f32], out: &mut [f32; TILE]) {
        let cols = x.len() / TILE;
        let nb = (w.len() / BLOCK_BYTES).min(cols / QK).min(xd.len() / TILE).min(xs.len() / TILE);
        let (wp, xp) = (w.as_ptr(), x.as_ptr());
        let mut acc = _mm256_setzero_ps();
        for b in 0..nb {
            let bp = wp.add(b * BLOCK_BYTES);
            let wv = nibbles(bp);
            let sums = reduce8(std::array::from_fn(|i| pairs(wv, xp.add(i * cols + b * QK))));
            let (dw, mw) = (_mm256_set1_ps(half_at(bp, 0)), _mm256_set1_ps(half_at(bp, 2)));
            let (dx, sx) = (_mm256_loadu_ps(xd.as_ptr().add(b * TILE)), _mm256_loadu_ps(xs.as_ptr().add(b * TILE)));
            acc = step(acc, sums, dw, mw, dx, sx);
        }
        _mm256_storeu_ps(out.as_mut_ptr(), acc);
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn block_dots(w: &[u8], x: &[i8], out: &mut [i32]) {
        let nb = out.len().min(w.len() / QK).min(x.len() / QK);
        let (wp, xp, op) = (w.as_ptr(), x.as_ptr(), out.as_mut_ptr());
        let mut b = 0;
        // Eight blocks at a time: each block's sum in a lane.
        while b + 8 <= nb {
            let sums = reduce8(std::array::from_fn(|i| lanes(wp, xp, b + i)));
            _mm256_storeu_si256(op.add(b) as *mut __m256i, sums);
            b += 8;
        }
        for b in b..nb {
            let p = lanes(wp, xp, b);
            let s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256::<1>(p));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
            *op.add(b) = _mm_cvtsi128_si32(s);
        }
    }
}

/// The decode kernel in wasm SIMD128 (the browser's CPU path): the same lanes-as-chains
/// structure as AVX2's, four chains per vector, two vectors for eight weight rows.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use std::arch::wasm32::*;

    use half::f16;

    use super::{BLOCK_BYTES, QK, TILE};

    /// Lane i = the sum of a[i]'s lanes.
    #[inline(always)]
    fn reduce4(a: [v128; 4]) -> v128 {
        let a01 = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(a[0], a[1]), i32x4_shuffle::<2, 6, 3, 7>(a[0], a[1]));
        let a23 = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(a[2], a[3]), i32x4_shuffle::<2, 6, 3, 7>(a[2], a[3]));
        i32x4_add(i32x4_shuffle::<0, 1, 4, 5>(a01, a23), i32x4_shuffle::<2, 3, 6, 7>(a01, a23))
    }

    /// Partial sums (4 lanes) of one block's exact integer dot product; `x`: the activation
    /// block widened to i16, elements 0..8, 8..16, 16..24, 24..32.
    #[inline(always)]
    fn block(b: &[u8], x: &[v128; 4]) -> v128 {
        let q = &b[4..BLOCK_BYTES];
        // SAFETY: `q` holds 16 bytes; v128_load takes unaligned addresses.
        let q = unsafe { v128_load(q.as_ptr() as *const v128) };
        let (lo, hi) = (v128_and(q, u8x16_splat(0x0f)), u8x16_shr(q, 4));
        let d0 = i32x4_add(i32x4_dot_i16x8(u16x8_extend_low_u8x16(lo), x[0]), i32x4_dot_i16x8(u16x8_extend_high_u8x16(lo), x[1]));
        let d1 = i32x4_add(i32x4_dot_i16x8(u16x8_extend_low_u8x16(hi), x[2]), i32x4_dot_i16x8(u16x8_extend_high_u8x16(hi), x[3]));
        i32x4_add(d0, d1)
    }

    fn half_at(b: &[u8], at: usize) -> f32 {
        f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
    }

    /// TILE consecutive weight rows (`w`: their GGUF blocks, `stride` bytes apart) against one
    /// activation row: lane i of the two vectors is row i's output, each a chain in candle's
    /// order (`acc + ((S·d_w)·d_x + m_w·s_x)`; wasm has no fused multiply-add in SIMD128).
    pub fn rows(w: &[u8], stride: usize, x: &[i8], xd: &[f32], xs: &[f32], out: &mut [f32; TILE]) {
        let nb = if w.len() < TILE * stride { 0 } else { (stride / BLOCK_BYTES).min(x.len() / QK).min(xd.len()).min(xs.len()) };
        let mut acc = [f32x4_splat(0.0); 2];
        for b in 0..nb {
            let xb = &x[b * QK..][..QK];
            // SAFETY: `xb` holds 32 bytes; v128_load takes unaligned addresses.
            let (x0, x1) = unsafe { (v128_load(xb.as_ptr() as *const v128), v128_load(xb.as_ptr().add(16) as *const v128)) };
            let xv = [i16x8_extend_low_i8x16(x0), i16x8_extend_high_i8x16(x0), i16x8_extend_low_i8x16(x1), i16x8_extend_high_i8x16(x1)];
            let (dx, sx) = (f32x4_splat(xd[b]), f32x4_splat(xs[b]));
            for (g, acc) in acc.iter_mut().enumerate() {
                let blk = |i: usize| &w[(g * 4 + i) * stride + b * BLOCK_BYTES..][..BLOCK_BYTES];
                let sums = reduce4(std::array::from_fn(|i| block(blk(i), &xv)));
                let dw = f32x4(half_at(blk(0), 0), half_at(blk(1), 0), half_at(blk(2), 0), half_at(blk(3), 0));
                let mw = f32x4(half_at(blk(0), 2), half_at(blk(1), 2), half_at(blk(2), 2), half_at(blk(3), 2));
                let term = f32x4_add(f32x4_mul(f32x4_mul(f32x4_convert_i32x4(sums), dw), dx), f32x4_mul(mw, sx));
                *acc = f32x4_add(*acc, term);
            }
        }
        for (g, a) in acc.iter().enumerate() {
            // SAFETY: out[g·4..g·4 + 4] is in bounds (TILE = 8); v128_store takes unaligned addresses.
            unsafe { v128_store(out.as_mut_ptr().add(g * 4) as *mut v128, *a) };
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
        let x = (0..cols * 19).map(|_| (next() % 2001) as f32 / 100.0 - 10.0).collect();
        (Q4_1Matrix { blocks, rows, cols }, x)
    }

    fn candle_matrix(w: &Q4_1Matrix) -> QMatMul {
        let storage = QStorage::from_data(std::borrow::Cow::Borrowed(&w.blocks), &Device::Cpu, GgmlDType::Q4_1).unwrap();
        QMatMul::from_qtensor(QTensor::new(storage, (w.rows, w.cols)).unwrap()).unwrap()
    }

    #[test]
    fn equals_candles_q4_1_matmul_bit_for_bit() {
        // 13 blocks a row: a group of eight and five single blocks; 19 activation rows: two
        // tiles of eight and three rows one at a time.
        let (rows, cols) = (37, 416);
        let (w, x) = random(rows, cols, 11);
        let qmm = candle_matrix(&w);
        for n in [1, 2, 5, 8, 19] {
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
        let (mut a, mut b) = (vec![0i32; 18], vec![0i32; 18]); // 8 + 8 + 2 blocks
        block_dots_portable(&row.vals, &q.qs, &mut a);
        (block_dots().unpacked)(&row.vals, &q.qs, &mut b);
        assert_eq!(a, b);
        assert!(a.iter().any(|&v| v != 0));
    }
}
