// Bias add in place: x[i] += bias[i % len] over `rows` rows of `len` (Qwen2's q/k/v biases).

struct Params {
    total: u32,
    len: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn add_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * params.groups_x) * 64u + lid;
    if (i >= params.total) {
        return;
    }
    x[i] = x[i] + bias[i % params.len];
}
