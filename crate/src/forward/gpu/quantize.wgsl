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

// One block of 32 at `off` as ggml's Q8_0/Q8_1 quantizers compute it: d = max|x| / 127,
// q = round(x * (1 / d)) half away from zero with the unrounded d; the q are written over
// out[off..off + 32]. Returns (d unrounded, Σ q) — Q8_1 also stores the sum.
fn quantize_block_32(off: u32) -> vec2<f32> {
    var amax = 0.0;
    for (var j = 0u; j < 32u; j++) {
        amax = max(amax, abs(x[off + j]));
    }
    let scale = div_rn(amax, 127.0);
    let inv = select(0.0, div_rn(1.0, scale), scale != 0.0);
    var sum = 0.0;
    for (var j = 0u; j < 32u; j++) {
        let q = round_away(x[off + j] * inv);
        out[off + j] = q;
        sum += q;
    }
    return vec2<f32>(scale, sum);
}
