//! `quantize_q8_0`: activations rounded as ggml quantizes them for a quantized matmul (blocks
//! of 32), kept as f32 (`d * q`), so the GPU's matvec sees the numbers the CPU backend's and
//! llama.cpp's integer dot products see. See `quantize_q8_0.wgsl`.

use super::{encode_blockwise, run_blockwise, GpuContext, GpuError, Kernel};

pub const KERNEL: Kernel = Kernel { name: "quantize_q8_0", sources: &[super::F16, include_str!("quantize_q8_0.wgsl")] };

/// Values per block.
pub const BLOCK: usize = 32;

/// Records the rounding of the first `len` f32 of `x` (a multiple of [`BLOCK`]) into `out`.
pub fn encode_quantize_q8_0(ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, x: &wgpu::Buffer, out: &wgpu::Buffer, len: usize) -> Result<(), GpuError> {
    encode_blockwise(ctx, encoder, &KERNEL, BLOCK, x, out, len)
}

/// Uploads `x`, rounds it and reads the result.
pub async fn quantize_q8_0_async(ctx: &GpuContext, x: &[f32]) -> Result<Vec<f32>, GpuError> {
    run_blockwise(ctx, &KERNEL, BLOCK, x).await
}

/// Blocking [`quantize_q8_0_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn quantize_q8_0(ctx: &GpuContext, x: &[f32]) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(quantize_q8_0_async(ctx, x))
}
