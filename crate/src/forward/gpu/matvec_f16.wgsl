// f16 weights, read as units of 8 (a 16-byte "block") and decoded from their bits.
const BLOCK_BYTES: u32 = 16u;
const BLOCK_ELEMS: u32 = 8u;

fn f16x2(w: u32) -> vec2<f32> {
    return vec2<f32>(f16_bits_to_f32(w & 0xffffu), f16_bits_to_f32(w >> 16u));
}

fn unit_weights(boff: u32, k: u32) -> W8 {
    let w = boff >> 2u;
    let a = vec4<f32>(f16x2(weights[w]), f16x2(weights[w + 1u]));
    let b = vec4<f32>(f16x2(weights[w + 2u]), f16x2(weights[w + 3u]));
    return W8(a, b);
}

@compute @workgroup_size(64)
fn matvec_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    matvec_row(wid, lid);
}
