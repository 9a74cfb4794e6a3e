//! The forward pass, written in the manner of llama2.c's `run.c`: embed, then for each layer
//! attention and MLP with residuals, then final norm and logits.

use super::config::{Activation, Config};
use super::cpu::attention::{attention, AttentionShape};
use super::cpu::embed::embed;
use super::cpu::gelu::gelu_gate;
use super::cpu::matmul::{add_bias, matmul};
use super::cpu::rmsnorm::{rmsnorm, rmsnorm_inplace};
use super::cpu::rope::rope;
use super::cpu::silu::silu_gate;
use super::weights::Weights;
use super::ForwardError;
use crate::load::gguf::Gguf;
use crate::load::shards::ShardSource;

/// Longest prompt piece run through the layers at once (bounds activation memory).
const PREFILL_CHUNK: usize = 256;
/// Default context limit when the caller does not set one (the model may allow more).
pub const DEFAULT_MAX_CONTEXT: usize = 8192;

fn round_to_f16(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = half::f16::from_f32(*v).to_f32();
    }
}

/// Keys and values of every processed position, per layer: (positions, n_kv_heads*head_dim).
#[derive(Default)]
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
}

pub struct Model {
    pub config: Config,
    weights: Weights,
    cache: KvCache,
    max_context: usize,
}

impl Model {
    /// Load hyperparameters and weights, tensor by tensor. `max_context` caps the KV cache
    /// (defaults to min(model context, DEFAULT_MAX_CONTEXT)).
    pub fn load(g: &Gguf, src: &mut dyn ShardSource, max_context: Option<usize>) -> Result<Self, ForwardError> {
        let config = Config::from_gguf(g)?;
        let weights = Weights::load(&config, g, src)?;
        let max_context = max_context.unwrap_or(DEFAULT_MAX_CONTEXT).min(config.context_len).max(1);
        let cache = KvCache { k: vec![Vec::new(); config.n_layers], v: vec![Vec::new(); config.n_layers], len: 0 };
        Ok(Self { config, weights, cache, max_context })
    }

    /// Number of positions already in the KV cache.
    pub fn pos(&self) -> usize {
        self.cache.len
    }

    pub fn max_context(&self) -> usize {
        self.max_context
    }

    /// Forget all positions (start a new conversation).
    pub fn reset(&mut self) {
        self.truncate(0);
    }

    /// Drop cached positions from `len` on.
    pub fn truncate(&mut self, len: usize) {
        let len = len.min(self.cache.len);
        let kv_dim = self.config.kv_dim();
        for l in 0..self.config.n_layers {
            self.cache.k[l].truncate(len * kv_dim);
            self.cache.v[l].truncate(len * kv_dim);
        }
        self.cache.len = len;
    }

    /// Run `tokens` at the next positions; returns the logits of the last one (vocab_size).
    pub fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ForwardError> {
        let mut last = Vec::new();
        for chunk in self.checked_chunks(tokens)? {
            last = self.forward_chunk(chunk, false)?;
        }
        Ok(last)
    }

    /// Run `tokens` and return the logits of every one of them: (tokens.len(), vocab_size).
    pub fn forward_all(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ForwardError> {
        let mut all = Vec::with_capacity(tokens.len() * self.config.vocab_size);
        for chunk in self.checked_chunks(tokens)? {
            all.extend(self.forward_chunk(chunk, true)?);
        }
        Ok(all)
    }

    /// Run `tokens` and hand the logits of every position to `each(position, row)` as they are
    /// computed, without keeping them: only `STATS_CHUNK` rows are alive at once (the prefill
    /// of the router's prompt-perplexity signal). Returns the last row.
    pub fn forward_each(&mut self, tokens: &[u32], each: &mut dyn FnMut(usize, &[f32])) -> Result<Vec<f32>, ForwardError> {
        const STATS_CHUNK: usize = 32;
        let _ = self.checked_chunks(tokens)?;
        let vocab = self.config.vocab_size;
        let mut last = Vec::new();
        for (c, chunk) in tokens.chunks(STATS_CHUNK).enumerate() {
            let rows = self.forward_chunk(chunk, true)?;
            for (r, row) in rows.chunks(vocab).enumerate() {
                each(c * STATS_CHUNK + r, row);
            }
            last = rows[rows.len() - vocab..].to_vec();
        }
        Ok(last)
    }

    fn checked_chunks<'t>(&self, tokens: &'t [u32]) -> Result<std::slice::Chunks<'t, u32>, ForwardError> {
        if tokens.is_empty() {
            return Err(ForwardError::EmptyInput);
        }
        let needed = self.cache.len + tokens.len();
        if needed > self.max_context {
            return Err(ForwardError::ContextFull { needed, limit: self.max_context });
        }
        Ok(tokens.chunks(PREFILL_CHUNK))
    }

    fn forward_chunk(&mut self, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>, ForwardError> {
        let c = &self.config;
        let w = &self.weights;
        let n = tokens.len();
        let (dim, hd) = (c.dim, c.head_dim);
        let start = self.cache.len;

        // x: the residual stream, (n, dim)
        let mut x = embed(&w.token_embd, tokens, c.embed_scale)?;
        let mut xb = vec![0.0f32; n * dim];

        for (l, layer) in w.layers.iter().enumerate() {
            // ---- attention ----
            rmsnorm(&mut xb, &x, &layer.attn_norm, c.norm_eps);
            let mut q = matmul(&layer.wq, &xb, n)?; // (n, q_dim)
            let mut k = matmul(&layer.wk, &xb, n)?; // (n, kv_dim)
            let mut v = matmul(&layer.wv, &xb, n)?; // (n, kv_dim)
            if let (Some(bq), Some(bk), Some(bv)) = (&layer.bq, &layer.bk, &layer.bv) {
                add_bias(&mut q, bq);
                add_bias(&mut k, bk);
                add_bias(&mut v, bv);
            }
            if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                rmsnorm_inplace(&mut q, qn, c.norm_eps);
                rmsnorm_inplace(&mut k, kn, c.norm_eps);
            }
            let theta = c.layer_rope_theta(l);
            let ff = w.rope_freqs.as_deref();
            for t in 0..n {
                rope(&mut q[t * c.q_dim()..][..c.q_dim()], hd, start + t, theta, c.rope_style, ff);
                rope(&mut k[t * c.kv_dim()..][..c.kv_dim()], hd, start + t, theta, c.rope_style, ff);
            }
            // The KV cache holds f16-precision values, as llama.cpp's default f16 cache does: the
            // Gemma 3 continuations are full of near-ties, and this rounding is what makes our
            // greedy tokens agree with llama.cpp's (see ARCHITECTURE.md).
            round_to_f16(&mut k);
            round_to_f16(&mut v);
            self.cache.k[l].extend_from_slice(&k);
            self.cache.v[l].extend_from_slice(&v);
            let shape = AttentionShape {
                n_heads: c.n_heads,
                n_kv_heads: c.n_kv_heads,
                head_dim: hd,
                scale: c.attn_scale,
                window: c.layer_window(l),
            };
            let att = attention(&q, &self.cache.k[l], &self.cache.v[l], start, &shape); // (n, q_dim)
            let mut o = matmul(&layer.wo, &att, n)?; // (n, dim)
            if let Some(pn) = &layer.post_attn_norm {
                rmsnorm_inplace(&mut o, pn, c.norm_eps);
            }
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);

            // ---- MLP ----
            rmsnorm(&mut xb, &x, &layer.ffn_norm, c.norm_eps);
            let mut gate = matmul(&layer.w_gate, &xb, n)?; // (n, hidden_dim)
            let up = matmul(&layer.w_up, &xb, n)?; // (n, hidden_dim)
            match c.activation {
                Activation::GeluTanh => gelu_gate(&mut gate, &up),
                Activation::Silu => silu_gate(&mut gate, &up),
            }
            let mut down = matmul(&layer.w_down, &gate, n)?; // (n, dim)
            if let Some(pn) = &layer.post_ffn_norm {
                rmsnorm_inplace(&mut down, pn, c.norm_eps);
            }
            x.iter_mut().zip(&down).for_each(|(a, b)| *a += b);
        }
        self.cache.len += n;

        // ---- final norm and logits ----
        let rows = if all_logits { n } else { 1 };
        let x_out = &x[(n - rows) * dim..];
        let mut xn = vec![0.0f32; rows * dim];
        rmsnorm(&mut xn, x_out, &w.output_norm, c.norm_eps);
        matmul(&w.output, &xn, rows)
    }
}
