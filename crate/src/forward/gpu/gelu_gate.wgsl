// Gated GELU (tanh approximation, as forward::cpu::gelu): gate = gelu_tanh(gate) * up.
// tanh is computed from exp(-2|u|) so it never overflows (some drivers NaN on large tanh args).

struct Params {
    len: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read_write> gate: array<f32>;
@group(0) @binding(1) var<storage, read> up: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const SQRT_2_OVER_PI: f32 = 0.7978846;

@compute @workgroup_size(64)
fn gelu_gate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * params.groups_x) * 64u + lid;
    if (i >= params.len) {
        return;
    }
    let x = gate[i];
    let u = SQRT_2_OVER_PI * x * (1.0 + 0.044715 * x * x);
    let t = exp(-2.0 * abs(u));
    let th = sign(u) * (1.0 - t) / (1.0 + t);
    gate[i] = 0.5 * x * (1.0 + th) * up[i];
}
