//! `softmax`: numerically stable softmax of each `len`-long row, in place (the GPU twin of
//! `forward::cpu::softmax::softmax`, applied per row).

use super::{as_u32, grid, need, GpuContext, GpuError, Kernel, Recorder};

pub const KERNEL: Kernel = Kernel { name: "softmax", sources: &[super::FMA_EXACT, super::DIV_RN, super::EXP, super::REDUCE, include_str!("softmax.wgsl")] };

/// Records softmax of `rows` rows of `len` f32 of `x`, in place.
pub fn encode_softmax(ctx: &GpuContext, encoder: &mut Recorder, x: &wgpu::Buffer, rows: usize, len: usize) -> Result<(), GpuError> {
    if len == 0 {
        return Err(GpuError::Shape("softmax: rows of length 0".into()));
    }
    let total = rows.saturating_mul(len);
    need("softmax", "x", x, total)?;
    as_u32("softmax", "rows * len", total)?;
    let [gx, gy] = grid(ctx, rows);
    ctx.dispatch(encoder, &KERNEL, &[], &[x], &[len as u32, rows as u32, gx, 0], [gx, gy, 1])
}

/// Uploads `x` (rows of `len`), runs softmax on each row and reads it back.
pub async fn softmax_async(ctx: &GpuContext, x: &[f32], len: usize) -> Result<Vec<f32>, GpuError> {
    if len == 0 || !x.len().is_multiple_of(len) {
        return Err(GpuError::Shape(format!("softmax: {} values are not rows of {len}", x.len())));
    }
    let xb = super::upload_rw(ctx, "softmax x", x)?;
    let mut encoder = ctx.encoder("softmax");
    encode_softmax(ctx, &mut encoder, &xb, x.len() / len, len)?;
    ctx.read_f32_async(Some(encoder), &xb, x.len()).await
}

/// Blocking [`softmax_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn softmax(ctx: &GpuContext, x: &[f32], len: usize) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(softmax_async(ctx, x, len))
}
