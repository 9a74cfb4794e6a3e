//! `quantize_q8_k`: activations rounded as ggml quantizes them for a quantized matmul (blocks
//! of 256), kept as f32 (`d * q`), so the GPU's matvec sees the numbers the CPU backend's and
//! llama.cpp's integer dot products see. See `quantize_q8_k.wgsl`.

use super::{as_u32, grid, need, GpuContext, GpuError, Kernel};

pub const KERNEL: Kernel = Kernel { name: "quantize_q8_k", sources: &[include_str!("quantize_q8_k.wgsl")] };

/// Values per block.
pub const BLOCK: usize = 256;

/// Records the rounding of the first `len` f32 of `x` (a multiple of 256) into `out`.
pub fn encode_quantize_q8_k(ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, x: &wgpu::Buffer, out: &wgpu::Buffer, len: usize) -> Result<(), GpuError> {
    if !len.is_multiple_of(BLOCK) {
        return Err(GpuError::Shape(format!("quantize_q8_k: {len} values are not blocks of {BLOCK}")));
    }
    need("quantize_q8_k", "x", x, len)?;
    need("quantize_q8_k", "out", out, len)?;
    let blocks = as_u32("quantize_q8_k", "blocks", len / BLOCK)?;
    let [gx, gy] = grid(ctx, (len / BLOCK).div_ceil(64));
    let params = ctx.uniform_u32("quantize_q8_k params", &[blocks, gx]);
    ctx.encode_dispatch(encoder, &KERNEL, &[x, out, &params], [gx, gy, 1])
}

/// Uploads `x`, rounds it and reads the result.
pub async fn quantize_q8_k_async(ctx: &GpuContext, x: &[f32]) -> Result<Vec<f32>, GpuError> {
    let xb = ctx.upload_f32("quantize_q8_k x", x)?;
    let ob = ctx.output_f32("quantize_q8_k out", x.len())?;
    let mut encoder = ctx.encoder("quantize_q8_k");
    encode_quantize_q8_k(ctx, &mut encoder, &xb, &ob, x.len())?;
    ctx.read_f32_async(Some(encoder), &ob, x.len()).await
}

/// Blocking [`quantize_q8_k_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn quantize_q8_k(ctx: &GpuContext, x: &[f32]) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(quantize_q8_k_async(ctx, x))
}
