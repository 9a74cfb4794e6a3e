// Q6_K: 210-byte blocks of 256 weights {128 bytes ql, 64 bytes qh, 16 x i8 scales, f16 d}.
// Weight e = 128 n + 32 j + l (n < 2, j < 4, l < 32): low 4 bits = nibble (j >= 2: high) of
// ql[64 n + 32 (j & 1) + l], high 2 bits = bits 2j..2j+2 of qh[32 n + l],
// scale = scales[8 n + l / 16 + 2 j]; w = (d * scale) * (q - 32).
const BLOCK_BYTES: u32 = 210u;
const BLOCK_ELEMS: u32 = 256u;

fn q6x4(ql: u32, lshift: u32, qh: u32, hshift: u32) -> vec4<f32> {
    let v = ((ql >> lshift) & 0x0f0f0f0fu) | (((qh >> hshift) & 0x03030303u) << 4u);
    return u8x4(v) - vec4<f32>(32.0);
}

fn unit_weights(boff: u32, k: u32) -> W8 {
    let e = 8u * k;
    let n = e >> 7u;
    let j = (e >> 5u) & 3u;
    let l = e & 31u;
    let sc = f32(extractBits(bitcast<i32>(load_u8_at(boff + 192u + 8u * n + (l >> 4u) + 2u * j)), 0u, 8u));
    let d = f16_bits_to_f32(load_u16_at(boff + 208u)) * sc;
    let ql = boff + 64u * n + 32u * (j & 1u) + l;
    let qh = boff + 128u + 32u * n + l;
    let lshift = (j >> 1u) * 4u;
    let hshift = 2u * j;
    let a = q6x4(load_u32_at(ql), lshift, load_u32_at(qh), hshift);
    let b = q6x4(load_u32_at(ql + 4u), lshift, load_u32_at(qh + 4u), hshift);
    return W8(d * a, d * b);
}

@compute @workgroup_size(64)
fn matvec_q6_k(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    matvec_row(wid, lid);
}
