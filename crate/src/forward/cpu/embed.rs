//! Token embedding lookup: dequantize the rows of the embedding matrix for the given ids.

use candle_core::{Device, Tensor};

use crate::forward::weights::{Matrix, MatrixData};
use crate::forward::ForwardError;

/// Returns (ids.len(), dim) row-major, each row multiplied by `scale`.
pub fn embed(table: &Matrix, ids: &[u32], scale: f32) -> Result<Vec<f32>, ForwardError> {
    let vocab = table.rows;
    if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab) {
        return Err(ForwardError::TokenOutOfRange { id, vocab });
    }
    match &table.data {
        MatrixData::Q8(q) => {
            let mut rows = vec![0f32; ids.len() * table.cols];
            for (&id, out) in ids.iter().zip(rows.chunks_exact_mut(table.cols)) {
                q.dequantize_row(id as usize, scale, out);
            }
            Ok(rows)
        }
        MatrixData::Q4_1(q) => {
            let mut rows = vec![0f32; ids.len() * table.cols];
            for (&id, out) in ids.iter().zip(rows.chunks_exact_mut(table.cols)) {
                q.dequantize_row(id as usize, scale, out);
            }
            Ok(rows)
        }
        MatrixData::Candle(qmm) => {
            let idt = Tensor::from_slice(ids, ids.len(), &Device::Cpu)?;
            let mut rows = qmm.embedding(&idt)?.flatten_all()?.to_vec1::<f32>()?;
            if scale != 1.0 {
                rows.iter_mut().for_each(|v| *v *= scale);
            }
            Ok(rows)
        }
    }
}
