// Activations rounded the way ggml/candle feed them to K-quant (Q4_K, Q6_K) weights: per block
// of 256, m = the value of largest magnitude (first one on ties), iscale = -127 / m,
// q = clamp(round(iscale * x), -128, 127) half away from zero, d = 1 / iscale (f32);
// out = d * q. One invocation per block.

struct Params {
    blocks: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn round_away(v: f32) -> f32 {
    let t = trunc(v);
    return select(t, t + sign(v), abs(v - t) >= 0.5);
}

@compute @workgroup_size(64)
fn quantize_q8_k(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let b = (wid.x + wid.y * params.groups_x) * 64u + lid;
    if (b >= params.blocks) {
        return;
    }
    let off = b * 256u;
    var amax = 0.0;
    var m = 0.0;
    for (var j = 0u; j < 256u; j++) {
        let v = x[off + j];
        if (amax < abs(v)) {
            amax = abs(v);
            m = v;
        }
    }
    if (amax == 0.0) {
        for (var j = 0u; j < 256u; j++) {
            out[off + j] = 0.0;
        }
        return;
    }
    let iscale = -127.0 / m;
    let d = 1.0 / iscale;
    for (var j = 0u; j < 256u; j++) {
        out[off + j] = d * clamp(round_away(iscale * x[off + j]), -128.0, 127.0);
    }
}
