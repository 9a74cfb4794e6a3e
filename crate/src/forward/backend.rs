//! The ops a forward pass is made of. `model.rs` writes the pass once against this trait; the
//! CPU backend (`cpu/backend.rs`) runs each op at once on host memory, the GPU backend
//! (`gpu/backend.rs`) records each op into the step's command encoder and only waits at a
//! readback.
//!
//! Activations are row-major f32 buffers of `rows * width`. The KV cache belongs to the backend
//! (host vectors, or GPU buffers sized for the whole context at load).

use std::future::Future;

use super::config::{Activation, RopeStyle};
use super::cpu::attention::AttentionShape;
use super::weights::Loader;
use super::ForwardError;

/// The largest logits of one position, and what the router needs about the rest:
/// `log_z = logsumexp(logits)` and the entropy of softmax(logits), both over the whole vocab.
#[derive(Debug, Clone, PartialEq)]
pub struct TopLogits {
    /// Token ids, best first (lower id first among equal logits, as `sample::argmax`).
    pub ids: Vec<u32>,
    /// Their logits.
    pub logits: Vec<f32>,
    pub log_z: f32,
    pub entropy: f32,
}

/// RoPE of one layer: base and pairing; `freq_factors` (Llama 3) divide the frequencies.
#[derive(Clone, Copy)]
pub struct RopeArgs<'a> {
    pub theta: f32,
    pub style: RopeStyle,
    pub freq_factors: Option<&'a [f32]>,
}

pub trait Backend {
    /// A weight matrix (rows = out features, cols = in features).
    type Matrix;
    /// A small f32 vector: norm weights, biases.
    type Vector;
    /// An activation buffer.
    type Act;

    /// "cpu" or "gpu".
    fn name(&self) -> &'static str;

    // ---- loading ----
    /// The (rows, cols) matrix `name`, read tensor by tensor through `ld`.
    fn matrix(&mut self, ld: &mut Loader<'_>, name: &str, rows: usize, cols: usize) -> Result<Self::Matrix, ForwardError>;
    /// The token embedding table (vocab, dim); `tied` when it is also the output head.
    fn table(&mut self, ld: &mut Loader<'_>, name: &str, rows: usize, cols: usize, tied: bool) -> Result<Self::Matrix, ForwardError>;
    fn vector(&mut self, name: &str, data: Vec<f32>) -> Result<Self::Vector, ForwardError>;
    /// Another handle to the same matrix (a tied output head).
    fn share(&self, m: &Self::Matrix) -> Self::Matrix;
    /// Size the KV cache: `layers` layers of `positions` × `kv_dim`.
    fn kv_init(&mut self, layers: usize, positions: usize, kv_dim: usize) -> Result<(), ForwardError>;
    /// Forget cached positions from `len` on.
    fn kv_truncate(&mut self, len: usize);

    // ---- per-chunk buffers ----
    /// A buffer of at least `len` f32 for activation `name` (reused across steps where it can be).
    fn act(&mut self, name: &'static str, len: usize) -> Result<Self::Act, ForwardError>;

    // ---- ops ----
    /// `out` (n, cols) = rows `tokens` of `table`, times `scale`.
    fn embed(&mut self, out: &mut Self::Act, table: &Self::Matrix, tokens: &[u32], scale: f32) -> Result<(), ForwardError>;
    /// `out` = RMSNorm of each `w`-long row of `x` (`rows` rows).
    fn rmsnorm(&mut self, out: &mut Self::Act, x: &Self::Act, w: &Self::Vector, eps: f32, rows: usize) -> Result<(), ForwardError>;
    /// `out` (n, w.rows) = `x` (n, w.cols) · wᵀ.
    fn matmul(&mut self, out: &mut Self::Act, w: &Self::Matrix, x: &Self::Act, n: usize) -> Result<(), ForwardError>;
    /// Add `b` to each of the `n` rows of `x`.
    fn add_bias(&mut self, x: &mut Self::Act, b: &Self::Vector, n: usize) -> Result<(), ForwardError>;
    /// Rotate `n` rows of `n_heads` heads, row t at position `start + t`.
    fn rope(&mut self, x: &mut Self::Act, n: usize, n_heads: usize, head_dim: usize, start: usize, r: RopeArgs<'_>) -> Result<(), ForwardError>;
    /// Store `n` rows of keys and values at positions `start..` of layer `layer`'s cache, rounded
    /// to f16 precision (llama.cpp's default f16 cache; see ARCHITECTURE.md).
    fn kv_store(&mut self, layer: usize, k: &Self::Act, v: &Self::Act, start: usize, n: usize) -> Result<(), ForwardError>;
    /// `out` (n, q_dim) = causal attention of `q` (positions `start..start+n`) over layer `layer`'s cache.
    fn attention(&mut self, out: &mut Self::Act, q: &Self::Act, layer: usize, start: usize, n: usize, shape: &AttentionShape) -> Result<(), ForwardError>;
    /// `gate` = act(gate) * up over the first `len` values.
    fn gate(&mut self, gate: &mut Self::Act, up: &Self::Act, act: Activation, len: usize) -> Result<(), ForwardError>;
    /// `x` += `y` over the first `len` values (the residual).
    fn add(&mut self, x: &mut Self::Act, y: &Self::Act, len: usize) -> Result<(), ForwardError>;
    /// `out[..len]` = `x[offset..offset + len]`.
    fn rows(&mut self, out: &mut Self::Act, x: &Self::Act, offset: usize, len: usize) -> Result<(), ForwardError>;
    /// Start the ops recorded so far (the GPU submits its command encoder; the CPU has run them).
    fn flush(&mut self) -> Result<(), ForwardError>;

    // ---- results ----
    /// The first `len` values of `x`.
    fn read(&mut self, x: &Self::Act, len: usize) -> impl Future<Output = Result<Vec<f32>, ForwardError>>;
    /// The `k` largest of the first `vocab` values of `logits`, with log_z and entropy.
    fn top_k(&mut self, logits: &Self::Act, vocab: usize, k: usize) -> impl Future<Output = Result<TopLogits, ForwardError>>;
}

/// Host version of [`Backend::top_k`] (the CPU backend's, and the GPU tests' reference). NaN
/// logits count as -inf.
pub fn top_k_host(logits: &[f32], k: usize) -> TopLogits {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut z, mut zx) = (0.0f64, 0.0f64);
    for &l in logits.iter().filter(|l| !l.is_nan()) {
        let e = ((l - max) as f64).exp();
        z += e;
        zx += e * (l - max) as f64;
    }
    let log_z = max + z.ln() as f32;
    // H = -Σ p (l - log_z) = log_z - Σ p l = ln z - Σ e (l - max) / z
    let entropy = (z.ln() - zx / z) as f32;
    let k = k.min(logits.len());
    let mut idx: Vec<u32> = (0..logits.len() as u32).collect();
    let key = |&i: &u32| (std::cmp::Reverse(OrdF32(logits[i as usize])), i);
    if k < idx.len() {
        idx.select_nth_unstable_by_key(k, key);
        idx.truncate(k);
    }
    idx.sort_unstable_by_key(key);
    let vals = idx.iter().map(|&i| logits[i as usize]).collect();
    TopLogits { ids: idx, logits: vals, log_z, entropy }
}

/// Total order on f32 for sorting logits (NaN sorts lowest).
struct OrdF32(f32);
impl PartialEq for OrdF32 {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o).is_eq()
    }
}
impl Eq for OrdF32 {}
impl PartialOrd for OrdF32 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for OrdF32 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        let key = |v: f32| if v.is_nan() { f32::NEG_INFINITY } else { v };
        key(self.0).total_cmp(&key(o.0))
    }
}
