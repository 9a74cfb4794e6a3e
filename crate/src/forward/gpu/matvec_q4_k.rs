//! `matvec_q4_k`: Q4_K (144-byte blocks of 256 weights) matrix × Q8-quantized vectors (see `matvec_quant.wgsl`). Block decoding in `matvec_q4_k.wgsl`.

use super::matvec::{GpuMatrix, QuantFormat, MATVEC, MATVEC_CHAIN, MATVEC_QUANT};
use super::{GpuContext, GpuError, Kernel, FMA_EXACT, PRELUDE, Recorder};

pub const KERNEL: Kernel = Kernel { name: "matvec_q4_k", sources: &[PRELUDE, FMA_EXACT, MATVEC, MATVEC_QUANT, MATVEC_CHAIN, include_str!("matvec_q4_k.wgsl")] };

/// Records `y = W · x` (n activation rows) for a Q4K matrix.
pub fn encode_matvec_q4_k(ctx: &GpuContext, encoder: &mut Recorder, w: &GpuMatrix, x: &wgpu::Buffer, y: &wgpu::Buffer, n: usize) -> Result<(), GpuError> {
    if w.format != QuantFormat::Q4K {
        return Err(GpuError::Shape(format!("matvec_q4_k got a {:?} matrix", w.format)));
    }
    super::matvec::encode_matvec(ctx, encoder, w, x, y, n)
}
