// RMSNorm of each row: out = x / sqrt(mean(x^2) + eps) * weight. One workgroup per row.

struct Params {
    len: u32,
    rows: u32,
    eps: f32,
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// WG, partial, workgroup_max and workgroup_sum come from reduce.wgsl.

@compute @workgroup_size(64)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * params.groups_x;
    if (row >= params.rows) {
        return;
    }
    let off = row * params.len;
    var ss = 0.0;
    for (var i = lid; i < params.len; i += WG) {
        let v = x[off + i];
        ss += v * v;
    }
    let total = workgroup_sum(lid, ss);
    // 1 / sqrt, not inverseSqrt: WGSL allows inverseSqrt 2 ULP, sqrt and division are tighter.
    let scale = 1.0 / sqrt(total / f32(params.len) + params.eps);
    for (var i = lid; i < params.len; i += WG) {
        out[off + i] = x[off + i] * scale * weight[i];
    }
}
