//! `out = x · Wᵀ` for `n` rows of `x` against a quantized weight matrix (candle's kernels).

use candle_core::{Device, Module, Tensor};

use super::q8_matmul::matmul_q8;
use crate::forward::weights::{Matrix, MatrixData};
use crate::forward::ForwardError;

/// `x` is (n, w.cols) row-major; returns (n, w.rows).
pub fn matmul(w: &Matrix, x: &[f32], n: usize) -> Result<Vec<f32>, ForwardError> {
    match &w.data {
        MatrixData::Q8(q) => Ok(matmul_q8(q, x, n)),
        MatrixData::Candle(qmm) => {
            let xt = Tensor::from_slice(x, (n, w.cols), &Device::Cpu)?;
            Ok(qmm.forward(&xt)?.flatten_all()?.to_vec1::<f32>()?)
        }
    }
}

/// Add a bias to each row.
pub fn add_bias(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}
