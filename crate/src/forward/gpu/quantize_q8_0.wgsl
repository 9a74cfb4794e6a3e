// Activations rounded the way ggml (and the CPU backend) feed them to Q8_0/Q5_0/Q4_0 weights:
// per block of 32, d = max|x| / 127 (stored as f16), q = round(x / d) half away from zero;
// out = f16(d) * q. A matvec over these values equals ggml's integer dot products up to f32
// summation order. One invocation per block.

struct Params {
    blocks: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// Rust's f32::round: halfway cases away from zero.
fn round_away(v: f32) -> f32 {
    let t = trunc(v);
    return select(t, t + sign(v), abs(v - t) >= 0.5);
}

@compute @workgroup_size(64)
fn quantize_q8_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let b = (wid.x + wid.y * params.groups_x) * 64u + lid;
    if (b >= params.blocks) {
        return;
    }
    let off = b * 32u;
    var amax = 0.0;
    for (var j = 0u; j < 32u; j++) {
        amax = max(amax, abs(x[off + j]));
    }
    let scale = amax / 127.0;
    let inv = select(0.0, 1.0 / scale, scale != 0.0);
    let d = round_f16(scale);
    for (var j = 0u; j < 32u; j++) {
        out[off + j] = d * round_away(x[off + j] * inv);
    }
}
