//! Forward stage: model hyperparameters, weights, and the forward pass, written once over a
//! [`backend::Backend`] and run on the CPU (`cpu/`) or the GPU (`gpu/`, wgpu).

pub mod backend;
pub mod config;
pub mod cpu;
pub mod gpu;
pub mod model;
pub mod weights;

use crate::load::gguf::GgufError;
use crate::load::shards::ShardError;

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error("unsupported model architecture {0:?} (supported: gemma3, llama, qwen2)")]
    UnsupportedArch(String),
    #[error("metadata key {key} has an invalid value: {why}")]
    BadHyperparameter { key: String, why: String },
    #[error("tensor {name} has dtype {dtype}, which the CPU backend does not support")]
    UnsupportedDType { name: String, dtype: &'static str },
    #[error("context is full: {needed} positions needed, the limit is {limit}")]
    ContextFull { needed: usize, limit: usize },
    #[error("token id {id} is outside the vocabulary ({vocab} tokens)")]
    TokenOutOfRange { id: u32, vocab: usize },
    #[error("empty input: at least one token is needed")]
    EmptyInput,
    #[error("matmul failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Gpu(#[from] gpu::GpuError),
    #[error("a GPU result was awaited synchronously in the browser (use the async forward calls)")]
    NotReady,
}
