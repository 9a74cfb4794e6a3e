// Q4_K: 144-byte blocks of 256 weights {f16 d, f16 dmin, 12 bytes of 6-bit scales and mins,
// 128 bytes qs}. Sub-block s (32 weights) has scale sc_s and min m_s (ggml's
// get_scale_min_k4); its weights are the low (even s) or high (odd s) nibbles of
// qs[32 * (s / 2) ..][..32]; w = (d * sc_s) * q - dmin * m_s.
const BLOCK_BYTES: u32 = 144u;
const BLOCK_ELEMS: u32 = 256u;
const HAS_MIN: bool = true;

// (scale, min) of sub-block s.
fn scale_min(boff: u32, s: u32) -> vec2<u32> {
    let sc = boff + 4u;
    if (s < 4u) {
        return vec2<u32>(load_u8_at(sc + s) & 63u, load_u8_at(sc + s + 4u) & 63u);
    }
    return vec2<u32>(
        (load_u8_at(sc + s + 4u) & 0xfu) | ((load_u8_at(sc + s - 4u) >> 6u) << 4u),
        (load_u8_at(sc + s + 4u) >> 4u) | ((load_u8_at(sc + s) >> 6u) << 4u),
    );
}

fn block_d(boff: u32) -> f32 {
    return f16_bits_to_f32(load_u16_at(boff));
}

fn block_dmin(boff: u32) -> f32 {
    return f16_bits_to_f32(load_u16_at(boff + 2u));
}

// Weights e..e+4 (e a multiple of 4) as their raw integers q.
fn qints4(boff: u32, e: u32) -> vec4<f32> {
    let s = e >> 5u;
    let q = load_u32_at(boff + 16u + 32u * (s >> 1u) + (e & 31u));
    return u8x4((q >> ((s & 1u) * 4u)) & 0x0f0f0f0fu);
}

// Weights e..e+4 (e a multiple of 4) as integers sc_s * q.
fn ints4(boff: u32, e: u32) -> vec4<f32> {
    return f32(scale_min(boff, e >> 5u).x) * qints4(boff, e);
}

// For matvec_chain.wgsl: 8 sub-blocks of 32, scale d * sc_s and min dmin * m_s.
const SUBS: u32 = 8u;
const SUB_ELEMS: u32 = 32u;

fn sub_scale(boff: u32, s: u32) -> f32 {
    return block_d(boff) * f32(scale_min(boff, s).x);
}

fn sub_min(boff: u32, s: u32) -> f32 {
    return block_dmin(boff) * f32(scale_min(boff, s).y);
}

// The mins of sub-blocks 2j and 2j + 1.
fn block_mins(boff: u32, j: u32) -> vec2<f32> {
    return vec2<f32>(f32(scale_min(boff, 2u * j).y), f32(scale_min(boff, 2u * j + 1u).y));
}

@compute @workgroup_size(64)
fn matvec_q4_k(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (CHAIN) {
        matvec_row_chain(wid, lid);
    } else {
        matvec_row(wid, lid);
    }
}
