//! `add`: residual add in place, `a += b`, elementwise over `len` f32.

use super::{as_u32, grid, need, GpuContext, GpuError, Kernel};

pub const KERNEL: Kernel = Kernel { name: "add", sources: &[include_str!("add.wgsl")] };

/// Records `add` over the first `len` f32 of `a` (written in place) and `b`.
pub fn encode_add(ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, a: &wgpu::Buffer, b: &wgpu::Buffer, len: usize) -> Result<(), GpuError> {
    need("add", "a", a, len)?;
    need("add", "b", b, len)?;
    let n = as_u32("add", "len", len)?;
    let [gx, gy] = grid(ctx, len.div_ceil(64));
    let params = ctx.uniform_u32("add params", &[n, gx]);
    ctx.encode_dispatch(encoder, &KERNEL, &[a, b, &params], [gx, gy, 1])
}

/// Uploads `a` and `b` (equal lengths), runs `add` and returns the new `a`.
pub async fn add_async(ctx: &GpuContext, a: &[f32], b: &[f32]) -> Result<Vec<f32>, GpuError> {
    if a.len() != b.len() {
        return Err(GpuError::Shape(format!("add: {} values vs {}", a.len(), b.len())));
    }
    let ab = super::upload_rw(ctx, "add a", a)?;
    let bb = ctx.upload_f32("add b", b)?;
    let mut encoder = ctx.encoder("add");
    encode_add(ctx, &mut encoder, &ab, &bb, a.len())?;
    ctx.read_f32_async(Some(encoder), &ab, a.len()).await
}

/// Blocking [`add_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn add(ctx: &GpuContext, a: &[f32], b: &[f32]) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(add_async(ctx, a, b))
}
