// f32 weights, read as units of 8 (a 32-byte "block").
const BLOCK_BYTES: u32 = 32u;
const BLOCK_ELEMS: u32 = 8u;

fn unit_weights(boff: u32, k: u32) -> W8 {
    let w = boff >> 2u;
    let a = vec4<f32>(bitcast<f32>(weights[w]), bitcast<f32>(weights[w + 1u]), bitcast<f32>(weights[w + 2u]), bitcast<f32>(weights[w + 3u]));
    let b = vec4<f32>(bitcast<f32>(weights[w + 4u]), bitcast<f32>(weights[w + 5u]), bitcast<f32>(weights[w + 6u]), bitcast<f32>(weights[w + 7u]));
    return W8(a, b);
}

@compute @workgroup_size(64)
fn matvec_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    matvec_row(wid, lid);
}
