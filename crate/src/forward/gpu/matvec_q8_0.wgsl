// Q8_0: 34-byte blocks {f16 d, 32 x i8 q}; w = d * q.
const BLOCK_BYTES: u32 = 34u;
const BLOCK_ELEMS: u32 = 32u;

// Weights 8k..8k+8 of the block at byte `boff`.
fn unit_weights(boff: u32, k: u32) -> W8 {
    let d = f16_bits_to_f32(load_u16_at(boff));
    let q = boff + 2u + 8u * k;
    return W8(d * i8x4(load_u32_at(q)), d * i8x4(load_u32_at(q + 4u)));
}

@compute @workgroup_size(64)
fn matvec_q8_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    matvec_row(wid, lid);
}
