//! Matrix × vectors, shared by the `matvec_*` kernels: `y[t] = W · x[t]` for W (rows, cols)
//! kept in its raw GGUF block layout and `n` activation rows `x` (n, cols). Output `y` is
//! (n, rows), f32. Every kernel starts with `matvec.wgsl` (bindings, params, tiling, the
//! workgroup reduction). Float matrices take f32 activations (`matvec_float.wgsl`); quantized
//! ones take activations quantized by `quantize_q8_0` / `quantize_q8_k` and compute the CPU
//! backend's integer dot products in its summation order (`matvec_quant.wgsl`). The per-format
//! block decoding is in `matvec_<format>.wgsl`; Q4_1 (Q8_1 activations from `quantize_q8_1`,
//! candle's scalar order) has its own body there.

use super::quantize_q8_0::{encode_quantize_q8_0, out_len as q8_0_len};
use super::quantize_q8_1::{encode_quantize_q8_1, out_len as q8_1_len};
use super::quantize_q8_k::{encode_quantize_q8_k, out_len as q8_k_len};
use super::{as_u32, GpuContext, GpuError, Kernel, Recorder};

/// What every matvec kernel shares: bindings, params, tiling, the workgroup reduction.
pub const MATVEC: &str = include_str!("matvec.wgsl");

/// The shared body of the float matvec kernels (after [`MATVEC`]).
pub const MATVEC_FLOAT: &str = include_str!("matvec_float.wgsl");

/// The shared body of the quantized matvec kernels (after [`MATVEC`]; quantized activations,
/// ggml's order).
pub const MATVEC_QUANT: &str = include_str!("matvec_quant.wgsl");

/// The K-quant kernels' other order (after [`MATVEC_QUANT`]): one sequential accumulator per
/// output, as candle's x86 repacked tiles (see [`chain_order`]).
pub const MATVEC_CHAIN: &str = include_str!("matvec_chain.wgsl");

/// Rows of W per workgroup of 64 invocations and activation rows per pass: the kernels'
/// `override` constants `RPW` and `TT` (matvec.wgsl), set from here at pipeline creation.
/// TT = 4 decodes each weight once for four activation rows (prefill); a single activation row
/// (every decode step) gets a TT = 1 pipeline, whose one-row path computes what row 0 of the
/// four-row one does, in the same order, without the other three rows' loads and arithmetic.
const RPW: usize = 16;
const TT: usize = 4;

/// Activation rows per pass for `n` rows.
const fn tile_rows(n: usize) -> usize {
    if n == 1 {
        1
    } else {
        TT
    }
}

/// Weight block formats with a GPU matvec kernel (floats count as one-weight blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantFormat {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q8_0,
    Q5_0,
    Q4K,
    Q6K,
}

impl QuantFormat {
    /// The format of a GGUF dtype, if a kernel reads it.
    pub fn of(dtype: crate::load::gguf::DType) -> Option<Self> {
        use crate::load::gguf::DType;
        Some(match dtype {
            DType::F32 => Self::F32,
            DType::F16 => Self::F16,
            DType::Q4_0 => Self::Q4_0,
            DType::Q4_1 => Self::Q4_1,
            DType::Q8_0 => Self::Q8_0,
            DType::Q5_0 => Self::Q5_0,
            DType::Q4K => Self::Q4K,
            DType::Q6K => Self::Q6K,
            _ => return None,
        })
    }

    /// Weights per block (the kernels read floats 8 at a time).
    pub const fn block_elems(self) -> usize {
        match self {
            Self::F32 | Self::F16 => 8,
            Self::Q4_0 | Self::Q4_1 | Self::Q8_0 | Self::Q5_0 => 32,
            Self::Q4K | Self::Q6K => 256,
        }
    }

    /// Bytes per block.
    pub const fn block_bytes(self) -> usize {
        match self {
            Self::F32 => 32,
            Self::F16 => 16,
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
            Self::Q8_0 => 34,
            Self::Q5_0 => 22,
            Self::Q4K => 144,
            Self::Q6K => 210,
        }
    }

    /// f32 of the activations this format's kernel reads for `len` input values (quantized
    /// formats: q, scales and sums; see [`encode_activations`]), rounded up to whole vec4s: the
    /// kernels bind x as `array<vec4<f32>>`, whose length WebGPU takes as the binding's whole
    /// vec4s, clamping reads past them (in Chromium a (48, 512) Q4_K matvec read another
    /// sub-block's sums for its last one).
    pub const fn activation_len(self, len: usize) -> usize {
        let floats = match self {
            Self::F32 | Self::F16 => len,
            Self::Q4_0 | Self::Q8_0 | Self::Q5_0 => q8_0_len(len),
            Self::Q4_1 => q8_1_len(len),
            Self::Q4K | Self::Q6K => q8_k_len(len),
        };
        floats.next_multiple_of(4)
    }

    pub const fn kernel(self) -> &'static Kernel {
        match self {
            Self::F32 => &super::matvec_f32::KERNEL,
            Self::F16 => &super::matvec_f16::KERNEL,
            Self::Q4_0 => &super::matvec_q4_0::KERNEL,
            Self::Q4_1 => &super::matvec_q4_1::KERNEL,
            Self::Q8_0 => &super::matvec_q8_0::KERNEL,
            Self::Q5_0 => &super::matvec_q5_0::KERNEL,
            Self::Q4K => &super::matvec_q4_k::KERNEL,
            Self::Q6K => &super::matvec_q6_k::KERNEL,
        }
    }
}

/// Whether the CPU backend computes this product in candle's x86 repacked-tile order (one
/// accumulator per output, `matvec_chain.wgsl`) rather than ggml's 8-lane order: on x86_64
/// candle 0.11 repacks Q4_K matrices whose rows come in tiles of 16, for any batch. (It does so
/// for Q6_K batches too, but `cpu::matmul` hands it those row by row, so Q6_K always takes
/// ggml's order.) The GPU follows the same rule on every target, so its numerics never depend
/// on the host.
pub const fn chain_order(format: QuantFormat, rows: usize) -> bool {
    matches!(format, QuantFormat::Q4K) && rows.is_multiple_of(16)
}

/// Rows `row_start..row_start + rows` of a matrix, in one buffer.
pub struct MatrixPart {
    pub buffer: wgpu::Buffer,
    pub row_start: usize,
    pub rows: usize,
}

/// A (rows, cols) quantized weight matrix on the GPU, row-major GGUF blocks. A matrix larger
/// than the device lets one binding hold (the 262144×640 Gemma output head is 178 MB; llvmpipe
/// binds 128 MiB) is split by rows into parts, each a buffer of its own.
pub struct GpuMatrix {
    pub parts: Vec<MatrixPart>,
    pub format: QuantFormat,
    pub rows: usize,
    pub cols: usize,
}

impl GpuMatrix {
    /// Bytes of one row.
    pub fn row_bytes(format: QuantFormat, cols: usize) -> usize {
        cols / format.block_elems() * format.block_bytes()
    }

    /// Uploads a tensor's raw GGUF bytes (`rows * cols / block_elems` blocks).
    pub fn upload(ctx: &GpuContext, name: &str, format: QuantFormat, rows: usize, cols: usize, bytes: &[u8]) -> Result<Self, GpuError> {
        let expected = Self::check(name, format, rows, cols)?;
        if bytes.len() != expected {
            return Err(GpuError::Shape(format!("{name}: {} bytes for a ({rows}, {cols}) {format:?} matrix, expected {expected}", bytes.len())));
        }
        Self::upload_with(ctx, name, format, rows, cols, ctx.max_storage_binding(), &mut |off, buf| {
            buf.copy_from_slice(&bytes[off..off + buf.len()]);
            Ok(())
        })
    }

    /// Uploads part by part, at most `part_limit` bytes each (rounded down to whole rows):
    /// `read(offset, buf)` fills `buf` with the tensor's bytes from `offset`, so at most one
    /// part is ever in host memory.
    pub fn upload_with(
        ctx: &GpuContext,
        name: &str,
        format: QuantFormat,
        rows: usize,
        cols: usize,
        part_limit: u64,
        read: &mut dyn FnMut(usize, &mut [u8]) -> Result<(), GpuError>,
    ) -> Result<Self, GpuError> {
        Self::check(name, format, rows, cols)?;
        let row_bytes = Self::row_bytes(format, cols);
        let limit = part_limit.min(u32::MAX as u64 - 8) as usize;
        let rows_per_part = (limit.saturating_sub(4) / row_bytes).min(rows);
        if rows_per_part == 0 {
            return Err(GpuError::BufferTooLarge { name: format!("{name} (one row)"), bytes: row_bytes as u64, limit: part_limit });
        }
        let mut parts = Vec::with_capacity(rows.div_ceil(rows_per_part));
        let mut buf = Vec::new();
        let mut row_start = 0;
        while row_start < rows {
            let n = rows_per_part.min(rows - row_start);
            buf.resize(n * row_bytes, 0);
            read(row_start * row_bytes, &mut buf)?;
            let label = if n == rows { name.to_string() } else { format!("{name} rows {row_start}..{}", row_start + n) };
            parts.push(MatrixPart { buffer: ctx.upload_bytes(&label, &buf)?, row_start, rows: n });
            row_start += n;
        }
        Ok(Self { parts, format, rows, cols })
    }

    /// Checks the shape; returns the byte size.
    fn check(name: &str, format: QuantFormat, rows: usize, cols: usize) -> Result<usize, GpuError> {
        if rows == 0 || cols == 0 || !cols.is_multiple_of(format.block_elems()) {
            return Err(GpuError::Shape(format!("{name}: ({rows}, {cols}) is not a non-empty {format:?} matrix (cols must be a multiple of {})", format.block_elems())));
        }
        rows.checked_mul(Self::row_bytes(format, cols)).ok_or_else(|| GpuError::Shape(format!("{name}: ({rows}, {cols}) overflows")))
    }
}

/// Records what `format`'s matvec reads from `len` f32 activations `x` into `xq`
/// ([`QuantFormat::activation_len`] f32): the quantized activations; `false` (nothing recorded)
/// for float formats, which read `x` itself.
pub fn encode_activations(ctx: &GpuContext, encoder: &mut Recorder, format: QuantFormat, x: &wgpu::Buffer, xq: &wgpu::Buffer, len: usize) -> Result<bool, GpuError> {
    match format {
        QuantFormat::F32 | QuantFormat::F16 => return Ok(false),
        QuantFormat::Q4_0 | QuantFormat::Q8_0 | QuantFormat::Q5_0 => encode_quantize_q8_0(ctx, encoder, x, xq, len)?,
        QuantFormat::Q4_1 => encode_quantize_q8_1(ctx, encoder, x, xq, len)?,
        QuantFormat::Q4K | QuantFormat::Q6K => encode_quantize_q8_k(ctx, encoder, x, xq, len)?,
    }
    Ok(true)
}

/// Records `y = W · x` for `n` activation rows into `encoder`. `x` holds (n, cols) activations
/// as the format reads them (f32 for float matrices, see [`encode_activations`] for quantized
/// ones), `y` receives (n, rows) f32. One dispatch per part of W.
pub fn encode_matvec(ctx: &GpuContext, encoder: &mut Recorder, w: &GpuMatrix, x: &wgpu::Buffer, y: &wgpu::Buffer, n: usize) -> Result<(), GpuError> {
    let (x_bytes, y_bytes) = ((w.format.activation_len(n * w.cols) * 4) as u64, (n * w.rows * 4) as u64);
    if x.size() < x_bytes || y.size() < y_bytes {
        return Err(GpuError::Shape(format!(
            "matvec ({}, {}) × {n} rows needs {x_bytes}-byte x and {y_bytes}-byte y buffers, got {} and {}",
            w.rows,
            w.cols,
            x.size(),
            y.size()
        )));
    }
    as_u32("matvec", "n * rows", n * w.rows)?;
    let max = ctx.limits.max_compute_workgroups_per_dimension as usize;
    if n == 0 {
        return Ok(());
    }
    let tt = tile_rows(n);
    let tiles = n.div_ceil(tt);
    if tiles > max {
        return Err(GpuError::Shape(format!("matvec: {n} activation rows, at most {} per dispatch", max * tt)));
    }
    let chain = [("RPW", RPW as f64), ("TT", tt as f64), ("CHAIN", 1.0)];
    let constants = if chain_order(w.format, w.rows) { &chain[..] } else { &chain[..2] };
    for part in &w.parts {
        let groups = part.rows.div_ceil(RPW);
        let groups_x = groups.min(max);
        let groups_y = groups.div_ceil(groups_x);
        ctx.dispatch(encoder, w.format.kernel(), constants, &[&part.buffer, x, y], &[part.rows as u32, w.cols as u32, n as u32, groups_x as u32, w.rows as u32, part.row_start as u32, 0], [groups_x as u32, groups_y as u32, tiles as u32])?;
    }
    Ok(())
}

/// Uploads `x` (n, cols, f32), quantizes it for a quantized matrix, runs the matvec and reads
/// back y (n, rows).
pub async fn matvec_async(ctx: &GpuContext, w: &GpuMatrix, x: &[f32], n: usize) -> Result<Vec<f32>, GpuError> {
    if x.len() != n * w.cols {
        return Err(GpuError::Shape(format!("x has {} values, expected {n} × {}", x.len(), w.cols)));
    }
    let xb = ctx.upload_f32("x", x)?;
    let xq = ctx.output_f32("x quantized", w.format.activation_len(x.len()))?;
    let yb = ctx.output_f32("y", n * w.rows)?;
    let mut encoder = ctx.encoder(w.format.kernel().name);
    let quantized = encode_activations(ctx, &mut encoder, w.format, &xb, &xq, x.len())?;
    encode_matvec(ctx, &mut encoder, w, if quantized { &xq } else { &xb }, &yb, n)?;
    ctx.read_f32_async(Some(encoder), &yb, n * w.rows).await
}

/// Blocking [`matvec_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn matvec(ctx: &GpuContext, w: &GpuMatrix, x: &[f32], n: usize) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(matvec_async(ctx, w, x, n))
}
