//! CPU ops of the forward pass, one op per file. Activations are row-major `f32` slices of
//! `n_rows * row_len`; only the weight matmuls go through candle's quantized kernels.

pub mod attention;
pub mod backend;
pub mod embed;
pub mod exp;
pub mod gelu;
pub mod matmul;
pub mod q4_1_matmul;
pub mod rmsnorm;
pub mod rope;
pub mod silu;
pub mod q8_matmul;
pub mod softmax;
pub mod tanh;
