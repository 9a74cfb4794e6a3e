//! WebGPU backend (issue 3), first slice: device context, pipeline cache, upload/readback, and
//! kernels, one op per file. A kernel's WGSL file name, entry point and pipeline label are the
//! same word (`rmsnorm.wgsl`, `@compute fn rmsnorm`, label "rmsnorm"); its Rust wrapper has the
//! same name (`rmsnorm.rs`).
//!
//! Kernels use f32 arithmetic and 32-bit integers only: no `f16` types (the browser's fallback
//! adapter, SwiftShader, lacks `shader-f16`). Quantized weights are uploaded as their raw GGUF
//! bytes, read as `array<u32>` with shifts (blocks are not 4-byte aligned), and f16 scales are
//! decoded from their bits in `prelude.wgsl`.
//!
//! Every op has an `encode_*` function that records its dispatch into a command encoder (so a
//! forward pass can record a whole step into one submission) and, natively, a blocking
//! convenience that uploads, runs and reads back (used by the tests).
//!
//! Ops: `rmsnorm`, `matvec_{f32,f16,q4_0,q4_1,q5_0,q8_0,q4_k,q6_k}` (after `quantize_q8_0`,
//! `quantize_q8_1` or `quantize_q8_k`), `rope` (in place; host-computed frequencies so
//! angles equal the CPU's), `gelu_gate`/`silu_gate` (in place), `add` (residual, in place),
//! `softmax` (rows, in place), `attention` (decode and prefill over an f32 KV cache; needs a
//! `scores` scratch buffer of `attention::scores_len` f32) and `embed` (Q8_0 tables).

pub mod add;
pub mod add_bias;
pub mod backend;
pub mod attention;
pub mod context;
pub mod contraction;
pub mod embed;
pub mod gelu_gate;
pub mod kv_store;
pub mod matvec;
pub mod matvec_f16;
pub mod matvec_f32;
pub mod matvec_q4_0;
pub mod matvec_q4_1;
pub mod matvec_q4_k;
pub mod matvec_q5_0;
pub mod matvec_q6_k;
pub mod matvec_q8_0;
pub mod probe;
pub mod profile;
pub mod quantize_q8_0;
pub mod quantize_q8_1;
pub mod quantize_q8_k;
pub mod rmsnorm;
pub mod rope;
pub mod silu_gate;
pub mod softmax;
pub mod top_k;
pub mod top_k_merge;

pub use context::{GpuContext, Kernel, Recorder};
pub use matvec::{GpuMatrix, QuantFormat};

/// Shared WGSL helpers (byte reads from `array<u32>`, f16 decoding), prepended to kernels.
pub const PRELUDE: &str = include_str!("prelude.wgsl");

/// `round_f16`: f32 → nearest f16 value (ties to even) as f32, on the bits.
pub const F16: &str = include_str!("f16.wgsl");

/// `fma_exact4`: a once-rounded fma from plain f32 operations (WGSL's `fma` may be unfused).
/// The kernel defines `opaque_zero()`.
pub const FMA_EXACT: &str = include_str!("fma_exact.wgsl");

/// `div_rn`: correctly rounded f32 division (needs [`FMA_EXACT`]).
pub const DIV_RN: &str = include_str!("div_rn.wgsl");

/// `expf`: e^x rounded as the CPU backend's `expf` (needs [`FMA_EXACT`]).
pub const EXP: &str = include_str!("exp.wgsl");

/// `tanhf`: glibc's tanh, rounded as the CPU backend's `tanhf` (needs [`FMA_EXACT`], [`DIV_RN`]).
pub const TANH: &str = include_str!("tanh.wgsl");

/// `workgroup_max`, `workgroup_sum`: reductions over a workgroup of 64.
pub const REDUCE: &str = include_str!("reduce.wgsl");

/// The activation quantizers' bindings, params and `round_away` (`quantize_q8_0`, `quantize_q8_1`,
/// `quantize_q8_k`).
pub const QUANTIZE: &str = include_str!("quantize.wgsl");

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    #[error("could not create a device on {adapter}: {message}")]
    RequestDevice { adapter: String, message: String },
    #[error("buffer {name} needs {bytes} bytes, the device binds at most {limit}")]
    BufferTooLarge { name: String, bytes: u64, limit: u64 },
    #[error("kernel {name} failed to compile: {message}")]
    Shader { name: &'static str, message: String },
    #[error("GPU validation error: {0}")]
    Validation(String),
    #[error("readback failed: {0}")]
    Readback(String),
    #[error("bad shape: {0}")]
    Shape(String),
    #[error("the only GPU adapter is a software rasterizer ({0}); the CPU backend is faster")]
    Software(String),
    #[error("GPU self-test failed: {0}")]
    SelfTest(String),
    #[error("the GPU device was lost ({0})")]
    DeviceLost(String),
}

/// A 2-D workgroup grid holding `groups` workgroups: `[groups_x, groups_y]`, with `groups_x` at
/// most the per-dimension limit; kernels recover the linear index as `wid.x + wid.y * groups_x`.
pub(crate) fn grid(ctx: &GpuContext, groups: usize) -> [u32; 2] {
    let max = ctx.limits.max_compute_workgroups_per_dimension.max(1) as usize;
    let gx = groups.clamp(1, max);
    [gx as u32, groups.div_ceil(gx) as u32]
}

/// `GpuError::Shape` unless `buf` holds at least `floats` 32-bit values.
pub(crate) fn need(op: &str, what: &str, buf: &wgpu::Buffer, floats: usize) -> Result<(), GpuError> {
    let bytes = (floats as u64).saturating_mul(4);
    if buf.size() < bytes {
        return Err(GpuError::Shape(format!("{op}: {what} needs {bytes} bytes, its buffer has {}", buf.size())));
    }
    Ok(())
}

/// `GpuError::Shape` unless `v` fits the u32 that kernels index with.
pub(crate) fn as_u32(op: &str, what: &str, v: usize) -> Result<u32, GpuError> {
    u32::try_from(v).map_err(|_| GpuError::Shape(format!("{op}: {what} = {v} does not fit in u32")))
}

/// A storage buffer holding `data` that kernels may write in place and
/// [`GpuContext::read_f32`] can read back (unlike [`GpuContext::upload_f32`], also COPY_SRC).
pub(crate) fn upload_rw(ctx: &GpuContext, name: &str, data: &[f32]) -> Result<wgpu::Buffer, GpuError> {
    let buf = ctx.output_f32(name, data.len())?;
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    ctx.queue.write_buffer(&buf, 0, &bytes);
    Ok(buf)
}

/// Records an in-place elementwise kernel `a[i] = f(a[i], b[i])` over the first `len` f32
/// (the shape shared by `add`, `gelu_gate` and `silu_gate`: bindings a, b, params
/// {len, gx, 0}; the zero is `opaque_zero()` for the kernels built on `fma_exact.wgsl`).
pub(crate) fn encode_pairwise(
    ctx: &GpuContext,
    encoder: &mut Recorder,
    kernel: &Kernel,
    (a_name, a): (&str, &wgpu::Buffer),
    (b_name, b): (&str, &wgpu::Buffer),
    len: usize,
) -> Result<(), GpuError> {
    need(kernel.name, a_name, a, len)?;
    need(kernel.name, b_name, b, len)?;
    let n = as_u32(kernel.name, "len", len)?;
    let [gx, gy] = grid(ctx, len.div_ceil(64));
    ctx.dispatch(encoder, kernel, &[], &[a, b], &[n, gx, 0], [gx, gy, 1])
}

/// Records a kernel that maps `x` to `out` (`out_len` f32) block by block, `per_group` blocks
/// per workgroup of 64 (64: one invocation per block; 1: a workgroup per block) (the shape
/// shared by `quantize_q8_0` and `quantize_q8_k`: bindings x, out, params {blocks, gx, 0}).
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_blockwise(ctx: &GpuContext, encoder: &mut Recorder, kernel: &Kernel, (block, per_group): (usize, usize), x: &wgpu::Buffer, out: &wgpu::Buffer, len: usize, out_len: usize) -> Result<(), GpuError> {
    if !len.is_multiple_of(block) {
        return Err(GpuError::Shape(format!("{}: {len} values are not blocks of {block}", kernel.name)));
    }
    need(kernel.name, "x", x, len)?;
    need(kernel.name, "out", out, out_len)?;
    let blocks = as_u32(kernel.name, "blocks", len / block)?;
    let [gx, gy] = grid(ctx, (len / block).div_ceil(per_group));
    ctx.dispatch(encoder, kernel, &[], &[x, out], &[blocks, gx, 0], [gx, gy, 1])
}

/// Uploads `x`, runs a blockwise kernel over it and reads its `out_len` outputs.
pub(crate) async fn run_blockwise(ctx: &GpuContext, kernel: &Kernel, block: (usize, usize), x: &[f32], out_len: usize) -> Result<Vec<f32>, GpuError> {
    let xb = ctx.upload_f32(&format!("{} x", kernel.name), x)?;
    let ob = ctx.output_f32(&format!("{} out", kernel.name), out_len)?;
    let mut encoder = ctx.encoder(kernel.name);
    encode_blockwise(ctx, &mut encoder, kernel, block, &xb, &ob, x.len(), out_len)?;
    ctx.read_f32_async(Some(encoder), &ob, out_len).await
}

/// Uploads `a` and `b` (equal lengths), runs a pairwise kernel and returns the new `a`.
pub(crate) async fn run_pairwise(ctx: &GpuContext, kernel: &Kernel, a: &[f32], b: &[f32]) -> Result<Vec<f32>, GpuError> {
    if a.len() != b.len() {
        return Err(GpuError::Shape(format!("{}: {} values vs {}", kernel.name, a.len(), b.len())));
    }
    let ab = upload_rw(ctx, &format!("{} a", kernel.name), a)?;
    let bb = ctx.upload_f32(&format!("{} b", kernel.name), b)?;
    let mut encoder = ctx.encoder(kernel.name);
    encode_pairwise(ctx, &mut encoder, kernel, ("a", &ab), ("b", &bb), a.len())?;
    ctx.read_f32_async(Some(encoder), &ab, a.len()).await
}
