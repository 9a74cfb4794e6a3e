// The K-quant matvec in the order of candle's x86 repacked tiles (repack_x86.rs), which the
// CPU backend runs for Q4_K on x86_64 (matvec::chain_order): one
// accumulator per (weight row, activation row), blocks in order, sub-blocks in order, and per
// sub-block s of block b
//   acc = fma(S_s, dx * (d * sc_s), acc)                       S_s = Σ q·x over the sub-block
//   acc = fma(-(dmin * m_s), dx * X_s, acc)   (Q4_K only)      X_s = Σ x over its 32 values
// with every product rounded as written and each fma rounded once (fma_exact.wgsl). The
// integer sums S_s are exact in any order, so the TPR invocations of a row each take whole
// sub-blocks (s = lane, lane + TPR, ...), stage their sums in workgroup memory, and invocation
// j then runs the chain of activation row j (matvec.rs picks this order, `CHAIN`).
// The format file defines SUBS (sub-blocks per block), SUB_ELEMS, qints4 (4 weights as raw
// integers), sub_scale (d * sc_s) and sub_min (dmin * m_s).

override CHAIN: bool = false;
// Sub-block sums of one block: RPW (16) rows × SUBS (8) sub-blocks, a vec4 of activation rows each.
const CHAIN_SLOTS: u32 = 128u;
var<workgroup> isums: array<vec4<f32>, CHAIN_SLOTS>;

fn matvec_row_chain(wid: vec3<u32>, lid: u32) {
    let tl = tile(wid, lid);
    let nb = params.cols / BLOCK_ELEMS;
    let tr = tile_rows(tl.t0);
    let xr = (tr * params.cols) >> vec4<u32>(2u);
    let d_base = params.n * params.cols;
    let dr = vec4<u32>(d_base) + tr * nb;
    let sr = vec4<u32>(d_base + params.n * nb) + tr * (params.cols / 32u);
    let slot = (lid / TPR) * SUBS;
    // Rows past the end read the last row (uniform barriers for the whole workgroup), never stored.
    let row = min(tl.row, params.rows - 1u);
    let j = min(tl.lane, TT - 1u);
    var acc = 0.0;
    for (var b = 0u; b < nb; b++) {
        let boff = (row * nb + b) * BLOCK_BYTES;
        for (var s = tl.lane; s < SUBS; s += TPR) {
            var v = vec4<f32>(0.0);
            for (var e = s * SUB_ELEMS; e < (s + 1u) * SUB_ELEMS; e += 4u) {
                let w = qints4(boff, e);
                let xi = (b * BLOCK_ELEMS + e) >> 2u;
                if (TT == 1u) {
                    v.x += dot(w, x[xr.x + xi]);
                } else {
                    v += vec4<f32>(dot(w, x[xr.x + xi]), dot(w, x[xr.y + xi]), dot(w, x[xr.z + xi]), dot(w, x[xr.w + xi]));
                }
            }
            isums[slot + s] = v;
        }
        workgroupBarrier();
        if (tl.lane < TT) {
            let dx = xs(dr[j] + b);
            for (var s = 0u; s < SUBS; s++) {
                acc = fma1(isums[slot + s][j], dx * sub_scale(boff, s), acc);
                if (HAS_MIN) {
                    acc = fma1(-sub_min(boff, s), dx * xs(sr[j] + b * 8u + s), acc);
                }
            }
        }
        workgroupBarrier();
    }
    if (tl.lane < TT && tl.row < params.rows && tl.t0 + j < params.n) {
        y[(tl.t0 + j) * params.y_stride + params.row_offset + tl.row] = acc;
    }
}
