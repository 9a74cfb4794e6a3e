// Shared body of the quantized matvec kernels (Q4_0, Q5_0, Q8_0, Q4_K, Q6_K), after
// matvec.wgsl: y[t, row] = W[row] · x[t] in the arithmetic of the CPU backend (our Q8_0/Q5_0
// kernel and candle's AVX2 K-quant vec_dot, both ggml's order; where candle uses its repacked
// K-quant tiles instead, matvec.rs picks matvec_chain.wgsl), so the two backends agree bit for
// bit:
// - x comes quantized (quantize_q8_0 / quantize_q8_k): n * cols integers q (as f32), then the
//   n * cols / BLOCK_ELEMS block scales d, then (Q8_K only) the n * cols / 32 sums of each 32 q.
// - Block b's integer products are exact in f32 (every partial sum stays below 2^24).
// - A row keeps 8 lanes: lane l takes elements 4l..4l+3 of every 32 of the block (the 32-bit
//   lanes of an AVX2 register), and acc_l = fma(d_w * d_x, sumi_l, acc_l), blocks in order
//   (a once-rounded fma: fma_exact.wgsl).
// - y = ((acc_0 + acc_4) + (acc_2 + acc_6)) + ((acc_1 + acc_5) + (acc_3 + acc_7)) (hsum);
//   Q4_K adds its mins term, 4 lanes m_i = fma(-(d_x * dmin_w), m_2i S_2i + m_2i+1 S_2i+1, m_i)
//   (S_k: the sum of the q of sub-block k), summed as (m_0 + m_2) + (m_1 + m_3).
// Invocation j of a row's 4 holds lanes j and j + 4, so its first add is the hsum's, and
// row_sum (stride 2, then 1) adds in the hsum's order.
// Each format file defines BLOCK_BYTES, BLOCK_ELEMS, HAS_MIN, block_d (the f16 scale),
// ints4 (4 weights from element e, times their sub-block scale: integers), block_dmin and
// block_mins.

// Four signed bytes of a word as f32.
fn i8x4(w: u32) -> vec4<f32> {
    let s = bitcast<i32>(w);
    return vec4<f32>(f32(extractBits(s, 0u, 8u)), f32(extractBits(s, 8u, 8u)), f32(extractBits(s, 16u, 8u)), f32(extractBits(s, 24u, 8u)));
}

// Four unsigned bytes of a word as f32.
fn u8x4(w: u32) -> vec4<f32> {
    return vec4<f32>(f32(w & 0xffu), f32((w >> 8u) & 0xffu), f32((w >> 16u) & 0xffu), f32(w >> 24u));
}

// Lane j's mins term of block b for the activation row whose sub-block sums start at sr:
// m_2j S_2j + m_2j+1 S_2j+1 (integers, exact).
fn mins_term(mins: vec2<f32>, sr: u32, b: u32, j: u32) -> f32 {
    let s0 = sr + b * 8u + 2u * j;
    return mins.x * xs(s0) + mins.y * xs(s0 + 1u);
}

fn matvec_row(wid: vec3<u32>, lid: u32) {
    let tl = tile(wid, lid);
    let lane = tl.lane;
    let nb = params.cols / BLOCK_ELEMS;
    let tr = tile_rows(tl.t0);
    // Activation rows (in vec4s), their block scales and (Q8_K) sub-block sums.
    let xr = (tr * params.cols) >> vec4<u32>(2u);
    let d_base = params.n * params.cols;
    let dr = vec4<u32>(d_base) + tr * nb;
    let sr = vec4<u32>(d_base + params.n * nb) + tr * (params.cols / 32u);
    if (TT == 1u) {
        // One activation row: acc = (lanes lane, lane + 4, mins lane, unused), one fma_exact4.
        var acc = vec4<f32>(0.0);
        if (tl.row < params.rows) {
            for (var b = 0u; b < nb; b++) {
                let boff = (tl.row * nb + b) * BLOCK_BYTES;
                var s = vec2<f32>(0.0);
                for (var g = 0u; g < BLOCK_ELEMS / 32u; g++) {
                    let e = g * 32u + 4u * lane;
                    let xi = xr.x + ((b * BLOCK_ELEMS + e) >> 2u);
                    s += vec2<f32>(dot(ints4(boff, e), x[xi]), dot(ints4(boff, e + 16u), x[xi + 4u]));
                }
                let dx = xs(dr.x + b);
                let d = dx * block_d(boff);
                var dm = 0.0;
                var p = 0.0;
                if (HAS_MIN) {
                    dm = -(dx * block_dmin(boff));
                    p = mins_term(block_mins(boff, lane), sr.x, b, lane);
                }
                acc = fma_exact4(vec4<f32>(d, d, dm, 0.0), vec4<f32>(s, p, 0.0), acc);
            }
        }
        let sum = row_sum(lid, vec4<f32>(acc.x + acc.y, acc.z, 0.0, 0.0));
        store_rows(tl, vec4<f32>(select(sum.x, sum.x + sum.y, HAS_MIN)));
        return;
    }
    var acc_lo = vec4<f32>(0.0);
    var acc_hi = vec4<f32>(0.0);
    var acc_m = vec4<f32>(0.0);
    if (tl.row < params.rows) {
        for (var b = 0u; b < nb; b++) {
            let boff = (tl.row * nb + b) * BLOCK_BYTES;
            var s_lo = vec4<f32>(0.0);
            var s_hi = vec4<f32>(0.0);
            for (var g = 0u; g < BLOCK_ELEMS / 32u; g++) {
                let e = g * 32u + 4u * lane;
                let wlo = ints4(boff, e);
                let whi = ints4(boff, e + 16u);
                let xi = (b * BLOCK_ELEMS + e) >> 2u;
                s_lo += vec4<f32>(dot(wlo, x[xr.x + xi]), dot(wlo, x[xr.y + xi]), dot(wlo, x[xr.z + xi]), dot(wlo, x[xr.w + xi]));
                s_hi += vec4<f32>(dot(whi, x[xr.x + xi + 4u]), dot(whi, x[xr.y + xi + 4u]), dot(whi, x[xr.z + xi + 4u]), dot(whi, x[xr.w + xi + 4u]));
            }
            let dx = vec4<f32>(xs(dr.x + b), xs(dr.y + b), xs(dr.z + b), xs(dr.w + b));
            let d = dx * block_d(boff);
            acc_lo = fma_exact4(d, s_lo, acc_lo);
            acc_hi = fma_exact4(d, s_hi, acc_hi);
            if (HAS_MIN) {
                let mins = block_mins(boff, lane);
                let p = vec4<f32>(mins_term(mins, sr.x, b, lane), mins_term(mins, sr.y, b, lane), mins_term(mins, sr.z, b, lane), mins_term(mins, sr.w, b, lane));
                acc_m = fma_exact4(-(dx * block_dmin(boff)), p, acc_m);
            }
        }
    }
    var sum = row_sum(lid, acc_lo + acc_hi);
    if (HAS_MIN) {
        sum += row_sum(lid, acc_m);
    }
    store_rows(tl, sum);
}
