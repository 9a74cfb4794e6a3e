//! `silu_gate`: `gate = silu(gate) * up` in place (the GPU twin of `forward::cpu::silu::silu_gate`).

use super::{encode_pairwise, run_pairwise, GpuContext, GpuError, Kernel, Recorder};

pub const KERNEL: Kernel = Kernel { name: "silu_gate", sources: &[super::FMA_EXACT, super::DIV_RN, super::EXP, include_str!("silu_gate.wgsl")] };

/// Records `silu_gate` over the first `len` f32 of `gate` (written in place) and `up`.
pub fn encode_silu_gate(ctx: &GpuContext, encoder: &mut Recorder, gate: &wgpu::Buffer, up: &wgpu::Buffer, len: usize) -> Result<(), GpuError> {
    encode_pairwise(ctx, encoder, &KERNEL, ("gate", gate), ("up", up), len)
}

/// Uploads `gate` and `up` (equal lengths), runs `silu_gate` and returns the new `gate`.
pub async fn silu_gate_async(ctx: &GpuContext, gate: &[f32], up: &[f32]) -> Result<Vec<f32>, GpuError> {
    run_pairwise(ctx, &KERNEL, gate, up).await
}

/// Blocking [`silu_gate_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn silu_gate(ctx: &GpuContext, gate: &[f32], up: &[f32]) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(silu_gate_async(ctx, gate, up))
}
