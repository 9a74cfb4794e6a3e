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
    let ds = quantize_block_32(b * 32u);
    let d = round_f16(ds.x);
    out[params.blocks * 32u + b] = d;
    out[params.blocks * 33u + b] = round_f16(round_f16(ds.y) * d);
}
