//! The forward pass, written in the manner of llama2.c's `run.c`: embed, then for each layer
//! attention and MLP with residuals, then final norm and logits. It is written once, against
//! [`Backend`]; [`Model`] runs it on the CPU or the GPU.

use super::backend::{top_k_host, Backend, RopeArgs, TopLogits};
use super::config::Config;
use super::cpu::attention::AttentionShape;
use super::cpu::backend::CpuBackend;
use super::gpu::backend::GpuBackend;
use super::gpu::GpuContext;
use super::weights::Weights;
use super::ForwardError;
use crate::load::gguf::Gguf;
use crate::load::shards::ShardSource;

/// Longest prompt piece run through the layers at once (bounds activation memory).
pub const PREFILL_CHUNK: usize = 256;
/// Logit rows computed at once when every position's logits are wanted.
const LOGIT_ROWS: usize = 16;
/// Default context limit when the caller does not set one (the model may allow more).
pub const DEFAULT_MAX_CONTEXT: usize = 8192;
/// The GPU's default: its KV cache is allocated whole at load, in f32 (Gemma 3 270M: 18 layers
/// × 2 × 2048 × 256 × 4 B = 75 MB of device memory, instead of 302 MB for 8192).
pub const GPU_DEFAULT_MAX_CONTEXT: usize = 2048;

/// What a forward call returns for its last position(s).
enum Want {
    /// The logits of every token.
    All,
    /// The logits of the last `k` tokens: 1 for the next token; the router's prompt-perplexity
    /// signal scores a bounded tail of the prompt (no full-vocabulary head at every position).
    Tail(usize),
    /// The `k` best logits of the last token (read back from the GPU: a few bytes, not the vocab).
    Top(usize),
}

enum Out {
    Logits(Vec<f32>),
    Top(TopLogits),
}

/// The forward pass on backend `B`: its weights, and how many positions its KV cache holds.
pub struct Transformer<B: Backend> {
    pub config: Config,
    backend: B,
    weights: Weights<B>,
    len: usize,
    max_context: usize,
}

impl<B: Backend> Transformer<B> {
    fn load(mut backend: B, g: &Gguf, src: &mut dyn ShardSource, max_context: Option<usize>) -> Result<Self, ForwardError> {
        let config = Config::from_gguf(g)?;
        let weights = Weights::load(&mut backend, &config, g, src)?;
        let max_context = max_context.unwrap_or(DEFAULT_MAX_CONTEXT).min(config.context_len).max(1);
        backend.kv_init(config.n_layers, max_context, config.kv_dim())?;
        Ok(Self { config, backend, weights, len: 0, max_context })
    }

    /// The pass on any backend (tests run two backends op by op: `tests/gpu/ops.rs`).
    pub fn load_on(backend: B, g: &Gguf, src: &mut dyn ShardSource, max_context: Option<usize>) -> Result<Self, ForwardError> {
        Self::load(backend, g, src, max_context)
    }

    /// The backend, for whoever loaded the pass with [`Transformer::load_on`].
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// The logits of every token of `tokens` (n, vocab).
    pub async fn logits_all(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ForwardError> {
        logits(self.forward(tokens, Want::All).await?)
    }

    fn truncate(&mut self, len: usize) {
        self.len = len.min(self.len);
        self.backend.kv_truncate(self.len);
    }

    async fn forward(&mut self, tokens: &[u32], want: Want) -> Result<Out, ForwardError> {
        if tokens.is_empty() {
            return Err(ForwardError::EmptyInput);
        }
        let needed = self.len + tokens.len();
        if needed > self.max_context {
            return Err(ForwardError::ContextFull { needed, limit: self.max_context });
        }
        let vocab = self.config.vocab_size;
        if let Some(&id) = tokens.iter().find(|&&id| id as usize >= vocab) {
            return Err(ForwardError::TokenOutOfRange { id, vocab });
        }
        let mut all = Vec::new();
        let chunks: Vec<&[u32]> = tokens.chunks(PREFILL_CHUNK).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            // Rows wanted from this chunk: always its tail (the wanted rows end at the last token).
            let rows = match want {
                Want::All => chunk.len(),
                Want::Tail(k) => {
                    let after = tokens.len() - (i * PREFILL_CHUNK + chunk.len());
                    k.saturating_sub(after).min(chunk.len())
                }
                Want::Top(_) if last => 1,
                Want::Top(_) => 0,
            };
            let start = self.len;
            let x = self.layers(chunk).inspect_err(|_| self.truncate(start))?;
            if rows == 0 {
                continue;
            }
            // ---- final norm and logits, LOGIT_ROWS rows at a time ----
            let (b, c, w) = (&mut self.backend, &self.config, &self.weights);
            let n = chunk.len();
            let mut xn = b.act("xn", LOGIT_ROWS.min(rows) * c.dim)?;
            let mut logits = b.act("logits", LOGIT_ROWS.min(rows) * vocab)?;
            let mut done = n - rows;
            while done < n {
                let r = LOGIT_ROWS.min(n - done);
                let mut xr = b.act("x_rows", r * c.dim)?;
                b.rows(&mut xr, &x, done * c.dim, r * c.dim)?;
                b.rmsnorm(&mut xn, &xr, &w.output_norm, c.norm_eps, r)?;
                b.matmul(&mut logits, &w.output, &xn, r)?;
                match want {
                    Want::Top(k) => return Ok(Out::Top(b.top_k(&logits, vocab, k).await?)),
                    _ => all.extend(b.read(&logits, r * vocab).await?),
                }
                done += r;
            }
        }
        Ok(Out::Logits(all))
    }

    /// Runs `tokens` through every layer (filling the KV cache); returns the residual stream
    /// (n, dim).
    fn layers(&mut self, tokens: &[u32]) -> Result<B::Act, ForwardError> {
        let (b, c, w) = (&mut self.backend, &self.config, &self.weights);
        let n = tokens.len();
        let (dim, hd, q_dim, kv_dim, hidden) = (c.dim, c.head_dim, c.q_dim(), c.kv_dim(), c.hidden_dim);
        let start = self.len;

        // x: the residual stream, (n, dim)
        let mut x = b.act("x", n * dim)?;
        let mut xb = b.act("xb", n * dim)?; // (n, dim)
        let mut q = b.act("q", n * q_dim)?; // (n, n_heads*head_dim)
        let mut k = b.act("k", n * kv_dim)?; // (n, n_kv_heads*head_dim)
        let mut v = b.act("v", n * kv_dim)?; // (n, n_kv_heads*head_dim)
        let mut att = b.act("att", n * q_dim)?; // (n, n_heads*head_dim)
        let mut o = b.act("o", n * dim)?; // (n, dim)
        let mut gate = b.act("gate", n * hidden)?; // (n, hidden_dim)
        let mut up = b.act("up", n * hidden)?; // (n, hidden_dim)
        let mut kn = b.act("kn", n * kv_dim)?; // (n, n_kv_heads*head_dim), normalized k
        b.embed(&mut x, &w.token_embd, tokens, c.embed_scale)?;

        for (l, layer) in w.layers.iter().enumerate() {
            // ---- attention ----
            b.rmsnorm(&mut xb, &x, &layer.attn_norm, c.norm_eps, n)?;
            b.matmul(&mut q, &layer.wq, &xb, n)?;
            b.matmul(&mut k, &layer.wk, &xb, n)?;
            b.matmul(&mut v, &layer.wv, &xb, n)?;
            if let (Some(bq), Some(bk), Some(bv)) = (&layer.bq, &layer.bk, &layer.bv) {
                b.add_bias(&mut q, bq, n)?;
                b.add_bias(&mut k, bk, n)?;
                b.add_bias(&mut v, bv, n)?;
            }
            if let (Some(qn), Some(kn_w)) = (&layer.q_norm, &layer.k_norm) {
                // Each norm writes a spare buffer of the same shape, which is swapped in (no
                // copy back); att is free until attention.
                b.rmsnorm(&mut att, &q, qn, c.norm_eps, n * c.n_heads)?;
                std::mem::swap(&mut q, &mut att);
                b.rmsnorm(&mut kn, &k, kn_w, c.norm_eps, n * c.n_kv_heads)?;
                std::mem::swap(&mut k, &mut kn);
            }
            let r = RopeArgs { theta: c.layer_rope_theta(l), style: c.rope_style, freq_factors: w.rope_freqs.as_deref() };
            b.rope(&mut q, n, c.n_heads, hd, start, r)?;
            b.rope(&mut k, n, c.n_kv_heads, hd, start, r)?;
            // The cache holds f16-precision keys and values, as llama.cpp's default f16 cache:
            // the Gemma 3 continuations are full of near-ties, and this rounding is what makes
            // our greedy tokens agree with llama.cpp's (see ARCHITECTURE.md).
            b.kv_store(l, &k, &v, start, n)?;
            let shape = AttentionShape {
                n_heads: c.n_heads,
                n_kv_heads: c.n_kv_heads,
                head_dim: hd,
                scale: c.attn_scale,
                window: c.layer_window(l),
            };
            b.attention(&mut att, &q, l, start, n, &shape)?;
            b.matmul(&mut o, &layer.wo, &att, n)?;
            if let Some(pn) = &layer.post_attn_norm {
                b.rmsnorm(&mut xb, &o, pn, c.norm_eps, n)?; // xb is free after the projections
                std::mem::swap(&mut o, &mut xb);
            }
            b.add(&mut x, &o, n * dim)?;

            // ---- MLP ----
            b.rmsnorm(&mut xb, &x, &layer.ffn_norm, c.norm_eps, n)?;
            b.matmul(&mut gate, &layer.w_gate, &xb, n)?;
            b.matmul(&mut up, &layer.w_up, &xb, n)?;
            b.gate(&mut gate, &up, c.activation, n * hidden)?;
            b.matmul(&mut o, &layer.w_down, &gate, n)?;
            if let Some(pn) = &layer.post_ffn_norm {
                b.rmsnorm(&mut xb, &o, pn, c.norm_eps, n)?; // xb is free after gate and up
                std::mem::swap(&mut o, &mut xb);
            }
            b.add(&mut x, &o, n * dim)?;
        }
        b.flush()?;
        self.len += n;
        Ok(x)
    }
}

/// Which backend a [`Model`] runs on.
pub enum Backed {
    Cpu(Transformer<CpuBackend>),
    Gpu(Transformer<GpuBackend>),
}

/// A loaded model on the CPU or the GPU, with its KV cache.
pub struct Model {
    pub config: Config,
    inner: Backed,
}

/// Runs the body with `t` bound to the backend's transformer.
macro_rules! on_backend {
    ($self:expr, $t:ident => $body:expr) => {
        match &mut $self.inner {
            Backed::Cpu($t) => $body,
            Backed::Gpu($t) => $body,
        }
    };
}

impl Model {
    /// Load hyperparameters and weights onto the CPU, tensor by tensor. `max_context` caps the
    /// KV cache (defaults to min(model context, DEFAULT_MAX_CONTEXT)).
    pub fn load(g: &Gguf, src: &mut dyn ShardSource, max_context: Option<usize>) -> Result<Self, ForwardError> {
        let t = Transformer::load(CpuBackend::default(), g, src, max_context)?;
        Ok(Self { config: t.config.clone(), inner: Backed::Cpu(t) })
    }

    /// Load onto the GPU of `ctx`: quant blocks uploaded tensor by tensor as they are in the
    /// file, the KV cache allocated on the device for `max_context` positions (default
    /// [`GPU_DEFAULT_MAX_CONTEXT`]).
    pub fn load_gpu(g: &Gguf, src: &mut dyn ShardSource, max_context: Option<usize>, ctx: std::sync::Arc<GpuContext>) -> Result<Self, ForwardError> {
        let t = Transformer::load(GpuBackend::new(ctx), g, src, max_context.or(Some(GPU_DEFAULT_MAX_CONTEXT)))?;
        Ok(Self { config: t.config.clone(), inner: Backed::Gpu(t) })
    }

    /// "cpu" or "gpu".
    pub fn backend(&self) -> &'static str {
        match &self.inner {
            Backed::Cpu(t) => t.backend.name(),
            Backed::Gpu(t) => t.backend.name(),
        }
    }

    /// The GPU context, when the model runs on one.
    pub fn gpu(&self) -> Option<&std::sync::Arc<GpuContext>> {
        match &self.inner {
            Backed::Gpu(t) => Some(t.backend.context()),
            Backed::Cpu(_) => None,
        }
    }

    /// Number of positions already in the KV cache.
    pub fn pos(&self) -> usize {
        match &self.inner {
            Backed::Cpu(t) => t.len,
            Backed::Gpu(t) => t.len,
        }
    }

    pub fn max_context(&self) -> usize {
        match &self.inner {
            Backed::Cpu(t) => t.max_context,
            Backed::Gpu(t) => t.max_context,
        }
    }

    /// Forget all positions (start a new conversation).
    pub fn reset(&mut self) {
        self.truncate(0);
    }

    /// Drop cached positions from `len` on.
    pub fn truncate(&mut self, len: usize) {
        on_backend!(self, t => t.truncate(len))
    }

    /// Run `tokens` at the next positions; returns the logits of the last one (vocab_size).
    pub async fn forward_async(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ForwardError> {
        on_backend!(self, t => logits(t.forward(tokens, Want::Tail(1)).await?))
    }

    /// Run `tokens` and return the logits of every one of them: (tokens.len(), vocab_size).
    pub async fn forward_all_async(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ForwardError> {
        on_backend!(self, t => logits(t.forward(tokens, Want::All).await?))
    }

    /// Run `tokens`; returns the `k` best logits of the last one, with log_z and entropy.
    pub async fn forward_top_async(&mut self, tokens: &[u32], k: usize) -> Result<TopLogits, ForwardError> {
        let out = on_backend!(self, t => t.forward(tokens, Want::Top(k)).await?);
        match out {
            Out::Top(top) => Ok(top),
            Out::Logits(l) => Ok(top_k_host(&l, k)),
        }
    }

    /// Run `tokens` and return the logits of the last `k` of them: (min(k, tokens.len()),
    /// vocab_size). The output head runs only for those rows.
    pub async fn forward_tail_async(&mut self, tokens: &[u32], k: usize) -> Result<Vec<f32>, ForwardError> {
        on_backend!(self, t => logits(t.forward(tokens, Want::Tail(k.max(1))).await?))
    }

    /// [`Model::forward_tail_async`], waiting for the result.
    pub fn forward_tail(&mut self, tokens: &[u32], k: usize) -> Result<Vec<f32>, ForwardError> {
        block_on(self.forward_tail_async(tokens, k))
    }

    /// [`Model::forward_async`], waiting for the result.
    pub fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ForwardError> {
        block_on(self.forward_async(tokens))
    }

    /// [`Model::forward_all_async`], waiting for the result.
    pub fn forward_all(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ForwardError> {
        block_on(self.forward_all_async(tokens))
    }

    /// [`Model::forward_top_async`], waiting for the result.
    pub fn forward_top(&mut self, tokens: &[u32], k: usize) -> Result<TopLogits, ForwardError> {
        block_on(self.forward_top_async(tokens, k))
    }
}

fn logits(out: Out) -> Result<Vec<f32>, ForwardError> {
    Ok(match out {
        Out::Logits(l) => l,
        Out::Top(t) => t.logits,
    })
}

/// Waits for a forward result: natively by blocking; in the browser only a CPU result, which
/// is ready at once (a GPU readback there must be awaited: use the `_async` methods).
pub fn block_on<T, E: From<ForwardError>>(f: impl std::future::Future<Output = Result<T, E>>) -> Result<T, E> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        pollster::block_on(f)
    }
    #[cfg(target_arch = "wasm32")]
    {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(r) => r,
            std::task::Poll::Pending => Err(ForwardError::NotReady.into()),
        }
    }
}
