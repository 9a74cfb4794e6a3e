// Rotary position embedding in place on rows of heads (as forward::cpu::rope). Row r is at
// position start_pos + r; pair i of a head at position p rotates by table[2 (p * head_dim/2 + i)]
// (cos) and the next value (sin), computed by the host with the CPU op's own f32 expressions
// (GPU sin/cos are approximations), with the pairing (2i, 2i+1) (neox = 0) or
// (i, i + head_dim/2) (neox = 1). One invocation per (row, head, pair).

struct Params {
    rows: u32,
    n_heads: u32,
    head_dim: u32,
    start_pos: u32,
    neox: u32,
    groups_x: u32,
    // Always 0: `hide` keeps each product rounded on its own, as the CPU rounds it (a
    // compiler may otherwise fuse `x0 * c - x1 * s` into an fma).
    zero: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn hide(v: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(v) ^ params.zero);
}

@compute @workgroup_size(64)
fn rope(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let half = params.head_dim / 2u;
    let idx = (wid.x + wid.y * params.groups_x) * 64u + lid;
    if (idx >= params.rows * params.n_heads * half) {
        return;
    }
    let i = idx % half;
    let head = idx / half; // row * n_heads + head within the row
    let row = head / params.n_heads;
    let base = head * params.head_dim;
    let t = ((params.start_pos + row) * half + i) * 2u;
    let c = table[t];
    let s = table[t + 1u];
    var a = base + 2u * i;
    var b = a + 1u;
    if (params.neox != 0u) {
        a = base + i;
        b = a + half;
    }
    let x0 = x[a];
    let x1 = x[b];
    x[a] = hide(x0 * c) - hide(x1 * s);
    x[b] = hide(x0 * s) + hide(x1 * c);
}
