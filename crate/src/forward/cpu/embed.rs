//! Token embedding lookup: dequantize the rows of the embedding matrix for the given ids.

use candle_core::quantized::QTensor;
use candle_core::{Device, Tensor};

use crate::forward::ForwardError;

/// Returns (ids.len(), dim) row-major, each row multiplied by `scale`.
pub fn embed(table: &QTensor, ids: &[u32], scale: f32) -> Result<Vec<f32>, ForwardError> {
    let vocab = table.shape().dims()[0];
    if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab) {
        return Err(ForwardError::TokenOutOfRange { id, vocab });
    }
    let idt = Tensor::from_slice(ids, ids.len(), &Device::Cpu)?;
    let mut rows = table.embedding(&idt)?.flatten_all()?.to_vec1::<f32>()?;
    if scale != 1.0 {
        rows.iter_mut().for_each(|v| *v *= scale);
    }
    Ok(rows)
}
