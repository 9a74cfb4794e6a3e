//! `matvec_q4_1`: Q4_1 (20-byte blocks of 32 weights with a scale and a minimum) matrix ×
//! Q8_1-quantized vectors (`quantize_q8_1`), in the CPU backend's order (candle's scalar
//! Q4_1 × Q8_1 vec_dot). See `matvec_q4_1.wgsl`.

use super::matvec::{GpuMatrix, QuantFormat, MATVEC};
use super::{GpuContext, GpuError, Kernel, FMA_EXACT, PRELUDE, Recorder};

pub const KERNEL: Kernel = Kernel { name: "matvec_q4_1", sources: &[PRELUDE, FMA_EXACT, MATVEC, include_str!("matvec_q4_1.wgsl")] };

/// Records `y = W · x` (n activation rows) for a Q4_1 matrix.
pub fn encode_matvec_q4_1(ctx: &GpuContext, encoder: &mut Recorder, w: &GpuMatrix, x: &wgpu::Buffer, y: &wgpu::Buffer, n: usize) -> Result<(), GpuError> {
    if w.format != QuantFormat::Q4_1 {
        return Err(GpuError::Shape(format!("matvec_q4_1 got a {:?} matrix", w.format)));
    }
    super::matvec::encode_matvec(ctx, encoder, w, x, y, n)
}
