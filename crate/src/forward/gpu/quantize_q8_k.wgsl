// Activations quantized the way ggml/candle feed them to K-quant (Q4_K, Q6_K) weights: per
// block of 256, m = the value of largest magnitude (first one on ties), iscale = -127 / m,
// q = clamp(round(iscale * x), -128, 127) half away from zero, d = 1 / iscale (f32).
// Output (len = 256 * blocks): the q (integers, as f32) in place of x, then the blocks' d at
// out[len + block], then the sums of each 32 q at out[len + blocks + 8 * block + k]
// (ggml's bsums, pairwise); `matvec_quant.wgsl` reads this layout. One workgroup per block:
// each invocation takes 4 values; the first largest magnitude is found by a tree reduction
// that keeps the lower index on ties (what the sequential scan finds), and the 32-value sums
// are integers (exact in any order).

var<workgroup> red_amax: array<f32, 64>;
var<workgroup> red_m: array<f32, 64>;
var<workgroup> red_idx: array<u32, 64>;
var<workgroup> red_sum: array<f32, 64>;
var<workgroup> block_scale: vec2<f32>; // (iscale, d)

@compute @workgroup_size(64)
fn quantize_q8_k(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let b = wid.x + wid.y * params.groups_x;
    let live = b < params.blocks;
    let off = b * 256u + 4u * lid;
    let len = params.blocks * 256u;
    var v = vec4<f32>(0.0);
    var amax = 0.0;
    var m = 0.0;
    var idx = 0xffffffffu;
    if (live) {
        v = vec4<f32>(x[off], x[off + 1u], x[off + 2u], x[off + 3u]);
        for (var k = 0u; k < 4u; k++) {
            if (amax < abs(v[k])) {
                amax = abs(v[k]);
                m = v[k];
                idx = 4u * lid + k;
            }
        }
    }
    red_amax[lid] = amax;
    red_m[lid] = m;
    red_idx[lid] = idx;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) {
            let oa = red_amax[lid + s];
            let oi = red_idx[lid + s];
            if (oa > red_amax[lid] || (oa == red_amax[lid] && oi < red_idx[lid])) {
                red_amax[lid] = oa;
                red_m[lid] = red_m[lid + s];
                red_idx[lid] = oi;
            }
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        var iscale = 0.0;
        var d = 0.0;
        if (red_amax[0] != 0.0) {
            iscale = div_rn(-127.0, red_m[0]);
            d = div_rn(1.0, iscale);
        }
        block_scale = vec2<f32>(iscale, d);
    }
    workgroupBarrier();
    let iscale = block_scale.x;
    var sum = 0.0;
    if (live) {
        for (var k = 0u; k < 4u; k++) {
            let q = clamp(round_away(iscale * v[k]), -128.0, 127.0);
            out[off + k] = q;
            sum += q;
        }
    }
    red_sum[lid] = sum;
    workgroupBarrier();
    if (live && lid < 8u) {
        var total = 0.0;
        for (var t = 8u * lid; t < 8u * lid + 8u; t++) {
            total += red_sum[t];
        }
        out[len + params.blocks + 8u * b + lid] = total;
    }
    if (live && lid == 0u) {
        out[len + b] = block_scale.y;
    }
}
