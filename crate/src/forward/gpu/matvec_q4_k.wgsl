// Q4_K: 144-byte blocks of 256 weights {f16 d, f16 dmin, 12 bytes of 6-bit scales and mins,
// 128 bytes qs}. Sub-block s (32 weights) has scale sc_s and min m_s (ggml's
// get_scale_min_k4); its weights are the low (even s) or high (odd s) nibbles of
// qs[32 * (s / 2) ..][..32]; w = (d * sc_s) * q - dmin * m_s.
const BLOCK_BYTES: u32 = 144u;
const BLOCK_ELEMS: u32 = 256u;

fn unit_weights(boff: u32, k: u32) -> W8 {
    let s = k >> 2u;
    let sc = boff + 4u;
    var scale: u32;
    var mn: u32;
    if (s < 4u) {
        scale = load_u8_at(sc + s) & 63u;
        mn = load_u8_at(sc + s + 4u) & 63u;
    } else {
        scale = (load_u8_at(sc + s + 4u) & 0xfu) | ((load_u8_at(sc + s - 4u) >> 6u) << 4u);
        mn = (load_u8_at(sc + s + 4u) >> 4u) | ((load_u8_at(sc + s) >> 6u) << 4u);
    }
    let d = f16_bits_to_f32(load_u16_at(boff)) * f32(scale);
    let m = f16_bits_to_f32(load_u16_at(boff + 2u)) * f32(mn);
    let q = boff + 16u + 32u * (s >> 1u) + 8u * (k & 3u);
    let shift = (s & 1u) * 4u;
    let a = u8x4((load_u32_at(q) >> shift) & 0x0f0f0f0fu);
    let b = u8x4((load_u32_at(q + 4u) >> shift) & 0x0f0f0f0fu);
    return W8(d * a - vec4<f32>(m), d * b - vec4<f32>(m));
}

@compute @workgroup_size(64)
fn matvec_q4_k(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    matvec_row(wid, lid);
}
