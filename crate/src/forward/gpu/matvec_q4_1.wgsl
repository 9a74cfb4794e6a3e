// Q4_1: 20-byte blocks {f16 d, f16 m, 16 bytes qs}. Weight j < 16 is the low nibble of qs[j],
// weight j >= 16 the high nibble of qs[j - 16]; w = d * q + m.
// After matvec.wgsl, with quantize_q8_1's activations (q, then each block's d_x, then its
// s_x = f16(Σq · d_x)). The CPU backend multiplies Q4_1 weights with candle 0.11's
// BlockQ4_1::vec_dot (ggml's scalar reference; no SIMD or repacked path on any target): one
// accumulator per (weight row, activation row), blocks in order,
//   acc = acc + ((S_b * d_w) * d_x + m_w * s_x)        S_b = Σ q_w q_x over block b
// rounded as written (m_w * s_x, two f16 values, is exact; the others round once each).
// S_b is an exact integer in f32 (|S_b| <= 32 * 15 * 128 < 2^24), in any order, so the TPR
// invocations of a row each take every TPR-th block of a chunk of CHUNK blocks and stage their
// sums in workgroup memory (a vec4 of activation rows each); invocation j then runs activation
// row j's chain over the chunk. `hide` (fma_exact.wgsl) keeps (S_b * d_w) * d_x rounded before
// the add, so a compiler that fuses multiply-adds cannot change it.

const BLOCK_BYTES: u32 = 20u;
const CHUNK: u32 = 16u;
// RPW (16) rows × CHUNK blocks.
var<workgroup> block_sums: array<vec4<f32>, 256>;

// The 4-bit values in bits 0..4 of each byte of w, as f32.
fn nibbles(w: u32) -> vec4<f32> {
    let v = vec4<u32>(w, w >> 8u, w >> 16u, w >> 24u) & vec4<u32>(0xfu);
    return vec4<f32>(v);
}

@compute @workgroup_size(64)
fn matvec_q4_1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tl = tile(wid, lid);
    let nb = params.cols / 32u;
    let tr = tile_rows(tl.t0);
    // Activation rows (in vec4s), their block scales d_x and sums s_x.
    let xr = (tr * params.cols) >> vec4<u32>(2u);
    let d_base = params.n * params.cols;
    let dr = vec4<u32>(d_base) + tr * nb;
    let sr = vec4<u32>(d_base + params.n * nb) + tr * nb;
    let slot = (lid / TPR) * CHUNK;
    // Rows past the end read the last row (uniform barriers for the whole workgroup), never stored.
    let row = min(tl.row, params.rows - 1u);
    let j = min(tl.lane, TT - 1u);
    var acc = 0.0;
    for (var c = 0u; c < nb; c += CHUNK) {
        let end = min(c + CHUNK, nb);
        for (var b = c + tl.lane; b < end; b += TPR) {
            // Blocks are 20 bytes: every word of one is aligned.
            let w0 = (row * nb + b) * (BLOCK_BYTES / 4u) + 1u;
            let x0 = b * 8u;
            var v = vec4<f32>(0.0);
            for (var k = 0u; k < 4u; k++) {
                let q = weights[w0 + k];
                let lo = nibbles(q);
                let hi = nibbles(q >> 4u);
                let xi = x0 + k;
                if (TT == 1u) {
                    v.x += dot(lo, x[xr.x + xi]) + dot(hi, x[xr.x + xi + 4u]);
                } else {
                    v += vec4<f32>(
                        dot(lo, x[xr.x + xi]) + dot(hi, x[xr.x + xi + 4u]),
                        dot(lo, x[xr.y + xi]) + dot(hi, x[xr.y + xi + 4u]),
                        dot(lo, x[xr.z + xi]) + dot(hi, x[xr.z + xi + 4u]),
                        dot(lo, x[xr.w + xi]) + dot(hi, x[xr.w + xi + 4u]),
                    );
                }
            }
            block_sums[slot + b - c] = v;
        }
        workgroupBarrier();
        if (tl.lane < TT) {
            for (var b = c; b < end; b++) {
                let dm = weights[(row * nb + b) * (BLOCK_BYTES / 4u)];
                let dw = f16_bits_to_f32(dm & 0xffffu);
                let mw = f16_bits_to_f32(dm >> 16u);
                let t = hide(hide(block_sums[slot + b - c][j] * dw) * xs(dr[j] + b));
                acc = acc + (t + mw * xs(sr[j] + b));
            }
        }
        workgroupBarrier();
    }
    if (tl.lane < TT && tl.row < params.rows && tl.t0 + j < params.n) {
        y[(tl.t0 + j) * params.y_stride + params.row_offset + tl.row] = acc;
    }
}
