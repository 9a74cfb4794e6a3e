//! `attention`: causal multi-head attention over an f32 KV cache with grouped KV heads and an
//! optional sliding window, for decode (n = 1) and prefill (the GPU twin of
//! `forward::cpu::attention::attention`).

use super::{as_u32, grid, need, GpuContext, GpuError, Kernel, Recorder};
use crate::forward::cpu::attention::AttentionShape;

pub const KERNEL: Kernel = Kernel { name: "attention", sources: &[super::FMA_EXACT, super::DIV_RN, super::EXP, super::REDUCE, include_str!("attention.wgsl")] };

/// f32 values the `scores` scratch buffer of [`encode_attention`] needs for `n` query rows at
/// `start_pos..start_pos + n`.
pub fn scores_len(n: usize, n_heads: usize, start_pos: usize) -> usize {
    n.saturating_mul(n_heads).saturating_mul(start_pos.saturating_add(n))
}

fn check_shape(s: &AttentionShape) -> Result<(), GpuError> {
    if s.head_dim == 0 || s.n_kv_heads == 0 || s.n_heads == 0 || !s.n_heads.is_multiple_of(s.n_kv_heads) {
        return Err(GpuError::Shape(format!(
            "attention: {} heads over {} KV heads of {} (heads must be a non-zero multiple of KV heads)",
            s.n_heads, s.n_kv_heads, s.head_dim
        )));
    }
    if s.window == Some(0) {
        return Err(GpuError::Shape("attention: a sliding window of 0 sees no keys".into()));
    }
    Ok(())
}

/// Records attention of `n` query rows `q` (n, n_heads*head_dim) at positions
/// `start_pos..start_pos + n` over `k_cache`/`v_cache` (≥ start_pos + n rows of
/// n_kv_heads*head_dim, already holding these tokens) into `out` (n, n_heads*head_dim).
/// `scores` is scratch of at least [`scores_len`] f32.
#[allow(clippy::too_many_arguments)]
pub fn encode_attention(
    ctx: &GpuContext,
    encoder: &mut Recorder,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    out: &wgpu::Buffer,
    scores: &wgpu::Buffer,
    n: usize,
    start_pos: usize,
    s: &AttentionShape,
) -> Result<(), GpuError> {
    check_shape(s)?;
    let positions = start_pos.saturating_add(n);
    let q_len = n.saturating_mul(s.n_heads).saturating_mul(s.head_dim);
    let kv_len = positions.saturating_mul(s.n_kv_heads).saturating_mul(s.head_dim);
    need("attention", "q", q, q_len)?;
    need("attention", "out", out, q_len)?;
    need("attention", "k_cache", k_cache, kv_len)?;
    need("attention", "v_cache", v_cache, kv_len)?;
    let s_len = scores_len(n, s.n_heads, start_pos);
    need("attention", "scores", scores, s_len)?;
    for (what, v) in [("q length", q_len), ("cache length", kv_len), ("scores length", s_len)] {
        as_u32("attention", what, v)?;
    }
    let window = match s.window {
        Some(w) => as_u32("attention", "window", w)?,
        None => 0,
    };
    let jobs = n * s.n_heads;
    let [gx, gy] = grid(ctx, jobs);
    let params = [n as u32, s.n_heads as u32, s.n_kv_heads as u32, s.head_dim as u32, start_pos as u32, s.scale.to_bits(), window, positions as u32, gx, 0];
    ctx.dispatch(encoder, &KERNEL, &[], &[q, k_cache, v_cache, out, scores], &params, [gx, gy, 1])
}

/// Uploads `q`, the caches and scratch, runs attention and reads back (n, n_heads*head_dim).
pub async fn attention_async(ctx: &GpuContext, q: &[f32], k_cache: &[f32], v_cache: &[f32], start_pos: usize, s: &AttentionShape) -> Result<Vec<f32>, GpuError> {
    check_shape(s)?;
    let q_dim = s.n_heads * s.head_dim;
    let kv_dim = s.n_kv_heads * s.head_dim;
    if !q.len().is_multiple_of(q_dim) {
        return Err(GpuError::Shape(format!("attention: {} q values are not rows of {q_dim}", q.len())));
    }
    let n = q.len() / q_dim;
    if k_cache.len() != v_cache.len() || k_cache.len() < (start_pos + n) * kv_dim {
        return Err(GpuError::Shape(format!(
            "attention: caches of {} and {} values for {} positions of {kv_dim}",
            k_cache.len(),
            v_cache.len(),
            start_pos + n
        )));
    }
    let qb = ctx.upload_f32("attention q", q)?;
    let kb = ctx.upload_f32("attention k_cache", k_cache)?;
    let vb = ctx.upload_f32("attention v_cache", v_cache)?;
    let ob = ctx.output_f32("attention out", q.len())?;
    let sb = ctx.output_f32("attention scores", scores_len(n, s.n_heads, start_pos))?;
    let mut encoder = ctx.encoder("attention");
    encode_attention(ctx, &mut encoder, &qb, &kb, &vb, &ob, &sb, n, start_pos, s)?;
    ctx.read_f32_async(Some(encoder), &ob, q.len()).await
}

/// Blocking [`attention_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn attention(ctx: &GpuContext, q: &[f32], k_cache: &[f32], v_cache: &[f32], start_pos: usize, s: &AttentionShape) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(attention_async(ctx, q, k_cache, v_cache, start_pos, s))
}
