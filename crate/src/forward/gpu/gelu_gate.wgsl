// Gated GELU (tanh approximation, as forward::cpu::gelu): gate = gelu_tanh(gate) * up, with
// glibc's tanhf (tanh.wgsl), in the CPU's steps, so the two backends round it alike.

struct Params {
    len: u32,
    groups_x: u32,
    // Always 0 (fma_exact.wgsl's opaque_zero).
    zero: u32,
}

@group(0) @binding(0) var<storage, read_write> gate: array<f32>;
@group(0) @binding(1) var<storage, read> up: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn opaque_zero() -> u32 {
    return params.zero;
}

const SQRT_2_OVER_PI: f32 = 0.7978846;

@compute @workgroup_size(64)
fn gelu_gate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * params.groups_x) * 64u + lid;
    if (i >= params.len) {
        return;
    }
    let x = gate[i];
    let u = SQRT_2_OVER_PI * x * (1.0 + hide(0.044715 * x * x));
    gate[i] = 0.5 * x * (1.0 + tanhf(u)) * up[i];
}
