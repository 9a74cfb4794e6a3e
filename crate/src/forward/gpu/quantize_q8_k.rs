//! `quantize_q8_k`: activations rounded as ggml quantizes them for a quantized matmul (blocks
//! of 256), kept as f32 (`d * q`), so the GPU's matvec sees the numbers the CPU backend's and
//! llama.cpp's integer dot products see. See `quantize_q8_k.wgsl`.

use super::{encode_blockwise, run_blockwise, GpuContext, GpuError, Kernel};

pub const KERNEL: Kernel = Kernel { name: "quantize_q8_k", sources: &[include_str!("quantize_q8_k.wgsl")] };

/// Values per block.
pub const BLOCK: usize = 256;

/// Records the rounding of the first `len` f32 of `x` (a multiple of [`BLOCK`]) into `out`.
pub fn encode_quantize_q8_k(ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, x: &wgpu::Buffer, out: &wgpu::Buffer, len: usize) -> Result<(), GpuError> {
    encode_blockwise(ctx, encoder, &KERNEL, BLOCK, x, out, len)
}

/// Uploads `x`, rounds it and reads the result.
pub async fn quantize_q8_k_async(ctx: &GpuContext, x: &[f32]) -> Result<Vec<f32>, GpuError> {
    run_blockwise(ctx, &KERNEL, BLOCK, x).await
}

/// Blocking [`quantize_q8_k_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn quantize_q8_k(ctx: &GpuContext, x: &[f32]) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(quantize_q8_k_async(ctx, x))
}
