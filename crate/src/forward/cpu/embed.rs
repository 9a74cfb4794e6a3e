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
        MatrixData::Q8(q) => Ok(rows_of(ids, table.cols, |id, out| q.dequantize_row(id, scale, out))),
        MatrixData::Q4_1(q) => Ok(rows_of(ids, table.cols, |id, out| q.dequantize_row(id, scale, out))),
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

/// (ids.len(), cols) row-major, row i written by `dequantize(ids[i], row)`.
fn rows_of(ids: &[u32], cols: usize, dequantize: impl Fn(usize, &mut [f32])) -> Vec<f32> {
    let mut rows = vec![0f32; ids.len() * cols];
    for (&id, out) in ids.iter().zip(rows.chunks_exact_mut(cols)) {
        dequantize(id as usize, out);
    }
    rows
}
