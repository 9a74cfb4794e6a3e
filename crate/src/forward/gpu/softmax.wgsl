// Numerically stable softmax of each row in place: x = exp(x - max) / Σ exp(x - max).
// One workgroup per row. Rounded as forward::cpu::softmax: expf (exp.wgsl), the workgroup
// sum's order (the CPU's lane_sum), a correctly rounded reciprocal (div_rn.wgsl).

struct Params {
    len: u32,
    rows: u32,
    groups_x: u32,
    // Always 0 (fma_exact.wgsl's opaque_zero).
    zero: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;

fn opaque_zero() -> u32 {
    return params.zero;
}

// WG, partial, workgroup_max and workgroup_sum come from reduce.wgsl.

@compute @workgroup_size(64)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * params.groups_x;
    if (row >= params.rows) {
        return;
    }
    let off = row * params.len;
    // -f32::MAX exactly, as a hex literal: Tint rejects the decimal -3.4028235e38 (its exact
    // value lies past f32::MAX before rounding); naga accepts both.
    var m = -0x1.fffffep+127f;
    for (var i = lid; i < params.len; i += WG) {
        m = max(m, x[off + i]);
    }
    let row_max = workgroup_max(lid, m);
    var sum = 0.0;
    for (var i = lid; i < params.len; i += WG) {
        let e = expf(x[off + i] - row_max);
        x[off + i] = e;
        sum += e;
    }
    let total = workgroup_sum(lid, sum);
    let inv = div_rn(1.0, total);
    for (var i = lid; i < params.len; i += WG) {
        x[off + i] = x[off + i] * inv;
    }
}
