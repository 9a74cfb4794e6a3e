// Q5_0: 22-byte blocks {f16 d, u32 qh, 16 bytes qs}. Weight j < 16 is the low nibble of qs[j],
// weight j >= 16 the high nibble of qs[j - 16]; bit j of qh is its fifth bit; w = d * (q - 16).
const BLOCK_BYTES: u32 = 22u;
const BLOCK_ELEMS: u32 = 32u;

// Four 5-bit values: nibbles of `lo` at `shift`, fifth bits = the low 4 bits of `hb`.
fn q5x4(lo: u32, shift: u32, hb: u32) -> vec4<f32> {
    let h = ((hb & 1u) << 4u) | ((hb & 2u) << 11u) | ((hb & 4u) << 18u) | ((hb & 8u) << 25u);
    return u8x4(((lo >> shift) & 0x0f0f0f0fu) | h) - vec4<f32>(16.0);
}

fn unit_weights(boff: u32, k: u32) -> W8 {
    let d = f16_bits_to_f32(load_u16_at(boff));
    let qh = load_u32_at(boff + 2u) >> (8u * k);
    let q = boff + 6u + 8u * (k & 1u);
    let shift = (k >> 1u) * 4u;
    let a = q5x4(load_u32_at(q), shift, qh);
    let b = q5x4(load_u32_at(q + 4u), shift, qh >> 4u);
    return W8(d * a, d * b);
}

@compute @workgroup_size(64)
fn matvec_q5_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    matvec_row(wid, lid);
}
