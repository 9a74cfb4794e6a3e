//! Quantized matrix × f32 vectors, shared by the `matvec_*` kernels: `y[t] = W · x[t]` for W
//! (rows, cols) kept in its raw GGUF block layout and `n` activation rows `x` (n, cols).
//! Output `y` is (n, rows), f32. The per-format block decoding is in `matvec_<format>.wgsl`.

use super::{GpuContext, GpuError, Kernel};

/// The shared body of the matvec kernels (bindings, main loop, reduction).
pub const MATVEC: &str = include_str!("matvec.wgsl");

/// Weight block formats with a GPU matvec kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantFormat {
    Q8_0,
    Q5_0,
    Q4K,
    Q6K,
}

impl QuantFormat {
    /// Weights per block.
    pub const fn block_elems(self) -> usize {
        match self {
            Self::Q8_0 | Self::Q5_0 => 32,
            Self::Q4K | Self::Q6K => 256,
        }
    }

    /// Bytes per block.
    pub const fn block_bytes(self) -> usize {
        match self {
            Self::Q8_0 => 34,
            Self::Q5_0 => 22,
            Self::Q4K => 144,
            Self::Q6K => 210,
        }
    }

    pub const fn kernel(self) -> &'static Kernel {
        match self {
            Self::Q8_0 => &super::matvec_q8_0::KERNEL,
            Self::Q5_0 => &super::matvec_q5_0::KERNEL,
            Self::Q4K => &super::matvec_q4_k::KERNEL,
            Self::Q6K => &super::matvec_q6_k::KERNEL,
        }
    }
}

/// A (rows, cols) quantized weight matrix on the GPU, row-major GGUF blocks.
pub struct GpuMatrix {
    pub buffer: wgpu::Buffer,
    pub format: QuantFormat,
    pub rows: usize,
    pub cols: usize,
}

impl GpuMatrix {
    /// Uploads a tensor's raw GGUF bytes (`rows * cols / block_elems` blocks).
    pub fn upload(ctx: &GpuContext, name: &str, format: QuantFormat, rows: usize, cols: usize, bytes: &[u8]) -> Result<Self, GpuError> {
        if rows == 0 || cols == 0 || !cols.is_multiple_of(format.block_elems()) {
            return Err(GpuError::Shape(format!("{name}: ({rows}, {cols}) is not a non-empty {format:?} matrix (cols must be a multiple of {})", format.block_elems())));
        }
        let expected = rows
            .checked_mul(cols / format.block_elems())
            .and_then(|b| b.checked_mul(format.block_bytes()))
            .ok_or_else(|| GpuError::Shape(format!("{name}: ({rows}, {cols}) overflows")))?;
        if bytes.len() != expected {
            return Err(GpuError::Shape(format!("{name}: {} bytes for a ({rows}, {cols}) {format:?} matrix, expected {expected}", bytes.len())));
        }
        if expected > u32::MAX as usize - 8 {
            return Err(GpuError::BufferTooLarge { name: name.to_string(), bytes: expected as u64, limit: u32::MAX as u64 - 8 });
        }
        Ok(Self { buffer: ctx.upload_bytes(name, bytes)?, format, rows, cols })
    }
}

/// Records `y = W · x` for `n` activation rows into `encoder`. `x` holds (n, cols) f32, `y`
/// receives (n, rows) f32.
pub fn encode_matvec(ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, w: &GpuMatrix, x: &wgpu::Buffer, y: &wgpu::Buffer, n: usize) -> Result<(), GpuError> {
    let (x_bytes, y_bytes) = ((n * w.cols * 4) as u64, (n * w.rows * 4) as u64);
    if x.size() < x_bytes || y.size() < y_bytes {
        return Err(GpuError::Shape(format!(
            "matvec ({}, {}) × {n} rows needs {x_bytes}-byte x and {y_bytes}-byte y buffers, got {} and {}",
            w.rows,
            w.cols,
            x.size(),
            y.size()
        )));
    }
    let max = ctx.limits.max_compute_workgroups_per_dimension as usize;
    let groups_x = w.rows.min(max);
    let groups_y = w.rows.div_ceil(groups_x);
    let params = ctx.uniform_u32("matvec params", &[w.rows as u32, w.cols as u32, n as u32, groups_x as u32]);
    ctx.encode_dispatch(encoder, w.format.kernel(), &[&w.buffer, x, y, &params], [groups_x as u32, groups_y as u32, n as u32])
}

/// Uploads `x` (n, cols), runs the matvec and reads back y (n, rows).
pub async fn matvec_async(ctx: &GpuContext, w: &GpuMatrix, x: &[f32], n: usize) -> Result<Vec<f32>, GpuError> {
    if x.len() != n * w.cols {
        return Err(GpuError::Shape(format!("x has {} values, expected {n} × {}", x.len(), w.cols)));
    }
    let xb = ctx.upload_f32("x", x)?;
    let yb = ctx.output_f32("y", n * w.rows)?;
    let mut encoder = ctx.encoder(w.format.kernel().name);
    encode_matvec(ctx, &mut encoder, w, &xb, &yb, n)?;
    ctx.read_f32_async(Some(encoder), &yb, n * w.rows).await
}

/// Blocking [`matvec_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn matvec(ctx: &GpuContext, w: &GpuMatrix, x: &[f32], n: usize) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(matvec_async(ctx, w, x, n))
}
