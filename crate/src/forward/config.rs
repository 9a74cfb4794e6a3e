//! Hyperparameters read from GGUF metadata (`{arch}.*` keys).

use super::ForwardError;
use crate::load::gguf::Gguf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Gemma3,
    /// Llama, SmolLM and other `llama`-architecture GGUFs.
    Llama,
    Qwen2,
}

/// How RoPE pairs up the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs (2i, 2i+1): llama.cpp's LLAMA_ROPE_TYPE_NORM (Llama, SmolLM).
    Normal,
    /// Split halves (i, i+d/2): LLAMA_ROPE_TYPE_NEOX (Gemma, Qwen2).
    Neox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// GELU, tanh approximation (Gemma).
    GeluTanh,
    /// SiLU (Llama family).
    Silu,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub arch: Arch,
    pub dim: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub hidden_dim: usize,
    pub vocab_size: usize,
    pub norm_eps: f32,
    pub rope_style: RopeStyle,
    /// RoPE base for global-attention layers.
    pub rope_theta: f32,
    /// RoPE base for sliding-window layers (Gemma 3 uses 10k there).
    pub rope_theta_swa: f32,
    /// Sliding-window size; `None` means every layer is global.
    pub sliding_window: Option<usize>,
    /// Every `swa_pattern`-th layer is global, the others use the sliding window (Gemma 3: 6).
    pub swa_pattern: usize,
    pub context_len: usize,
    /// Multiply embeddings by this (Gemma: sqrt(dim)).
    pub embed_scale: f32,
    /// Scale of q·k (1/sqrt(head_dim)).
    pub attn_scale: f32,
    pub activation: Activation,
    /// Gemma 3: RMSNorm on each q and k head, and norms after attention and MLP.
    pub qk_norm: bool,
    pub post_norms: bool,
}

impl Config {
    pub fn from_gguf(g: &Gguf) -> Result<Self, ForwardError> {
        let arch_name = g.get_str("general.architecture")?.to_string();
        let arch = match arch_name.as_str() {
            "gemma3" => Arch::Gemma3,
            "llama" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            _ => return Err(ForwardError::UnsupportedArch(arch_name)),
        };
        let key = |k: &str| format!("{arch_name}.{k}");
        let dim = g.get_usize(&key("embedding_length"))?;
        let n_layers = g.get_usize(&key("block_count"))?;
        let n_heads = g.get_usize(&key("attention.head_count"))?;
        let n_kv_heads = match g.get_usize(&key("attention.head_count_kv")) {
            Ok(n) => n,
            Err(crate::load::gguf::GgufError::MissingKey(_)) => n_heads,
            Err(e) => return Err(e.into()),
        };
        let head_dim = match g.get_usize(&key("attention.key_length")) {
            Ok(n) => n,
            Err(crate::load::gguf::GgufError::MissingKey(_)) if n_heads > 0 => dim / n_heads,
            Err(e) => return Err(e.into()),
        };
        let hidden_dim = g.get_usize(&key("feed_forward_length"))?;
        let norm_eps = g.get_f32(&key("attention.layer_norm_rms_epsilon"))?;
        let context_len = g.get_usize(&key("context_length"))?;
        let rope_theta = match g.get_f32(&key("rope.freq_base")) {
            Ok(t) => t,
            Err(crate::load::gguf::GgufError::MissingKey(_)) => 10_000.0,
            Err(e) => return Err(e.into()),
        };
        let vocab_size = g.tensor("token_embd.weight")?.dims.get(1).copied().unwrap_or(0);
        let bad = |k: &str, why: &str| ForwardError::BadHyperparameter { key: key(k), why: why.to_string() };
        if dim == 0 || n_layers == 0 || n_heads == 0 || hidden_dim == 0 || head_dim == 0 {
            return Err(bad("embedding_length", "dimensions must be non-zero"));
        }
        if n_kv_heads == 0 || n_heads % n_kv_heads != 0 {
            return Err(bad("attention.head_count_kv", "must divide head_count"));
        }
        if head_dim % 2 != 0 {
            return Err(bad("attention.key_length", "head size must be even for RoPE"));
        }
        if n_layers > 1024 || dim > 1 << 16 || hidden_dim > 1 << 18 || n_heads > 1024 {
            return Err(bad("block_count", "implausibly large model"));
        }
        let gemma = arch == Arch::Gemma3;
        let sliding_window = if gemma { Some(g.get_usize(&key("attention.sliding_window"))?) } else { None };
        Ok(Self {
            arch,
            dim,
            n_layers,
            n_heads,
            n_kv_heads,
            head_dim,
            hidden_dim,
            vocab_size,
            norm_eps,
            rope_style: if arch == Arch::Llama { RopeStyle::Normal } else { RopeStyle::Neox },
            rope_theta,
            rope_theta_swa: if gemma { 10_000.0 } else { rope_theta },
            sliding_window,
            swa_pattern: if gemma { 6 } else { 1 },
            context_len,
            embed_scale: if gemma { (dim as f32).sqrt() } else { 1.0 },
            attn_scale: 1.0 / (head_dim as f32).sqrt(),
            activation: if gemma { Activation::GeluTanh } else { Activation::Silu },
            qk_norm: gemma,
            post_norms: gemma,
        })
    }

    /// Whether layer `l` attends over a sliding window (and which window).
    pub fn layer_window(&self, l: usize) -> Option<usize> {
        match self.sliding_window {
            Some(w) if self.swa_pattern > 1 && l % self.swa_pattern < self.swa_pattern - 1 => Some(w),
            _ => None,
        }
    }

    pub fn layer_rope_theta(&self, l: usize) -> f32 {
        if self.layer_window(l).is_some() {
            self.rope_theta_swa
        } else {
            self.rope_theta
        }
    }

    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}
