//! `matvec_q6_k`: Q6_K (210-byte blocks of 256 weights) matrix × Q8-quantized vectors (see `matvec_quant.wgsl`). Block decoding in `matvec_q6_k.wgsl`.

use super::matvec::{GpuMatrix, QuantFormat, MATVEC, MATVEC_QUANT};
use super::{GpuContext, GpuError, Kernel, FMA_EXACT, PRELUDE, Recorder};

pub const KERNEL: Kernel = Kernel { name: "matvec_q6_k", sources: &[PRELUDE, FMA_EXACT, MATVEC, MATVEC_QUANT, include_str!("matvec_q6_k.wgsl")] };

/// Records `y = W · x` (n activation rows) for a Q6K matrix.
pub fn encode_matvec_q6_k(ctx: &GpuContext, encoder: &mut Recorder, w: &GpuMatrix, x: &wgpu::Buffer, y: &wgpu::Buffer, n: usize) -> Result<(), GpuError> {
    if w.format != QuantFormat::Q6K {
        return Err(GpuError::Shape(format!("matvec_q6_k got a {:?} matrix", w.format)));
    }
    super::matvec::encode_matvec(ctx, encoder, w, x, y, n)
}
