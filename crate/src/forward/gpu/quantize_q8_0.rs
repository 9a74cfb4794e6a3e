//! `quantize_q8_0`: activations quantized as ggml quantizes them for a Q8_0/Q5_0/Q4_0 matmul
//! (blocks of 32): the integers q, then each block's f16-rounded scale d, the layout the
//! quantized matvec kernels read (`matvec_quant.wgsl`), so the GPU computes the integer dot
//! products the CPU backend and llama.cpp compute. See `quantize_q8_0.wgsl`.

use super::{encode_blockwise, run_blockwise, GpuContext, GpuError, Kernel, Recorder};

pub const KERNEL: Kernel = Kernel { name: "quantize_q8_0", sources: &[super::F16, super::FMA_EXACT, super::DIV_RN, super::QUANTIZE, include_str!("quantize_q8_0.wgsl")] };

/// Blocks per workgroup of 64 invocations.
const PER_GROUP: usize = 64;

/// Values per block.
pub const BLOCK: usize = 32;

/// f32 of output for `len` activations: q, then one d per block.
pub const fn out_len(len: usize) -> usize {
    len + len / BLOCK
}

/// Records the quantization of the first `len` f32 of `x` (a multiple of [`BLOCK`]) into `out`
/// ([`out_len`] f32).
pub fn encode_quantize_q8_0(ctx: &GpuContext, encoder: &mut Recorder, x: &wgpu::Buffer, out: &wgpu::Buffer, len: usize) -> Result<(), GpuError> {
    encode_blockwise(ctx, encoder, &KERNEL, (BLOCK, PER_GROUP), x, out, len, out_len(len))
}

/// Uploads `x`, quantizes it and reads back the quantized values `d * q` (f32).
pub async fn quantize_q8_0_async(ctx: &GpuContext, x: &[f32]) -> Result<Vec<f32>, GpuError> {
    let out = run_blockwise(ctx, &KERNEL, (BLOCK, PER_GROUP), x, out_len(x.len())).await?;
    let (q, d) = out.split_at(x.len());
    Ok(q.iter().enumerate().map(|(i, &q)| d[i / BLOCK] * q).collect())
}

/// Blocking [`quantize_q8_0_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn quantize_q8_0(ctx: &GpuContext, x: &[f32]) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(quantize_q8_0_async(ctx, x))
}
