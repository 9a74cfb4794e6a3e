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

pub mod context;
pub mod matvec;
pub mod matvec_q4_k;
pub mod matvec_q5_0;
pub mod matvec_q6_k;
pub mod matvec_q8_0;
pub mod rmsnorm;

pub use context::{GpuContext, Kernel};
pub use matvec::{GpuMatrix, QuantFormat};

/// Shared WGSL helpers (byte reads from `array<u32>`, f16 decoding), prepended to kernels.
pub const PRELUDE: &str = include_str!("prelude.wgsl");

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
}
