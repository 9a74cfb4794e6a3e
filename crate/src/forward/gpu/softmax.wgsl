// Numerically stable softmax of each row in place: x = exp(x - max) / Σ exp(x - max).
// One workgroup per row.

struct Params {
    len: u32,
    rows: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;

const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(64)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * params.groups_x;
    if (row >= params.rows) {
        return;
    }
    let off = row * params.len;
    var m = -3.4028235e38;
    for (var i = lid; i < params.len; i += WG) {
        m = max(m, x[off + i]);
    }
    partial[lid] = m;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] = max(partial[lid], partial[lid + s]);
        }
        workgroupBarrier();
    }
    let row_max = partial[0];
    workgroupBarrier();
    var sum = 0.0;
    for (var i = lid; i < params.len; i += WG) {
        let e = exp(x[off + i] - row_max);
        x[off + i] = e;
        sum += e;
    }
    partial[lid] = sum;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    let inv = 1.0 / partial[0];
    for (var i = lid; i < params.len; i += WG) {
        x[off + i] = x[off + i] * inv;
    }
}
