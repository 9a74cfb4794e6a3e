//! `gelu_gate`: `gate = gelu_tanh(gate) * up` in place (the GPU twin of `forward::cpu::gelu::gelu_gate`).

use super::{as_u32, grid, need, GpuContext, GpuError, Kernel};

pub const KERNEL: Kernel = Kernel { name: "gelu_gate", sources: &[include_str!("gelu_gate.wgsl")] };

/// Records `gelu_gate` over the first `len` f32 of `gate` (written in place) and `up`.
pub fn encode_gelu_gate(ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, gate: &wgpu::Buffer, up: &wgpu::Buffer, len: usize) -> Result<(), GpuError> {
    need("gelu_gate", "gate", gate, len)?;
    need("gelu_gate", "up", up, len)?;
    let n = as_u32("gelu_gate", "len", len)?;
    let [gx, gy] = grid(ctx, len.div_ceil(64));
    let params = ctx.uniform_u32("gelu_gate params", &[n, gx]);
    ctx.encode_dispatch(encoder, &KERNEL, &[gate, up, &params], [gx, gy, 1])
}

/// Uploads `gate` and `up` (equal lengths), runs `gelu_gate` and returns the new `gate`.
pub async fn gelu_gate_async(ctx: &GpuContext, gate: &[f32], up: &[f32]) -> Result<Vec<f32>, GpuError> {
    if gate.len() != up.len() {
        return Err(GpuError::Shape(format!("gelu_gate: {} values vs {}", gate.len(), up.len())));
    }
    let ab = super::upload_rw(ctx, "gelu_gate gate", gate)?;
    let bb = ctx.upload_f32("gelu_gate up", up)?;
    let mut encoder = ctx.encoder("gelu_gate");
    encode_gelu_gate(ctx, &mut encoder, &ab, &bb, gate.len())?;
    ctx.read_f32_async(Some(encoder), &ab, gate.len()).await
}

/// Blocking [`gelu_gate_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn gelu_gate(ctx: &GpuContext, gate: &[f32], up: &[f32]) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(gelu_gate_async(ctx, gate, up))
}
