//! `add`: residual add in place, `a += b`, elementwise over `len` f32.

use super::{encode_pairwise, run_pairwise, GpuContext, GpuError, Kernel, Recorder};

pub const KERNEL: Kernel = Kernel { name: "add", sources: &[include_str!("add.wgsl")] };

/// Records `add` over the first `len` f32 of `a` (written in place) and `b`.
pub fn encode_add(ctx: &GpuContext, encoder: &mut Recorder, a: &wgpu::Buffer, b: &wgpu::Buffer, len: usize) -> Result<(), GpuError> {
    encode_pairwise(ctx, encoder, &KERNEL, ("a", a), ("b", b), len)
}

/// Uploads `a` and `b` (equal lengths), runs `add` and returns the new `a`.
pub async fn add_async(ctx: &GpuContext, a: &[f32], b: &[f32]) -> Result<Vec<f32>, GpuError> {
    run_pairwise(ctx, &KERNEL, a, b).await
}

/// Blocking [`add_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn add(ctx: &GpuContext, a: &[f32], b: &[f32]) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(add_async(ctx, a, b))
}
