//! `quantize_q8_1`: activations quantized as ggml quantizes them for a Q4_1 matmul (blocks of
//! 32): the integers q, then each block's f16-rounded scale d, then its f16 `s = Σq · d`, the
//! layout `matvec_q4_1` reads, so the GPU computes the dot products the CPU backend (candle's
//! Q4_1 × Q8_1) computes. See `quantize_q8_1.wgsl`.

use super::{encode_blockwise, run_blockwise, GpuContext, GpuError, Kernel, Recorder};

pub const KERNEL: Kernel = Kernel { name: "quantize_q8_1", sources: &[super::F16, super::FMA_EXACT, super::DIV_RN, super::QUANTIZE, include_str!("quantize_q8_1.wgsl")] };

/// Blocks per workgroup of 64 invocations.
const PER_GROUP: usize = 64;

/// Values per block.
pub const BLOCK: usize = 32;

/// f32 of output for `len` activations: q, then one d per block, then one s per block.
pub const fn out_len(len: usize) -> usize {
    len + 2 * (len / BLOCK)
}

/// Records the quantization of the first `len` f32 of `x` (a multiple of [`BLOCK`]) into `out`
/// ([`out_len`] f32).
pub fn encode_quantize_q8_1(ctx: &GpuContext, encoder: &mut Recorder, x: &wgpu::Buffer, out: &wgpu::Buffer, len: usize) -> Result<(), GpuError> {
    encode_blockwise(ctx, encoder, &KERNEL, (BLOCK, PER_GROUP), x, out, len, out_len(len))
}

/// Uploads `x`, quantizes it and reads back what the kernel wrote: (q, d, s).
pub async fn quantize_q8_1_async(ctx: &GpuContext, x: &[f32]) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>), GpuError> {
    let mut q = run_blockwise(ctx, &KERNEL, (BLOCK, PER_GROUP), x, out_len(x.len())).await?;
    let mut d = q.split_off(x.len());
    let s = d.split_off(x.len() / BLOCK);
    Ok((q, d, s))
}

/// Blocking [`quantize_q8_1_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn quantize_q8_1(ctx: &GpuContext, x: &[f32]) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>), GpuError> {
    pollster::block_on(quantize_q8_1_async(ctx, x))
}
