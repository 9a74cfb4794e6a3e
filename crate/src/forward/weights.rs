//! Model weights, loaded tensor by tensor from GGUF bytes onto a backend: candle quantized
//! storage or our Q8 kernel's blocks on the CPU, raw GGUF blocks in GPU buffers (quant blocks
//! kept in their GGUF layout either way).

use std::sync::Arc;

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_1, BlockQ6K, BlockQ8_0, GgmlType,
};
use candle_core::quantized::{QMatMul, QStorage, QTensor, QuantizedType};
use half::{bf16, f16};

use super::backend::Backend;
use super::config::Config;
use super::cpu::q4_1_matmul::Q4_1Matrix;
use super::cpu::q8_matmul::{widen_q5_0_into, BlockFormat, Q8Matrix};
use super::ForwardError;
use crate::load::gguf::{DType, Gguf, GgufError, TensorInfo};
use crate::load::shards::ShardSource;

/// A weight matrix of shape (rows = out features, cols = in features).
#[derive(Clone)]
pub struct Matrix {
    pub data: MatrixData,
    pub rows: usize,
    pub cols: usize,
}

/// Which kernel family multiplies this matrix.
#[derive(Clone)]
pub enum MatrixData {
    /// candle's quantized matmul (K-quants, Q4_0, floats; everything on non-x86 targets).
    Candle(QMatMul),
    /// Our kernel (Q8_0 and Q5_0 weights on x86_64).
    Q8(Arc<Q8Matrix>),
    /// Our Q4_1 kernel (every target; candle has only a scalar Q4_1 dot product).
    Q4_1(Arc<Q4_1Matrix>),
}

/// One transformer block's weights, on backend `B` (host memory or GPU buffers).
pub struct Layer<B: Backend> {
    pub attn_norm: B::Vector,              // (dim)
    pub wq: B::Matrix,                     // (n_heads*head_dim, dim)
    pub wk: B::Matrix,                     // (n_kv_heads*head_dim, dim)
    pub wv: B::Matrix,                     // (n_kv_heads*head_dim, dim)
    pub bq: Option<B::Vector>,             // (n_heads*head_dim)      Qwen2
    pub bk: Option<B::Vector>,             // (n_kv_heads*head_dim)   Qwen2
    pub bv: Option<B::Vector>,             // (n_kv_heads*head_dim)   Qwen2
    pub q_norm: Option<B::Vector>,         // (head_dim)              Gemma 3
    pub k_norm: Option<B::Vector>,         // (head_dim)              Gemma 3
    pub wo: B::Matrix,                     // (dim, n_heads*head_dim)
    pub post_attn_norm: Option<B::Vector>, // (dim)                   Gemma 3
    pub ffn_norm: B::Vector,               // (dim)
    pub w_gate: B::Matrix,                 // (hidden_dim, dim)
    pub w_up: B::Matrix,                   // (hidden_dim, dim)
    pub w_down: B::Matrix,                 // (dim, hidden_dim)
    pub post_ffn_norm: Option<B::Vector>,  // (dim)                   Gemma 3
}

pub struct Weights<B: Backend> {
    pub token_embd: B::Matrix,        // (vocab, dim)
    pub layers: Vec<Layer<B>>,        // n_layers
    pub output_norm: B::Vector,       // (dim)
    pub output: B::Matrix,            // (vocab, dim); tied to token_embd when output.weight is absent
    pub rope_freqs: Option<Vec<f32>>, // (head_dim/2) Llama 3 frequency factors (host: folded into rope)
}

/// Read a tensor straight into a Vec of candle blocks (one copy of the bytes, no staging buffer).
fn read_blocks<T: GgmlType + Send + Sync + 'static>(
    g: &Gguf,
    src: &mut dyn ShardSource,
    info: &TensorInfo,
) -> Result<Box<dyn QuantizedType>, ForwardError> {
    let (blk, bytes_per_block) = info.dtype.block();
    let size = std::mem::size_of::<T>();
    if size as u64 != bytes_per_block || T::BLCK_SIZE as u64 != blk {
        return Err(ForwardError::UnsupportedDType { name: info.name.clone(), dtype: info.dtype.name() });
    }
    let n_blocks = (info.size / bytes_per_block) as usize;
    let mut blocks: Vec<T> = vec![T::zeros(); n_blocks];
    // SAFETY: candle's block types (and f32/f16/bf16) are `repr(C)` aggregates of integers and
    // f16 values with no padding (their sizes equal the GGUF block sizes, checked above), so any
    // byte pattern is a valid value and the byte view covers exactly the allocation.
    let view = unsafe { std::slice::from_raw_parts_mut(blocks.as_mut_ptr() as *mut u8, n_blocks * size) };
    src.read_at(g.data_offset + info.offset, view)?;
    Ok(Box::new(blocks))
}

/// Q5_0 → Q8_0, exactly (candle has no SIMD Q5_0 dot product; used off x86_64).
fn widen_q5_0(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; raw.len() / 22 * 34];
    widen_q5_0_into(raw, &mut out);
    out
}

/// Q8_0 bytes (GGUF layout) into candle blocks.
fn q8_0_blocks(bytes: &[u8]) -> Box<dyn QuantizedType> {
    let n_blocks = bytes.len() / 34;
    let mut blocks: Vec<BlockQ8_0> = vec![BlockQ8_0::zeros(); n_blocks];
    // SAFETY: BlockQ8_0 is `repr(C)` { f16, [i8; 32] }, 34 bytes with no padding; any bytes are valid.
    let view = unsafe { std::slice::from_raw_parts_mut(blocks.as_mut_ptr() as *mut u8, n_blocks * 34) };
    view.copy_from_slice(&bytes[..n_blocks * 34]);
    Box::new(blocks)
}

/// Our kernel serves Q8_0 and Q5_0 weights on x86_64; elsewhere candle's (simd128 on wasm,
/// where Q5_0 is widened to Q8_0 first since candle has no SIMD Q5_0 dot product).
const OWN_Q8_KERNEL: bool = cfg!(target_arch = "x86_64");

fn load_qtensor(g: &Gguf, src: &mut dyn ShardSource, info: &TensorInfo) -> Result<QTensor, ForwardError> {
    let storage: Box<dyn QuantizedType> = match info.dtype {
        DType::F32 => read_blocks::<f32>(g, src, info)?,
        DType::F16 => read_blocks::<f16>(g, src, info)?,
        DType::BF16 => read_blocks::<bf16>(g, src, info)?,
        DType::Q4_0 => read_blocks::<BlockQ4_0>(g, src, info)?,
        DType::Q4_1 => read_blocks::<BlockQ4_1>(g, src, info)?,
        DType::Q5_0 => q8_0_blocks(&widen_q5_0(&g.tensor_bytes(src, info)?)),
        DType::Q5_1 => read_blocks::<BlockQ5_1>(g, src, info)?,
        DType::Q8_0 => read_blocks::<BlockQ8_0>(g, src, info)?,
        DType::Q2K => read_blocks::<BlockQ2K>(g, src, info)?,
        DType::Q3K => read_blocks::<BlockQ3K>(g, src, info)?,
        DType::Q4K => read_blocks::<BlockQ4K>(g, src, info)?,
        DType::Q5K => read_blocks::<BlockQ5K>(g, src, info)?,
        DType::Q6K => read_blocks::<BlockQ6K>(g, src, info)?,
        DType::Q8_1 | DType::Q8K => {
            return Err(ForwardError::UnsupportedDType { name: info.name.clone(), dtype: info.dtype.name() })
        }
    };
    // GGUF lists dims fastest-first; candle wants (rows, cols).
    let shape: Vec<usize> = info.dims.iter().rev().copied().collect();
    Ok(QTensor::new(QStorage::Cpu(storage), shape)?)
}

/// Loads named tensors from one GGUF, checking each shape against what the config implies.
pub struct Loader<'a> {
    pub g: &'a Gguf,
    pub src: &'a mut dyn ShardSource,
}

impl Loader<'_> {
    /// The tensor `name`, checked to have GGUF dims `expected` (fastest first).
    pub fn info(&self, name: &str, expected: &[usize]) -> Result<TensorInfo, ForwardError> {
        let info = self.g.tensor(name)?.clone();
        // Trailing 1-dims are equivalent (e.g. [640] vs [640, 1]).
        let mut found = info.dims.clone();
        while found.len() > expected.len() && found.last() == Some(&1) {
            found.pop();
        }
        if found != expected {
            return Err(GgufError::ShapeMismatch { name: name.to_string(), expected: expected.to_vec(), found: info.dims }.into());
        }
        Ok(info)
    }

    /// A matrix of (rows, cols): GGUF dims [cols, rows].
    pub fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<Matrix, ForwardError> {
        let info = self.info(name, &[cols, rows])?;
        let data = match info.dtype {
            DType::Q8_0 | DType::Q5_0 if OWN_Q8_KERNEL => {
                let format = if info.dtype == DType::Q8_0 { BlockFormat::Q8_0 } else { BlockFormat::Q5_0 };
                MatrixData::Q8(Arc::new(Q8Matrix { format, blocks: self.g.tensor_bytes(self.src, &info)?, rows, cols }))
            }
            DType::Q4_1 => MatrixData::Q4_1(Arc::new(Q4_1Matrix { blocks: self.g.tensor_bytes(self.src, &info)?, rows, cols })),
            _ => MatrixData::Candle(QMatMul::from_qtensor(load_qtensor(self.g, self.src, &info)?)?),
        };
        Ok(Matrix { data, rows, cols })
    }

    pub fn vector(&mut self, name: &str, len: usize) -> Result<Vec<f32>, ForwardError> {
        let info = self.info(name, &[len])?;
        let t = load_qtensor(self.g, self.src, &info)?;
        Ok(t.dequantize(&candle_core::Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?)
    }

    pub fn optional_vector(&mut self, name: &str, len: usize) -> Result<Option<Vec<f32>>, ForwardError> {
        if self.g.has_tensor(name) {
            self.vector(name, len).map(Some)
        } else {
            Ok(None)
        }
    }
}

impl<B: Backend> Weights<B> {
    /// Loads every weight onto backend `b`, tensor by tensor.
    pub fn load(b: &mut B, cfg: &Config, g: &Gguf, src: &mut dyn ShardSource) -> Result<Self, ForwardError> {
        let mut ld = Loader { g, src };
        let (dim, q_dim, kv_dim, hidden) = (cfg.dim, cfg.q_dim(), cfg.kv_dim(), cfg.hidden_dim);
        let vector = |b: &mut B, ld: &mut Loader<'_>, name: &str, len: usize| -> Result<B::Vector, ForwardError> {
            let v = ld.vector(name, len)?;
            b.vector(name, v)
        };
        let optional = |b: &mut B, ld: &mut Loader<'_>, name: &str, len: usize| -> Result<Option<B::Vector>, ForwardError> {
            match ld.optional_vector(name, len)? {
                Some(v) => Ok(Some(b.vector(name, v)?)),
                None => Ok(None),
            }
        };
        let mut layers = Vec::with_capacity(cfg.n_layers);
        for l in 0..cfg.n_layers {
            let n = |s: &str| format!("blk.{l}.{s}");
            let (q_norm, k_norm, post_attn_norm, post_ffn_norm) = if cfg.qk_norm || cfg.post_norms {
                (
                    Some(vector(b, &mut ld, &n("attn_q_norm.weight"), cfg.head_dim)?),
                    Some(vector(b, &mut ld, &n("attn_k_norm.weight"), cfg.head_dim)?),
                    Some(vector(b, &mut ld, &n("post_attention_norm.weight"), dim)?),
                    Some(vector(b, &mut ld, &n("post_ffw_norm.weight"), dim)?),
                )
            } else {
                (None, None, None, None)
            };
            layers.push(Layer {
                attn_norm: vector(b, &mut ld, &n("attn_norm.weight"), dim)?,
                wq: b.matrix(&mut ld, &n("attn_q.weight"), q_dim, dim)?,
                wk: b.matrix(&mut ld, &n("attn_k.weight"), kv_dim, dim)?,
                wv: b.matrix(&mut ld, &n("attn_v.weight"), kv_dim, dim)?,
                bq: optional(b, &mut ld, &n("attn_q.bias"), q_dim)?,
                bk: optional(b, &mut ld, &n("attn_k.bias"), kv_dim)?,
                bv: optional(b, &mut ld, &n("attn_v.bias"), kv_dim)?,
                q_norm,
                k_norm,
                wo: b.matrix(&mut ld, &n("attn_output.weight"), dim, q_dim)?,
                post_attn_norm,
                ffn_norm: vector(b, &mut ld, &n("ffn_norm.weight"), dim)?,
                w_gate: b.matrix(&mut ld, &n("ffn_gate.weight"), hidden, dim)?,
                w_up: b.matrix(&mut ld, &n("ffn_up.weight"), hidden, dim)?,
                w_down: b.matrix(&mut ld, &n("ffn_down.weight"), dim, hidden)?,
                post_ffn_norm,
            });
        }
        let tied = !g.has_tensor("output.weight");
        let token_embd = b.table(&mut ld, "token_embd.weight", cfg.vocab_size, dim, tied)?;
        let output = if tied { b.share(&token_embd) } else { b.matrix(&mut ld, "output.weight", cfg.vocab_size, dim)? };
        Ok(Self {
            token_embd,
            layers,
            output_norm: vector(b, &mut ld, "output_norm.weight", dim)?,
            output,
            rope_freqs: ld.optional_vector("rope_freqs.weight", cfg.head_dim / 2)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::cpu::q8_matmul::matmul_q8;

    /// Q5_0 read directly and Q5_0 widened to Q8_0 are the same matrix.
    #[test]
    fn widened_q5_0_equals_direct_q5_0() {
        let mut s = 12345u32;
        let mut raw = Vec::new();
        for _ in 0..64 * 4 {
            raw.extend_from_slice(&half::f16::from_f32(0.01 + (s % 100) as f32 / 1e4).to_le_bytes());
            for _ in 0..20 {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                raw.push(s as u8);
            }
        }
        let q5 = Q8Matrix { format: BlockFormat::Q5_0, blocks: raw.clone(), rows: 64, cols: 128 };
        let q8 = Q8Matrix { format: BlockFormat::Q8_0, blocks: widen_q5_0(&raw), rows: 64, cols: 128 };
        let (mut a, mut b) = (vec![0f32; 128], vec![0f32; 128]);
        for r in 0..64 {
            q5.dequantize_row(r, 1.0, &mut a);
            q8.dequantize_row(r, 1.0, &mut b);
            assert_eq!(a, b, "row {r}");
        }
        let x: Vec<f32> = (0..128 * 3).map(|i| (i as f32 * 0.37).sin()).collect();
        for n in [1, 2, 3] {
            assert_eq!(matmul_q8(&q5, &x[..n * 128], n), matmul_q8(&q8, &x[..n * 128], n));
        }
    }
}
