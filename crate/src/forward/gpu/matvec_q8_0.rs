//! `matvec_q8_0`: Q8_0 (34-byte blocks of 32 weights) matrix × Q8-quantized vectors (see `matvec_quant.wgsl`). Block decoding in `matvec_q8_0.wgsl`.

use super::matvec::{GpuMatrix, QuantFormat, MATVEC, MATVEC_QUANT};
use super::{GpuContext, GpuError, Kernel, FMA_EXACT, PRELUDE, Recorder};

pub const KERNEL: Kernel = Kernel { name: "matvec_q8_0", sources: &[PRELUDE, FMA_EXACT, MATVEC, MATVEC_QUANT, include_str!("matvec_q8_0.wgsl")] };

/// Records `y = W · x` (n activation rows) for a Q8_0 matrix.
pub fn encode_matvec_q8_0(ctx: &GpuContext, encoder: &mut Recorder, w: &GpuMatrix, x: &wgpu::Buffer, y: &wgpu::Buffer, n: usize) -> Result<(), GpuError> {
    if w.format != QuantFormat::Q8_0 {
        return Err(GpuError::Shape(format!("matvec_q8_0 got a {:?} matrix", w.format)));
    }
    super::matvec::encode_matvec(ctx, encoder, w, x, y, n)
}
