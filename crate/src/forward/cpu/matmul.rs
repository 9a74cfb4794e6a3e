//! `out = x · Wᵀ` for `n` rows of `x` against a quantized weight matrix (candle's kernels).

use candle_core::quantized::{GgmlDType, QMatMul};
use candle_core::{Device, Module, Tensor};

use super::q4_1_matmul::matmul_q4_1;
use super::q8_matmul::matmul_q8;
use crate::forward::weights::{Matrix, MatrixData};
use crate::forward::ForwardError;

/// `x` is (n, w.cols) row-major; returns (n, w.rows).
pub fn matmul(w: &Matrix, x: &[f32], n: usize) -> Result<Vec<f32>, ForwardError> {
    match &w.data {
        MatrixData::Q8(q) => Ok(matmul_q8(q, x, n)),
        MatrixData::Q4_1(q) => Ok(matmul_q4_1(q, x, n)),
        MatrixData::Candle(qmm) if n > 1 && rows_one_by_one(qmm, w.rows) => {
            let mut y = Vec::with_capacity(n * w.rows);
            for xr in x.chunks_exact(w.cols) {
                let xt = Tensor::from_slice(xr, (1, w.cols), &Device::Cpu)?;
                y.extend(qmm.forward(&xt)?.flatten_all()?.to_vec1::<f32>()?);
            }
            Ok(y)
        }
        MatrixData::Candle(qmm) => {
            let xt = Tensor::from_slice(x, (n, w.cols), &Device::Cpu)?;
            Ok(qmm.forward(&xt)?.flatten_all()?.to_vec1::<f32>()?)
        }
    }
}

/// Whether a batch goes in row by row. On x86_64 candle 0.11 multiplies a batch by a Q6_K
/// matrix of 16-row tiles in its repacked tiles but a single row by ggml's vec_dot, and the two
/// round differently: a last-bit difference that 8-bit activation quantization can turn into a
/// logit jump of a few percent. Row by row, prefill sums exactly as decode does (and as the GPU,
/// `gpu::matvec::chain_order`), at the cost of reading ffn_down's Q6_K weights once per prompt
/// token instead of once per 4.
fn rows_one_by_one(qmm: &QMatMul, rows: usize) -> bool {
    cfg!(target_arch = "x86_64") && rows.is_multiple_of(16) && matches!(qmm, QMatMul::QTensor(t) if t.dtype() == GgmlDType::Q6K)
}

/// Add a bias to each row.
pub fn add_bias(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}
