//! Opening the GPU for the forward pass: an adapter and device, then a quick self-test (a
//! quantized matvec and the top-k readback against host results) so a broken driver or a
//! software adapter that miscompiles is caught at load, not mid-answer.

use std::sync::Arc;

use super::matvec::{matvec_async, GpuMatrix, QuantFormat};
use super::top_k::top_k_async;
use super::{GpuContext, GpuError};
use crate::forward::backend::top_k_host;

/// The smallest storage binding the forward pass is tried with (WebGPU's default is 128 MiB;
/// bigger tensors are split, but tiny limits would mean thousands of parts).
const MIN_BINDING: u64 = 16 << 20;

/// Whether the adapter is a CPU rasterizer (Mesa's llvmpipe, Chromium's SwiftShader, WARP):
/// it runs the kernels correctly but far slower than the CPU backend does the same work.
pub fn is_software(ctx: &GpuContext) -> bool {
    let info = ctx.adapter.get_info();
    let text = format!("{} {} {}", info.name, info.driver, info.driver_info).to_lowercase();
    info.device_type == wgpu::DeviceType::Cpu || ["llvmpipe", "swiftshader", "lavapipe", "warp", "software"].iter().any(|s| text.contains(s))
}

/// A device that passed the self-test, or why there is none. A software adapter counts only
/// when `allow_software` (asking for the GPU explicitly, e.g. in tests).
pub async fn open(allow_software: bool) -> Result<Arc<GpuContext>, GpuError> {
    let ctx = GpuContext::new_async().await?;
    if !allow_software && is_software(&ctx) {
        return Err(GpuError::Software(ctx.adapter_info.clone()));
    }
    if ctx.max_storage_binding() < MIN_BINDING {
        return Err(GpuError::SelfTest(format!("{} binds at most {} bytes per buffer", ctx.adapter_info, ctx.max_storage_binding())));
    }
    self_test(&ctx).await?;
    Ok(Arc::new(ctx))
}

/// Runs a Q8_0 matvec and a top-k on known data and compares them with the host's results.
pub async fn self_test(ctx: &GpuContext) -> Result<(), GpuError> {
    let (rows, cols) = (96usize, 256usize);
    let mut blocks = Vec::with_capacity(rows * cols / 32 * 34);
    let mut want = vec![0f32; rows];
    // Multiples of 1/8 with 127/8 in every block of 32: Q8_0 quantization (d = 1/8) keeps them exact.
    let x: Vec<f32> = (0..cols).map(|i| if i % 32 == 0 { 127.0 / 8.0 } else { ((i * 7 % 23) as f32 - 11.0) / 8.0 }).collect();
    for (r, w) in want.iter_mut().enumerate() {
        for b in 0..cols / 32 {
            let d = half::f16::from_f32(0.5 + (r % 5) as f32 * 0.25);
            blocks.extend_from_slice(&d.to_le_bytes());
            for j in 0..32 {
                let q = ((r * 31 + b * 17 + j * 5) % 255) as i32 - 127;
                blocks.push(q as i8 as u8);
                *w += d.to_f32() * q as f32 * x[b * 32 + j];
            }
        }
    }
    let m = GpuMatrix::upload(ctx, "self-test matrix", QuantFormat::Q8_0, rows, cols, &blocks)?;
    let got = matvec_async(ctx, &m, &x, 1).await?;
    for (r, (g, w)) in got.iter().zip(&want).enumerate() {
        if (g - w).abs() > 1e-3 * w.abs().max(1.0) {
            return Err(GpuError::SelfTest(format!("{}: matvec row {r} gave {g}, expected {w}", ctx.adapter_info)));
        }
    }
    let top = top_k_async(ctx, &want, 8).await?;
    let host = top_k_host(&want, 8);
    if top.ids != host.ids {
        return Err(GpuError::SelfTest(format!("{}: top-k gave {:?}, expected {:?}", ctx.adapter_info, top.ids, host.ids)));
    }
    Ok(())
}
