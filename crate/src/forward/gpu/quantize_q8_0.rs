//! `quantize_q8_0`: activations rounded as ggml quantizes them for a quantized matmul (blocks
//! of 32), kept as f32 (`d * q`), so the GPU's matvec sees the numbers the CPU backend's and
//! llama.cpp's integer dot products see. See `quantize_q8_0.wgsl`.

use super::{as_u32, grid, need, GpuContext, GpuError, Kernel};

pub const KERNEL: Kernel = Kernel { name: "quantize_q8_0", sources: &[super::F16, include_str!("quantize_q8_0.wgsl")] };

/// Values per block.
pub const BLOCK: usize = 32;

/// Records the rounding of the first `len` f32 of `x` (a multiple of 32) into `out`.
pub fn encode_quantize_q8_0(ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, x: &wgpu::Buffer, out: &wgpu::Buffer, len: usize) -> Result<(), GpuError> {
    if !len.is_multiple_of(BLOCK) {
        return Err(GpuError::Shape(format!("quantize_q8_0: {len} values are not blocks of {BLOCK}")));
    }
    need("quantize_q8_0", "x", x, len)?;
    need("quantize_q8_0", "out", out, len)?;
    let blocks = as_u32("quantize_q8_0", "blocks", len / BLOCK)?;
    let [gx, gy] = grid(ctx, (len / BLOCK).div_ceil(64));
    let params = ctx.uniform_u32("quantize_q8_0 params", &[blocks, gx]);
    ctx.encode_dispatch(encoder, &KERNEL, &[x, out, &params], [gx, gy, 1])
}

/// Uploads `x`, rounds it and reads the result.
pub async fn quantize_q8_0_async(ctx: &GpuContext, x: &[f32]) -> Result<Vec<f32>, GpuError> {
    let xb = ctx.upload_f32("quantize_q8_0 x", x)?;
    let ob = ctx.output_f32("quantize_q8_0 out", x.len())?;
    let mut encoder = ctx.encoder("quantize_q8_0");
    encode_quantize_q8_0(ctx, &mut encoder, &xb, &ob, x.len())?;
    ctx.read_f32_async(Some(encoder), &ob, x.len()).await
}

/// Blocking [`quantize_q8_0_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn quantize_q8_0(ctx: &GpuContext, x: &[f32]) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(quantize_q8_0_async(ctx, x))
}
