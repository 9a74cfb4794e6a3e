//! `contraction`: how the adapter's shader compiler rounds a multiply-add: does it fuse a
//! written `a * b + c` into one fma, and is its builtin `fma()` rounded once?
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

/// What the adapter's compiler does with multiply-adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rounding {
    /// A written `a * b + c` comes out rounded once (fused).
    pub fuses_mul_add: bool,
    /// The builtin `fma(a, b, c)` is rounded once.
    pub fma_fused: bool,
}

/// What the probe computes when `a * b` is rounded before the add, and when it is fused.
pub fn expected() -> (f32, f32) {
    let unfused = A * A + C;
    let fused = A.mul_add(A, C);
    (unfused, fused)
}

/// Runs the probe; an error when the kernel computed neither rounding.
pub async fn contraction_async(ctx: &GpuContext) -> Result<Rounding, GpuError> {
    let v = ctx.output_f32("contraction v", 5)?;
    let bytes: Vec<u8> = [A, A, C, f32::NAN, f32::NAN].iter().flat_map(|x| x.to_le_bytes()).collect();
    ctx.queue.write_buffer(&v, 0, &bytes);
    let mut encoder = ctx.encoder(KERNEL.name);
    ctx.dispatch(&mut encoder, &KERNEL, &[], &[&v], &[1], [1, 1, 1])?;
    let got = ctx.read_f32_async(Some(encoder), &v, 5).await?;
    let (unfused, fused) = expected();
    let fused_or_not = |what: &str, x: f32| {
        if x.to_bits() == unfused.to_bits() {
            Ok(false)
        } else if x.to_bits() == fused.to_bits() {
            Ok(true)
        } else {
            Err(GpuError::SelfTest(format!("{}: contraction probe: {what} gave {x:e}, neither {unfused:e} nor {fused:e}", ctx.adapter_info)))
        }
    };
    Ok(Rounding { fuses_mul_add: fused_or_not("a * b + c", got[3])?, fma_fused: fused_or_not("fma(a, b, c)", got[4])? })
}

/// Blocking [`contraction_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn contraction(ctx: &GpuContext) -> Result<Rounding, GpuError> {
    pollster::block_on(contraction_async(ctx))
}
