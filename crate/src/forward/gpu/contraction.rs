//! `contraction`: does the adapter's shader compiler fuse `a * b + c` into one fma?
//!
//! With a = b = 1 + 2⁻¹² and c = -(1 + 2⁻¹¹), a·b = 1 + 2⁻¹¹ + 2⁻²⁴ exactly: rounded first
//! (ties to even) it is 1 + 2⁻¹¹ and the sum is 0; fused, the sum is 2⁻²⁴.

use super::{GpuContext, GpuError, Kernel};

pub const KERNEL: Kernel = Kernel {
    name: "contraction",
    sources: &[include_str!("contraction.wgsl")],
};

const A: f32 = 1.0 + 1.0 / 4096.0;
const C: f32 = -(1.0 + 1.0 / 2048.0);

/// What the probe computes when `a * b` is rounded before the add, and when it is fused.
pub fn expected() -> (f32, f32) {
    let unfused = A * A + C;
    let fused = A.mul_add(A, C);
    (unfused, fused)
}

/// `Ok(true)` when the compiler fused the written multiply-add, `Ok(false)` when it rounded
/// the product first; an error when the kernel computed neither.
pub async fn contraction_async(ctx: &GpuContext) -> Result<bool, GpuError> {
    let v = ctx.output_f32("contraction v", 4)?;
    let bytes: Vec<u8> = [A, A, C, f32::NAN]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    ctx.queue.write_buffer(&v, 0, &bytes);
    let mut encoder = ctx.encoder(KERNEL.name);
    ctx.dispatch(&mut encoder, &KERNEL, &[], &[&v], &[1], [1, 1, 1])?;
    let got = ctx.read_f32_async(Some(encoder), &v, 4).await?[3];
    let (unfused, fused) = expected();
    if got.to_bits() == unfused.to_bits() {
        Ok(false)
    } else if got.to_bits() == fused.to_bits() {
        Ok(true)
    } else {
        Err(GpuError::SelfTest(format!(
            "{}: contraction probe gave {got:e}, neither {unfused:e} nor {fused:e}",
            ctx.adapter_info
        )))
    }
}

/// Blocking [`contraction_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn contraction(ctx: &GpuContext) -> Result<bool, GpuError> {
    pollster::block_on(contraction_async(ctx))
}
