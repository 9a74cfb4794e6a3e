//! `embed`: token embedding rows from a Q8_0 matrix, dequantized then multiplied by `scale`
//! (the GPU twin of `forward::cpu::embed::embed` for Q8_0 tables).

use super::{as_u32, grid, need, GpuContext, GpuError, GpuMatrix, Kernel, QuantFormat, PRELUDE, Recorder};

pub const KERNEL: Kernel = Kernel { name: "embed", sources: &[PRELUDE, include_str!("embed.wgsl")] };

/// Records the rows of `table` (Q8_0, (vocab, dim)) for the `n` u32 token ids in `ids` into
/// `out` (n, dim), each multiplied by `scale`. Ids are not checked on the GPU (the row of an id
/// past the table is left unwritten); [`embed_async`] checks them.
pub fn encode_embed(ctx: &GpuContext, encoder: &mut Recorder, table: &GpuMatrix, ids: &wgpu::Buffer, out: &wgpu::Buffer, n: usize, scale: f32) -> Result<(), GpuError> {
    if table.format != QuantFormat::Q8_0 {
        return Err(GpuError::Shape(format!("embed: a {:?} table (only Q8_0 is supported)", table.format)));
    }
    let len = n.saturating_mul(table.cols);
    need("embed", "ids", ids, n)?;
    need("embed", "out", out, len)?;
    as_u32("embed", "n * dim", len)?;
    as_u32("embed", "vocab", table.rows)?;
    let [gx, gy] = grid(ctx, len.div_ceil(64));
    for part in &table.parts {
        ctx.dispatch(encoder, &KERNEL, &[], &[&part.buffer, ids, out], &[n as u32, table.cols as u32, part.rows as u32, scale.to_bits(), gx, part.row_start as u32], [gx, gy, 1])?;
    }
    Ok(())
}

/// Looks up `ids` in `table` and reads back (ids.len(), dim). An id past the table is a
/// `GpuError::Shape`.
pub async fn embed_async(ctx: &GpuContext, table: &GpuMatrix, ids: &[u32], scale: f32) -> Result<Vec<f32>, GpuError> {
    if let Some(&id) = ids.iter().find(|&&id| id as usize >= table.rows) {
        return Err(GpuError::Shape(format!("embed: token {id} is past the {}-row table", table.rows)));
    }
    let bytes: Vec<u8> = ids.iter().flat_map(|v| v.to_le_bytes()).collect();
    let ib = ctx.upload_bytes("embed ids", &bytes)?;
    let len = ids.len() * table.cols;
    let ob = ctx.output_f32("embed out", len)?;
    let mut encoder = ctx.encoder("embed");
    encode_embed(ctx, &mut encoder, table, &ib, &ob, ids.len(), scale)?;
    ctx.read_f32_async(Some(encoder), &ob, len).await
}

/// Blocking [`embed_async`] (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn embed(ctx: &GpuContext, table: &GpuMatrix, ids: &[u32], scale: f32) -> Result<Vec<f32>, GpuError> {
    pollster::block_on(embed_async(ctx, table, ids, scale))
}
