//! Tiny deterministic test models (Llama, Qwen2 and Gemma 3 families) written as GGUF bytes,
//! so most tests run in milliseconds without the real model. Weights come from a seeded
//! xorshift generator and are quantized with candle's reference quantizers.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use crate::load::gguf::{DType, Value};
use crate::load::write::GgufWriter;
use crate::tokenize::{tiny_gpt2_vocab_metadata, tiny_spm_vocab_metadata};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TinyArch {
    Llama,
    Qwen2,
    Gemma3,
}

impl TinyArch {
    pub fn name(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Qwen2 => "qwen2",
            Self::Gemma3 => "gemma3",
        }
    }
}

/// Shape of a tiny model: small, but K-quant friendly (rows of 256).
pub struct TinySpec {
    pub arch: TinyArch,
    /// Dtype of the weight matrices (norms stay F32).
    pub dtype: DType,
    pub seed: u64,
    pub dim: usize,
    pub hidden_dim: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub context_len: usize,
}

impl TinySpec {
    pub fn new(arch: TinyArch, dtype: DType) -> Self {
        Self {
            arch,
            dtype,
            seed: 42,
            dim: 256,
            hidden_dim: 512,
            n_layers: if arch == TinyArch::Gemma3 { 6 } else { 2 },
            n_heads: 4,
            n_kv_heads: 2,
            context_len: 256,
        }
    }
}

struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32, offset: f32) -> Vec<f32> {
        (0..n).map(|_| offset + scale * self.next_f32()).collect()
    }
}

fn ggml_dtype(d: DType) -> Option<GgmlDType> {
    Some(match d {
        DType::F32 => GgmlDType::F32,
        DType::F16 => GgmlDType::F16,
        DType::Q4_0 => GgmlDType::Q4_0,
        DType::Q4_1 => GgmlDType::Q4_1,
        DType::Q5_0 => GgmlDType::Q5_0,
        DType::Q8_0 => GgmlDType::Q8_0,
        DType::Q4K => GgmlDType::Q4K,
        DType::Q6K => GgmlDType::Q6K,
        _ => return None,
    })
}

/// Quantize a (rows, cols) matrix to GGUF block bytes.
fn quantize(values: Vec<f32>, rows: usize, cols: usize, dtype: DType) -> Vec<u8> {
    let Some(gd) = ggml_dtype(dtype) else { return Vec::new() };
    let t = match Tensor::from_vec(values, (rows, cols), &Device::Cpu) {
        Ok(t) => t,
        Err(_) => return Vec::new(),
    };
    QTensor::quantize(&t, gd).and_then(|q| q.data().map(|d| d.into_owned())).unwrap_or_default()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Build the GGUF bytes of a tiny model. Dtypes that need rows of 256 (K-quants) work with the
/// default shape; returns an empty Vec for dtypes the generator cannot quantize to.
pub fn tiny_model(spec: &TinySpec) -> Vec<u8> {
    let arch = spec.arch.name();
    let vocab_meta = match spec.arch {
        TinyArch::Gemma3 => tiny_spm_vocab_metadata(),
        TinyArch::Llama | TinyArch::Qwen2 => tiny_gpt2_vocab_metadata(),
    };
    let vocab = vocab_meta
        .iter()
        .find(|(k, _)| k == "tokenizer.ggml.tokens")
        .and_then(|(_, v)| if let Value::Array(a) = v { Some(a.len()) } else { None })
        .unwrap_or(0);
    let head_dim = spec.dim / spec.n_heads;
    let (q_dim, kv_dim) = (spec.n_heads * head_dim, spec.n_kv_heads * head_dim);
    let mut rng = Rng(spec.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut w = GgufWriter::new();
    let key = |k: &str| format!("{arch}.{k}");
    w.meta("general.architecture", Value::String(arch.into()))
        .meta("general.name", Value::String(format!("tiny-{arch}-{}", spec.dtype.name())))
        .meta(&key("context_length"), Value::U32(spec.context_len as u32))
        .meta(&key("embedding_length"), Value::U32(spec.dim as u32))
        .meta(&key("block_count"), Value::U32(spec.n_layers as u32))
        .meta(&key("feed_forward_length"), Value::U32(spec.hidden_dim as u32))
        .meta(&key("attention.head_count"), Value::U32(spec.n_heads as u32))
        .meta(&key("attention.head_count_kv"), Value::U32(spec.n_kv_heads as u32))
        .meta(&key("attention.layer_norm_rms_epsilon"), Value::F32(1e-6))
        .meta(&key("rope.freq_base"), Value::F32(10_000.0));
    if spec.arch == TinyArch::Gemma3 {
        w.meta(&key("attention.key_length"), Value::U32(head_dim as u32))
            .meta(&key("attention.value_length"), Value::U32(head_dim as u32))
            .meta(&key("attention.sliding_window"), Value::U32(8));
    }
    for (k, v) in vocab_meta {
        w.meta(&k, v);
    }
    let dt = spec.dtype;
    let matrix = |w: &mut GgufWriter, rng: &mut Rng, name: &str, rows: usize, cols: usize| {
        let scale = 1.0 / (cols as f32).sqrt();
        w.tensor(name, &[cols, rows], dt, quantize(rng.vec(rows * cols, scale * 1.7, 0.0), rows, cols, dt));
    };
    let vector = |w: &mut GgufWriter, rng: &mut Rng, name: &str, n: usize, offset: f32| {
        w.tensor(name, &[n], DType::F32, f32_bytes(&rng.vec(n, 0.2, offset)));
    };
    // Embeddings double as the tied output head; Q8_0 keeps them accurate at any matrix dtype.
    let embd_dtype = if matches!(dt, DType::F32 | DType::F16) { dt } else { DType::Q8_0 };
    w.tensor("token_embd.weight", &[spec.dim, vocab], embd_dtype, quantize(rng.vec(vocab * spec.dim, 1.0, 0.0), vocab, spec.dim, embd_dtype));
    vector(&mut w, &mut rng, "output_norm.weight", spec.dim, 1.0);
    for l in 0..spec.n_layers {
        let n = |s: &str| format!("blk.{l}.{s}");
        vector(&mut w, &mut rng, &n("attn_norm.weight"), spec.dim, 1.0);
        matrix(&mut w, &mut rng, &n("attn_q.weight"), q_dim, spec.dim);
        matrix(&mut w, &mut rng, &n("attn_k.weight"), kv_dim, spec.dim);
        matrix(&mut w, &mut rng, &n("attn_v.weight"), kv_dim, spec.dim);
        if spec.arch == TinyArch::Qwen2 {
            vector(&mut w, &mut rng, &n("attn_q.bias"), q_dim, 0.0);
            vector(&mut w, &mut rng, &n("attn_k.bias"), kv_dim, 0.0);
            vector(&mut w, &mut rng, &n("attn_v.bias"), kv_dim, 0.0);
        }
        matrix(&mut w, &mut rng, &n("attn_output.weight"), spec.dim, q_dim);
        vector(&mut w, &mut rng, &n("ffn_norm.weight"), spec.dim, 1.0);
        matrix(&mut w, &mut rng, &n("ffn_gate.weight"), spec.hidden_dim, spec.dim);
        matrix(&mut w, &mut rng, &n("ffn_up.weight"), spec.hidden_dim, spec.dim);
        matrix(&mut w, &mut rng, &n("ffn_down.weight"), spec.dim, spec.hidden_dim);
        if spec.arch == TinyArch::Gemma3 {
            vector(&mut w, &mut rng, &n("attn_q_norm.weight"), head_dim, 1.0);
            vector(&mut w, &mut rng, &n("attn_k_norm.weight"), head_dim, 1.0);
            vector(&mut w, &mut rng, &n("post_attention_norm.weight"), spec.dim, 1.0);
            vector(&mut w, &mut rng, &n("post_ffw_norm.weight"), spec.dim, 1.0);
        }
    }
    w.to_bytes()
}
