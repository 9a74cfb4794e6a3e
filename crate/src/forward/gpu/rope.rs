//! `rope`: rotary position embedding in place on rows of heads, row r at position
//! `start_pos + r` (the GPU twin of `forward::cpu::rope::rope` without frequency factors).

use super::{as_u32, grid, need, GpuContext, GpuError, Kernel, Recorder};
use crate::forward::config::RopeStyle;

pub const KERNEL: Kernel = Kernel { name: "rope", sources: &[include_str!("rope.wgsl")] };

/// Shape of one RoPE call: `rows` rows of `n_heads` heads of `head_dim` (even) f32.
#[derive(Debug, Clone, Copy)]
pub struct RopeShape {
    pub rows: usize,
    pub n_heads: usize,
    pub head_dim: usize,
    pub start_pos: usize,
    pub theta: f32,
    pub style: RopeStyle,
}

impl RopeShape {
    fn check(&self) -> Result<(), GpuError> {
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) || self.n_heads == 0 {
            return Err(GpuError::Shape(format!("rope: {} heads of {} (head_dim must be even and non-zero)", self.n_heads, self.head_dim)));
        }
        Ok(())
    }
}

/// The per-pair frequencies, with the same f32 expression as the CPU op so both rotate by
/// identical angles; `freq_factors` (Llama 3) divide them.
pub fn freqs(theta: f32, head_dim: usize, freq_factors: Option<&[f32]>) -> Vec<f32> {
    (0..head_dim / 2)
        .map(|i| {
            let f = theta.powf(-2.0 * i as f32 / head_dim as f32);
            match freq_factors {
                Some(ff) => f / ff[i],
                None => f,
            }
        })
        .collect()
}

/// The rotation table for positions `0..positions`: `(cos, sin)` of pair `i` at position `p`
/// at `2 * (p * head_dim / 2 + i)`, computed with the CPU op's exact f32 expressions
/// (`(p as f32 * freq).sin_cos()`), so both backends rotate by identical values. GPU sin/cos
/// are approximations (Vulkan allows 2^-11 absolute error); a host table costs
/// `positions * head_dim * 4` bytes per RoPE base and is built once.
pub fn table(theta: f32, head_dim: usize, freq_factors: Option<&[f32]>, positions: usize) -> Vec<f32> {
    let f = freqs(theta, head_dim, freq_factors);
    let mut t = Vec::with_capacity(positions * head_dim);
    for p in 0..positions {
        for &freq in &f {
            let (sin, cos) = (p as f32 * freq).sin_cos();
            t.push(cos);
            t.push(sin);
        }
    }
    t
}

/// Records RoPE over the first `rows * n_heads * head_dim` f32 of `x`, in place.
pub fn encode_rope(ctx: &GpuContext, encoder: &mut Recorder, x: &wgpu::Buffer, s: &RopeShape) -> Result<(), GpuError> {
    let tb = ctx.upload_f32("rope table", &table(s.theta, s.head_dim, None, s.start_pos + s.rows))?;
    encode_rope_table(ctx, encoder, x, &tb, s)
}

/// [`encode_rope`] with the rotation table (see [`table`], at least `start_pos + rows`
/// positions) already on the GPU; `s.theta` is not used.
pub fn encode_rope_table(ctx: &GpuContext, encoder: &mut Recorder, x: &wgpu::Buffer, table: &wgpu::Buffer, s: &RopeShape) -> Result<(), GpuError> {
    s.check()?;
    let len = s.rows.saturating_mul(s.n_heads).saturating_mul(s.head_dim);
    need("rope", "x", x, len)?;
    need("rope", "table", table, s.start_pos.saturating_add(s.rows).saturating_mul(s.head_dim))?;
    as_u32("rope", "rows * n_heads * head_dim", len)?;
    as_u32("rope", "start_pos + rows", s.start_pos.saturating_add(s.rows))?;
    let pairs = len / 2;
    let [gx, gy] = grid(ctx, pairs.div_ceil(64));
    let neox = u32::from(matches!(s.style, RopeStyle::Neox));
    ctx.dispatch(encoder, &KERNEL, &[], &[x, table], &[s.rows as u32, s.n_heads as u32, s.head_dim as u32, s.start_pos as u32, neox, gx, 0], [gx, gy, 1])
}

/// Uploads `x` (`s.rows` rows of heads), applies RoPE and reads it back.
pub async fn rope_async(ctx: &GpuContext, x: &[f32], s: &RopeShape) -> Result<Vec<f32>, GpuError> {
    s.check()?;
    if x.len() != s.rows * s.n_heads * s.head_dim {
        return Err(GpuError::Shape(format!("rope: {} values are not {} rows of {} heads of {}", x.len(), s.rows, s.n_heads, s.head_dim)));
    }
    let xb = super::upload_rw(ctx, "rope x", x)?;
    let mut encoder = ctx.encoder("rope");
    encode_rope(ctx, &mut encoder, &xb, s)?;
    ctx.read_f32_async(Some(encoder), &xb, x.len()).await
}

/// Blocking [`rope_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn rope(ctx: &GpuContext, x: &[f32], s: &RopeShape) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(rope_async(ctx, x, s))
}
