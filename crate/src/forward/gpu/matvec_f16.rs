//! `matvec_f16`: f16 (decoded from its bits: no shader-f16 needed) matrix × f32 vectors. Shared body in `matvec_float.wgsl`, block decoding in `matvec_f16.wgsl`.

use super::matvec::{GpuMatrix, QuantFormat, MATVEC, MATVEC_FLOAT};
use super::{GpuContext, GpuError, Kernel, PRELUDE, Recorder};

pub const KERNEL: Kernel = Kernel { name: "matvec_f16", sources: &[PRELUDE, MATVEC, MATVEC_FLOAT, include_str!("matvec_f16.wgsl")] };

/// Records `y = W · x` (n activation rows) for a F16 matrix.
pub fn encode_matvec_f16(ctx: &GpuContext, encoder: &mut Recorder, w: &GpuMatrix, x: &wgpu::Buffer, y: &wgpu::Buffer, n: usize) -> Result<(), GpuError> {
    if w.format != QuantFormat::F16 {
        return Err(GpuError::Shape(format!("matvec_f16 got a {:?} matrix", w.format)));
    }
    super::matvec::encode_matvec(ctx, encoder, w, x, y, n)
}
