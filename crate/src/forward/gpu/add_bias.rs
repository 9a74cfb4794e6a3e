//! `add_bias`: add a bias vector to every row, in place (the GPU twin of
//! `forward::cpu::matmul::add_bias`).

use super::{as_u32, grid, need, upload_rw, GpuContext, GpuError, Kernel, Recorder};

pub const KERNEL: Kernel = Kernel { name: "add_bias", sources: &[include_str!("add_bias.wgsl")] };

/// Records `x[t] += bias` for `rows` rows of `bias_len` f32.
pub fn encode_add_bias(ctx: &GpuContext, encoder: &mut Recorder, x: &wgpu::Buffer, bias: &wgpu::Buffer, rows: usize, bias_len: usize) -> Result<(), GpuError> {
    if bias_len == 0 {
        return Err(GpuError::Shape("add_bias: an empty bias".into()));
    }
    let total = rows.saturating_mul(bias_len);
    need("add_bias", "x", x, total)?;
    need("add_bias", "bias", bias, bias_len)?;
    let t = as_u32("add_bias", "rows * len", total)?;
    let [gx, gy] = grid(ctx, total.div_ceil(64));
    ctx.dispatch(encoder, &KERNEL, &[], &[x, bias], &[t, bias_len as u32, gx], [gx, gy, 1])
}

/// Uploads `x` (rows of `bias.len()`) and `bias`, runs `add_bias` and reads `x` back.
pub async fn add_bias_async(ctx: &GpuContext, x: &[f32], bias: &[f32]) -> Result<Vec<f32>, GpuError> {
    if bias.is_empty() || !x.len().is_multiple_of(bias.len()) {
        return Err(GpuError::Shape(format!("add_bias: {} values are not rows of {}", x.len(), bias.len())));
    }
    let xb = upload_rw(ctx, "add_bias x", x)?;
    let bb = ctx.upload_f32("add_bias bias", bias)?;
    let mut encoder = ctx.encoder("add_bias");
    encode_add_bias(ctx, &mut encoder, &xb, &bb, x.len() / bias.len(), bias.len())?;
    ctx.read_f32_async(Some(encoder), &xb, x.len()).await
}

/// Blocking [`add_bias_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn add_bias(ctx: &GpuContext, x: &[f32], bias: &[f32]) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(add_bias_async(ctx, x, bias))
}
