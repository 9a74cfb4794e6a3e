//! `gelu_gate`: `gate = gelu_tanh(gate) * up` in place (the GPU twin of `forward::cpu::gelu::gelu_gate`).

use super::{encode_pairwise, run_pairwise, GpuContext, GpuError, Kernel, Recorder};

pub const KERNEL: Kernel = Kernel { name: "gelu_gate", sources: &[super::FMA_EXACT, super::DIV_RN, super::TANH, include_str!("gelu_gate.wgsl")] };

/// Records `gelu_gate` over the first `len` f32 of `gate` (written in place) and `up`.
pub fn encode_gelu_gate(ctx: &GpuContext, encoder: &mut Recorder, gate: &wgpu::Buffer, up: &wgpu::Buffer, len: usize) -> Result<(), GpuError> {
    encode_pairwise(ctx, encoder, &KERNEL, ("gate", gate), ("up", up), len)
}

/// Uploads `gate` and `up` (equal lengths), runs `gelu_gate` and returns the new `gate`.
pub async fn gelu_gate_async(ctx: &GpuContext, gate: &[f32], up: &[f32]) -> Result<Vec<f32>, GpuError> {
    run_pairwise(ctx, &KERNEL, gate, up).await
}

/// Blocking [`gelu_gate_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn gelu_gate(ctx: &GpuContext, gate: &[f32], up: &[f32]) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(gelu_gate_async(ctx, gate, up))
}
