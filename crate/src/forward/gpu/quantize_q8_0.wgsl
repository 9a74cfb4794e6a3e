// Activations quantized the way ggml (and the CPU backend) feed them to Q8_0/Q5_0/Q4_0 weights:
// per block of 32, d = max|x| / 127 (stored as f16), q = round(x / d) half away from zero
// (x * (1 / d) in f32, with the unrounded d, as the CPU). Output: the q (integers, as f32) in
// place of x, then the blocks' d after all of them (out[len + block]); `matvec_quant.wgsl`
// reads this layout. One invocation per block.

@compute @workgroup_size(64)
fn quantize_q8_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let b = (wid.x + wid.y * params.groups_x) * 64u + lid;
    if (b >= params.blocks) {
        return;
    }
    let ds = quantize_block_32(b * 32u);
    out[params.blocks * 32u + b] = round_f16(ds.x);
}
