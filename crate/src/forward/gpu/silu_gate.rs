//! `silu_gate`: `gate = silu(gate) * up` in place (the GPU twin of `forward::cpu::silu::silu_gate`).

use super::{as_u32, grid, need, GpuContext, GpuError, Kernel};

pub const KERNEL: Kernel = Kernel { name: "silu_gate", sources: &[include_str!("silu_gate.wgsl")] };

/// Records `silu_gate` over the first `len` f32 of `gate` (written in place) and `up`.
pub fn encode_silu_gate(ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, gate: &wgpu::Buffer, up: &wgpu::Buffer, len: usize) -> Result<(), GpuError> {
    need("silu_gate", "gate", gate, len)?;
    need("silu_gate", "up", up, len)?;
    let n = as_u32("silu_gate", "len", len)?;
    let [gx, gy] = grid(ctx, len.div_ceil(64));
    let params = ctx.uniform_u32("silu_gate params", &[n, gx]);
    ctx.encode_dispatch(encoder, &KERNEL, &[gate, up, &params], [gx, gy, 1])
}

/// Uploads `gate` and `up` (equal lengths), runs `silu_gate` and returns the new `gate`.
pub async fn silu_gate_async(ctx: &GpuContext, gate: &[f32], up: &[f32]) -> Result<Vec<f32>, GpuError> {
    if gate.len() != up.len() {
        return Err(GpuError::Shape(format!("silu_gate: {} values vs {}", gate.len(), up.len())));
    }
    let ab = super::upload_rw(ctx, "silu_gate gate", gate)?;
    let bb = ctx.upload_f32("silu_gate up", up)?;
    let mut encoder = ctx.encoder("silu_gate");
    encode_silu_gate(ctx, &mut encoder, &ab, &bb, gate.len())?;
    ctx.read_f32_async(Some(encoder), &ab, gate.len()).await
}

/// Blocking [`silu_gate_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn silu_gate(ctx: &GpuContext, gate: &[f32], up: &[f32]) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(silu_gate_async(ctx, gate, up))
}
