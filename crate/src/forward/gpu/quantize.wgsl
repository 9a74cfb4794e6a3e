// Shared by the activation quantizers (quantize_q8_0, quantize_q8_1, quantize_q8_k; with fma_exact.wgsl and
// div_rn.wgsl): x in, q and scales out (the layout matvec_quant.wgsl reads), one invocation
// per block; see mod.rs's encode_blockwise.

struct Params {
    blocks: u32,
    groups_x: u32,
    // Always 0 (fma_exact.wgsl's opaque_zero).
    zero: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn opaque_zero() -> u32 {
    return params.zero;
}

// Rust's f32::round (the CPU quantizers'): halfway cases away from zero.
fn round_away(v: f32) -> f32 {
    let t = trunc(v);
    return select(t, t + sign(v), abs(v - t) >= 0.5);
}
