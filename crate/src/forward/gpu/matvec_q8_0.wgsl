// Q8_0: 34-byte blocks {f16 d, 32 x i8 q}; w = d * q.
const BLOCK_BYTES: u32 = 34u;
const BLOCK_ELEMS: u32 = 32u;
const HAS_MIN: bool = false;

fn block_d(boff: u32) -> f32 {
    return f16_bits_to_f32(load_u16_at(boff));
}

// Weights e..e+4 of the block at byte `boff` (integers).
fn ints4(boff: u32, e: u32) -> vec4<f32> {
    return i8x4(load_u32_at(boff + 2u + e));
}

fn block_dmin(boff: u32) -> f32 {
    return 0.0;
}

fn block_mins(boff: u32, j: u32) -> vec2<f32> {
    return vec2<f32>(0.0);
}

@compute @workgroup_size(64)
fn matvec_q8_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    matvec_row(wid, lid);
}
