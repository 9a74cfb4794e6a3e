// Gated SiLU (SwiGLU, as forward::cpu::silu): gate = x / (1 + exp(-x)) * up, with expf
// (exp.wgsl) and a correctly rounded division (div_rn.wgsl), rounded as the CPU rounds it.

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


@compute @workgroup_size(64)
fn silu_gate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * params.groups_x) * 64u + lid;
    if (i >= params.len) {
        return;
    }
    let x = gate[i];
    gate[i] = div_rn(x, 1.0 + expf(-x)) * up[i];
}
