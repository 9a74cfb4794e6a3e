// Activations quantized the way ggml/candle feed them to K-quant (Q4_K, Q6_K) weights: per
// block of 256, m = the value of largest magnitude (first one on ties), iscale = -127 / m,
// q = clamp(round(iscale * x), -128, 127) half away from zero, d = 1 / iscale (f32).
// Output (len = 256 * blocks): the q (integers, as f32) in place of x, then the blocks' d at
// out[len + block], then the sums of each 32 q at out[len + blocks + 8 * block + k]
// (ggml's bsums, pairwise); `matvec_quant.wgsl` reads this layout. One invocation per block.

@compute @workgroup_size(64)
fn quantize_q8_k(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let b = (wid.x + wid.y * params.groups_x) * 64u + lid;
    if (b >= params.blocks) {
        return;
    }
    let off = b * 256u;
    let len = params.blocks * 256u;
    var amax = 0.0;
    var m = 0.0;
    for (var j = 0u; j < 256u; j++) {
        let v = x[off + j];
        if (amax < abs(v)) {
            amax = abs(v);
            m = v;
        }
    }
    var iscale = 0.0;
    var d = 0.0;
    if (amax != 0.0) {
        iscale = div_rn(-127.0, m);
        d = div_rn(1.0, iscale);
    }
    for (var k = 0u; k < 8u; k++) {
        var sum = 0.0;
        for (var j = 32u * k; j < 32u * k + 32u; j++) {
            let q = clamp(round_away(iscale * x[off + j]), -128.0, 127.0);
            out[off + j] = q;
            sum += q;
        }
        out[len + params.blocks + 8u * b + k] = sum;
    }
    out[len + b] = d;
}
