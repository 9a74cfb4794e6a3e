// Q4_0: 18-byte blocks {f16 d, 16 bytes qs}. Weight j < 16 is the low nibble of qs[j], weight
// j >= 16 the high nibble of qs[j - 16]; w = d * (q - 8).
const BLOCK_BYTES: u32 = 18u;
const BLOCK_ELEMS: u32 = 32u;

fn unit_weights(boff: u32, k: u32) -> W8 {
    let d = f16_bits_to_f32(load_u16_at(boff));
    let q = boff + 2u + 8u * (k & 1u);
    let shift = (k >> 1u) * 4u;
    let a = u8x4((load_u32_at(q) >> shift) & 0x0f0f0f0fu) - vec4<f32>(8.0);
    let b = u8x4((load_u32_at(q + 4u) >> shift) & 0x0f0f0f0fu) - vec4<f32>(8.0);
    return W8(d * a, d * b);
}

@compute @workgroup_size(64)
fn matvec_q4_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    matvec_row(wid, lid);
}
