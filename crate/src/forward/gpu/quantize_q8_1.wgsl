// Activations quantized the way ggml (and candle, so the CPU backend) feed them to Q4_1
// weights: Q8_1, per block of 32 the q and d of quantize_q8_0 (d = max|x| / 127, q =
// round(x * (1 / d)) half away from zero with the unrounded d, d stored as f16) and also
// s = f16(f16(Σ q) · d) (candle's `f16::from_f32(sum) * d`, a product of two f16 values, exact
// in f32, rounded to f16). Output: the q (integers, as f32) in place of x, then the blocks' d
// (out[len + block]), then their s (out[len + blocks + block]); `matvec_q4_1.wgsl` reads this
// layout. One invocation per block.

@compute @workgroup_size(64)
fn quantize_q8_1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let b = (wid.x + wid.y * params.groups_x) * 64u + lid;
    if (b >= params.blocks) {
        return;
    }
    let off = b * 32u;
    var amax = 0.0;
    for (var j = 0u; j < 32u; j++) {
        amax = max(amax, abs(x[off + j]));
    }
    let scale = div_rn(amax, 127.0);
    let inv = select(0.0, div_rn(1.0, scale), scale != 0.0);
    var sum = 0.0;
    for (var j = 0u; j < 32u; j++) {
        let q = round_away(x[off + j] * inv);
        out[off + j] = q;
        sum += q;
    }
    let d = round_f16(scale);
    out[params.blocks * 32u + b] = d;
    out[params.blocks * 33u + b] = round_f16(round_f16(sum) * d);
}
