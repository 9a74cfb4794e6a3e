//! `rmsnorm`: `out = x / sqrt(mean(x²) + eps) * weight` for each `weight`-long row of `x`
//! (the GPU twin of `forward::cpu::rmsnorm`).

use super::{GpuContext, GpuError, Kernel, Recorder};

pub const KERNEL: Kernel = Kernel { name: "rmsnorm", sources: &[super::FMA_EXACT, super::DIV_RN, include_str!("rmsnorm.wgsl")] };

/// Records RMSNorm of `rows` rows of `len` f32 from `x` into `out`; `weight` holds `len` f32.
#[allow(clippy::too_many_arguments)]
pub fn encode_rmsnorm(
    ctx: &GpuContext,
    encoder: &mut Recorder,
    x: &wgpu::Buffer,
    weight: &wgpu::Buffer,
    out: &wgpu::Buffer,
    rows: usize,
    len: usize,
    eps: f32,
) -> Result<(), GpuError> {
    let bytes = (rows * len * 4) as u64;
    if len == 0 || x.size() < bytes || out.size() < bytes || weight.size() < (len * 4) as u64 {
        return Err(GpuError::Shape(format!(
            "rmsnorm of ({rows}, {len}) got buffers of {}, {} (weight) and {} bytes",
            x.size(),
            weight.size(),
            out.size()
        )));
    }
    let max = ctx.limits.max_compute_workgroups_per_dimension as usize;
    let groups_x = rows.clamp(1, max);
    let groups_y = rows.div_ceil(groups_x);
    ctx.dispatch(encoder, &KERNEL, &[], &[x, weight, out], &[len as u32, rows as u32, eps.to_bits(), groups_x as u32, 0], [groups_x as u32, groups_y as u32, 1])
}

/// Uploads `x` (rows of `weight.len()`) and `weight`, runs RMSNorm and reads the result back.
pub async fn rmsnorm_async(ctx: &GpuContext, x: &[f32], weight: &[f32], eps: f32) -> Result<Vec<f32>, GpuError> {
    let len = weight.len();
    if len == 0 || !x.len().is_multiple_of(len) {
        return Err(GpuError::Shape(format!("rmsnorm: {} values are not rows of {len}", x.len())));
    }
    let rows = x.len() / len;
    let xb = ctx.upload_f32("rmsnorm x", x)?;
    let wb = ctx.upload_f32("rmsnorm weight", weight)?;
    let ob = ctx.output_f32("rmsnorm out", x.len())?;
    let mut encoder = ctx.encoder("rmsnorm");
    encode_rmsnorm(ctx, &mut encoder, &xb, &wb, &ob, rows, len, eps)?;
    ctx.read_f32_async(Some(encoder), &ob, x.len()).await
}

/// Blocking [`rmsnorm_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn rmsnorm(ctx: &GpuContext, x: &[f32], weight: &[f32], eps: f32) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(rmsnorm_async(ctx, x, weight, eps))
}
