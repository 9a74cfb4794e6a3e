// Q5_0: 22-byte blocks {f16 d, u32 qh, 16 bytes qs}. Weight j < 16 is the low nibble of qs[j],
// weight j >= 16 the high nibble of qs[j - 16]; bit j of qh is its fifth bit; w = d * (q - 16).
const BLOCK_BYTES: u32 = 22u;
const BLOCK_ELEMS: u32 = 32u;
const HAS_MIN: bool = false;

fn block_d(boff: u32) -> f32 {
    return f16_bits_to_f32(load_u16_at(boff));
}

// Weights e..e+4 (e a multiple of 4) as integers q - 16.
fn ints4(boff: u32, e: u32) -> vec4<f32> {
    let hb = load_u32_at(boff + 2u) >> e;
    let h = ((hb & 1u) << 4u) | ((hb & 2u) << 11u) | ((hb & 4u) << 18u) | ((hb & 8u) << 25u);
    let shift = (e >> 4u) * 4u;
    return u8x4(((load_u32_at(boff + 6u + (e & 15u)) >> shift) & 0x0f0f0f0fu) | h) - vec4<f32>(16.0);
}

fn block_dmin(boff: u32) -> f32 {
    return 0.0;
}

fn block_mins(boff: u32, j: u32) -> vec2<f32> {
    return vec2<f32>(0.0);
}

@compute @workgroup_size(64)
fn matvec_q5_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    matvec_row(wid, lid);
}
