// Q6_K: 210-byte blocks of 256 weights {128 bytes ql, 64 bytes qh, 16 x i8 scales, f16 d}.
// Weight e = 128 n + 32 j + l (n < 2, j < 4, l < 32): low 4 bits = nibble (j >= 2: high) of
// ql[64 n + 32 (j & 1) + l], high 2 bits = bits 2j..2j+2 of qh[32 n + l],
// scale = scales[8 n + l / 16 + 2 j]; w = (d * scale) * (q - 32).
const BLOCK_BYTES: u32 = 210u;
const BLOCK_ELEMS: u32 = 256u;
const HAS_MIN: bool = false;

fn block_d(boff: u32) -> f32 {
    return f16_bits_to_f32(load_u16_at(boff + 208u));
}

// The i8 scale of the 16 weights from 16 s.
fn sub_sc(boff: u32, s: u32) -> f32 {
    return f32(extractBits(bitcast<i32>(load_u8_at(boff + 192u + s)), 0u, 8u));
}

// Weights e..e+4 (e a multiple of 4) as integers q - 32.
fn qints4(boff: u32, e: u32) -> vec4<f32> {
    let n = e >> 7u;
    let j = (e >> 5u) & 3u;
    let l = e & 31u;
    let ql = load_u32_at(boff + 64u * n + 32u * (j & 1u) + l);
    let qh = load_u32_at(boff + 128u + 32u * n + l);
    let v = ((ql >> ((j >> 1u) * 4u)) & 0x0f0f0f0fu) | (((qh >> (2u * j)) & 0x03030303u) << 4u);
    return u8x4(v) - vec4<f32>(32.0);
}

// Weights e..e+4 (e a multiple of 4) as integers scale * (q - 32).
fn ints4(boff: u32, e: u32) -> vec4<f32> {
    return sub_sc(boff, e >> 4u) * qints4(boff, e);
}

fn block_dmin(boff: u32) -> f32 {
    return 0.0;
}

fn block_mins(boff: u32, j: u32) -> vec2<f32> {
    return vec2<f32>(0.0);
}

@compute @workgroup_size(64)
fn matvec_q6_k(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    matvec_row(wid, lid);
}
