//! `top_k`: the k largest logits with their ids, plus logsumexp and entropy over the whole
//! vocabulary, computed on the GPU so a decode step reads back 2k + 2 words instead of the
//! vocabulary's logits (1 MiB for Gemma 3). Two kernels: `top_k` (per chunk of the vocabulary)
//! then `top_k_merge` (one workgroup). Ties go to the lower id, as `sample::argmax`.

use super::{as_u32, need, GpuContext, GpuError, Kernel, Recorder};
use crate::forward::backend::TopLogits;

pub const KERNEL: Kernel = Kernel { name: "top_k", sources: &[include_str!("top_k.wgsl")] };

/// Largest k the kernels take.
pub const MAX_K: usize = 64;
const TK: usize = 256;
/// Items per invocation are tracked in one u32 bitmask.
const MAX_ITEMS: usize = 32;

/// How the vocabulary is cut into chunks: (chunk, groups).
fn plan(vocab: usize, k: usize) -> Result<(usize, usize), GpuError> {
    if k == 0 || k > MAX_K || vocab == 0 {
        return Err(GpuError::Shape(format!("top_k: k = {k} of {vocab} logits (1 ≤ k ≤ {MAX_K})")));
    }
    // At most TK * MAX_ITEMS candidates for the merge, and as many groups as that allows.
    let max_groups = (TK * MAX_ITEMS / k).min(TK);
    let chunk = vocab.div_ceil(max_groups).div_ceil(TK) * TK;
    if chunk > TK * MAX_ITEMS {
        return Err(GpuError::Shape(format!("top_k: a vocabulary of {vocab} is more than {} logits", TK * MAX_ITEMS * max_groups)));
    }
    Ok((chunk, vocab.div_ceil(chunk)))
}

/// Words of scratch the op needs for `vocab` logits and `k`.
pub fn scratch_len(vocab: usize, k: usize) -> Result<usize, GpuError> {
    let (_, groups) = plan(vocab, k)?;
    Ok(groups * (2 * k + 3))
}

/// Records the op over the first `vocab` f32 of `logits`; `out` receives 2k + 2 words
/// (see [`decode`]), `scratch` holds [`scratch_len`] words.
pub fn encode_top_k(ctx: &GpuContext, encoder: &mut Recorder, logits: &wgpu::Buffer, scratch: &wgpu::Buffer, out: &wgpu::Buffer, vocab: usize, k: usize) -> Result<(), GpuError> {
    let (chunk, groups) = plan(vocab, k)?;
    need("top_k", "logits", logits, vocab)?;
    need("top_k", "scratch", scratch, groups * (2 * k + 3))?;
    need("top_k", "out", out, 2 * k + 2)?;
    let v = as_u32("top_k", "vocab", vocab)?;
    ctx.dispatch(encoder, &KERNEL, &[], &[logits, scratch], &[v, k as u32, chunk as u32, groups as u32], [groups as u32, 1, 1])?;
    ctx.dispatch(encoder, &super::top_k_merge::KERNEL, &[], &[scratch, out], &[k as u32, groups as u32], [1, 1, 1])
}

/// The op's output words (read back as f32) as [`TopLogits`]; ids past the vocabulary (fewer
/// than k logits) are dropped.
pub fn decode(words: &[f32], k: usize, vocab: usize) -> TopLogits {
    let bits: Vec<u32> = words.iter().map(|w| w.to_bits()).collect();
    let (mut ids, mut logits) = (Vec::with_capacity(k), Vec::with_capacity(k));
    for r in 0..k.min(bits.len() / 2) {
        if (bits[r] as usize) < vocab {
            ids.push(bits[r]);
            logits.push(f32::from_bits(bits[k + r]));
        }
    }
    let stat = |i: usize| bits.get(i).map_or(f32::NAN, |&b| f32::from_bits(b));
    TopLogits { ids, logits, log_z: stat(2 * k), entropy: stat(2 * k + 1) }
}

/// Uploads `logits`, runs the op and reads the result.
pub async fn top_k_async(ctx: &GpuContext, logits: &[f32], k: usize) -> Result<TopLogits, GpuError> {
    let lb = ctx.upload_f32("top_k logits", logits)?;
    let sb = ctx.output_f32("top_k scratch", scratch_len(logits.len(), k)?)?;
    let ob = ctx.output_f32("top_k out", 2 * k + 2)?;
    let mut encoder = ctx.encoder("top_k");
    encode_top_k(ctx, &mut encoder, &lb, &sb, &ob, logits.len(), k)?;
    let words = ctx.read_f32_async(Some(encoder), &ob, 2 * k + 2).await?;
    Ok(decode(&words, k, logits.len()))
}

/// Blocking [`top_k_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn top_k(ctx: &GpuContext, logits: &[f32], k: usize) -> Result<TopLogits, GpuError> {
    pollster::block_on(top_k_async(ctx, logits, k))
}
