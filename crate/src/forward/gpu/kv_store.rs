//! `kv_store`: write n rows of keys and values into a layer's KV cache at a position, rounded
//! to f16 precision (the GPU twin of the CPU backend's `kv_store`).

use super::{as_u32, grid, need, upload_rw, GpuContext, GpuError, Kernel, Recorder};

pub const KERNEL: Kernel = Kernel { name: "kv_store", sources: &[super::F16, include_str!("kv_store.wgsl")] };

/// Records the store of `n` rows of `kv_dim` from `k`, `v` at position `start` of the caches.
#[allow(clippy::too_many_arguments)]
pub fn encode_kv_store(
    ctx: &GpuContext,
    encoder: &mut Recorder,
    k: &wgpu::Buffer,
    v: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    start: usize,
    n: usize,
    kv_dim: usize,
) -> Result<(), GpuError> {
    let len = n.saturating_mul(kv_dim);
    let end = start.saturating_add(n).saturating_mul(kv_dim);
    need("kv_store", "k", k, len)?;
    need("kv_store", "v", v, len)?;
    need("kv_store", "k_cache", k_cache, end)?;
    need("kv_store", "v_cache", v_cache, end)?;
    let l = as_u32("kv_store", "n * kv_dim", len)?;
    as_u32("kv_store", "cache end", end)?;
    let [gx, gy] = grid(ctx, len.div_ceil(64));
    ctx.dispatch(encoder, &KERNEL, &[], &[k, v, k_cache, v_cache], &[l, (start * kv_dim) as u32, gx], [gx, gy, 1])
}

/// Stores `k`, `v` (rows of `kv_dim`) at `start` of caches holding `cache_k`, `cache_v` and
/// reads both caches back.
pub async fn kv_store_async(ctx: &GpuContext, k: &[f32], v: &[f32], cache_k: &[f32], cache_v: &[f32], start: usize, kv_dim: usize) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
    if kv_dim == 0 || k.len() != v.len() || !k.len().is_multiple_of(kv_dim) || cache_k.len() != cache_v.len() {
        return Err(GpuError::Shape(format!("kv_store: k {}, v {}, caches {} / {} values, kv_dim {kv_dim}", k.len(), v.len(), cache_k.len(), cache_v.len())));
    }
    let kb = ctx.upload_f32("kv_store k", k)?;
    let vb = ctx.upload_f32("kv_store v", v)?;
    let kc = upload_rw(ctx, "kv_store k_cache", cache_k)?;
    let vc = upload_rw(ctx, "kv_store v_cache", cache_v)?;
    let mut encoder = ctx.encoder("kv_store");
    encode_kv_store(ctx, &mut encoder, &kb, &vb, &kc, &vc, start, k.len() / kv_dim, kv_dim)?;
    ctx.submit(encoder);
    let kr = ctx.read_f32_async(None, &kc, cache_k.len()).await?;
    let vr = ctx.read_f32_async(None, &vc, cache_v.len()).await?;
    Ok((kr, vr))
}

/// Blocking [`kv_store_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn kv_store(ctx: &GpuContext, k: &[f32], v: &[f32], cache_k: &[f32], cache_v: &[f32], start: usize, kv_dim: usize) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
    pollster::block_on(kv_store_async(ctx, k, v, cache_k, cache_v, start, kv_dim))
}
