// Q4_0: 18-byte blocks {f16 d, 16 bytes qs}. Weight j < 16 is the low nibble of qs[j], weight
// j >= 16 the high nibble of qs[j - 16]; w = d * (q - 8).
const BLOCK_BYTES: u32 = 18u;
const BLOCK_ELEMS: u32 = 32u;
const HAS_MIN: bool = false;

fn block_d(boff: u32) -> f32 {
    return f16_bits_to_f32(load_u16_at(boff));
}

// Weights e..e+4 (e a multiple of 4) as integers q - 8.
fn ints4(boff: u32, e: u32) -> vec4<f32> {
    let shift = (e >> 4u) * 4u;
    return u8x4((load_u32_at(boff + 2u + (e & 15u)) >> shift) & 0x0f0f0f0fu) - vec4<f32>(8.0);
}

fn block_dmin(boff: u32) -> f32 {
    return 0.0;
}

fn block_mins(boff: u32, j: u32) -> vec2<f32> {
    return vec2<f32>(0.0);
}

@compute @workgroup_size(64)
fn matvec_q4_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    matvec_row(wid, lid);
}
