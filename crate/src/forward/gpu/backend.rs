//! The GPU backend: each op of the forward pass is recorded into one command encoder, which is
//! submitted once per prompt chunk or decode step (at the readback). Activation buffers are
//! allocated on first use and reused by name; the KV cache is allocated for the whole context
//! at load; pipelines are compiled once (`GpuContext::pipeline`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use super::add::encode_add;
use super::add_bias::encode_add_bias;
use super::attention::{encode_attention, scores_len};
use super::embed::encode_embed;
use super::gelu_gate::encode_gelu_gate;
use super::kv_store::encode_kv_store;
use super::matvec::{encode_activations, encode_matvec};
use super::rmsnorm::encode_rmsnorm;
use super::rope::{encode_rope_table, table, RopeShape};
use super::silu_gate::encode_silu_gate;
use super::top_k::{decode, encode_top_k, scratch_len};
use super::{GpuContext, GpuError, GpuMatrix, QuantFormat, Recorder};
use crate::forward::backend::{Backend, RopeArgs, TopLogits};
use crate::forward::config::Activation;
use crate::forward::cpu::attention::AttentionShape;
use crate::forward::cpu::embed::embed as embed_host;
use crate::forward::weights::{Loader, Matrix};
use crate::forward::ForwardError;

/// A weight matrix for the GPU backend: on the device, and, for an embedding table the GPU
/// cannot look up (any format but Q8_0), on the host too (the lookup reads a few rows per step).
#[derive(Clone)]
pub struct GpuWeight {
    pub device: Option<Arc<GpuMatrix>>,
    pub host: Option<Matrix>,
}

/// A small f32 vector on the device.
#[derive(Clone)]
pub struct GpuVector {
    pub buffer: wgpu::Buffer,
    pub len: usize,
}

pub struct GpuBackend {
    ctx: Arc<GpuContext>,
    encoder: Option<Recorder>,
    acts: HashMap<&'static str, wgpu::Buffer>,
    k_cache: Vec<wgpu::Buffer>, // n_layers × (positions, kv_dim)
    v_cache: Vec<wgpu::Buffer>, // n_layers × (positions, kv_dim)
    kv_dim: usize,
    /// Positions the KV cache holds.
    positions: usize,
    /// RoPE rotation tables (cos, sin for every cached position) by (theta bits, head_dim).
    rope_tables: HashMap<(u32, usize), wgpu::Buffer>,
    ids: Option<wgpu::Buffer>,
    /// The last activations quantized for a matmul (x, its quantized copy, values), while no
    /// other op has been recorded since: the Q, K and V projections (and gate and up) share
    /// one input, quantized once.
    quantized: Option<(wgpu::Buffer, wgpu::Buffer, usize)>,
}

impl GpuBackend {
    pub fn new(ctx: Arc<GpuContext>) -> Self {
        Self { ctx, encoder: None, acts: HashMap::new(), k_cache: Vec::new(), v_cache: Vec::new(), kv_dim: 0, positions: 0, rope_tables: HashMap::new(), ids: None, quantized: None }
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    /// The step's command encoder; `GpuError::DeviceLost` once the device is gone (wgpu would
    /// otherwise fail in places that panic). Recording any op but a matmul may overwrite what
    /// the last matmul quantized, so it forgets that.
    fn enc(&mut self) -> Result<&mut Recorder, GpuError> {
        self.quantized = None;
        self.matmul_enc()
    }

    fn matmul_enc(&mut self) -> Result<&mut Recorder, GpuError> {
        self.ctx.check_lost()?;
        let ctx = &self.ctx;
        Ok(self.encoder.get_or_insert_with(|| ctx.encoder("forward")))
    }

    fn upload_matrix(&mut self, ld: &mut Loader<'_>, name: &str, rows: usize, cols: usize) -> Result<GpuMatrix, ForwardError> {
        let info = ld.info(name, &[cols, rows])?;
        let format = QuantFormat::of(info.dtype).ok_or_else(|| ForwardError::UnsupportedDType { name: name.to_string(), dtype: info.dtype.name() })?;
        let at = ld.g.data_offset + info.offset;
        let src = &mut *ld.src;
        let limit = self.ctx.max_storage_binding();
        let mut read = |off: usize, buf: &mut [u8]| src.read_at(at + off as u64, buf).map_err(|e| GpuError::Readback(format!("{name}: {e}")));
        Ok(GpuMatrix::upload_with(&self.ctx, name, format, rows, cols, limit, &mut read)?)
    }

    fn device(&self, w: &GpuWeight, what: &str) -> Result<Arc<GpuMatrix>, ForwardError> {
        w.device.clone().ok_or_else(|| GpuError::Shape(format!("{what}: the matrix is not on the GPU")).into())
    }
}

impl Backend for GpuBackend {
    type Matrix = GpuWeight;
    type Vector = GpuVector;
    type Act = wgpu::Buffer;

    fn name(&self) -> &'static str {
        "gpu"
    }

    fn matrix(&mut self, ld: &mut Loader<'_>, name: &str, rows: usize, cols: usize) -> Result<GpuWeight, ForwardError> {
        Ok(GpuWeight { device: Some(Arc::new(self.upload_matrix(ld, name, rows, cols)?)), host: None })
    }

    fn table(&mut self, ld: &mut Loader<'_>, name: &str, rows: usize, cols: usize, tied: bool) -> Result<GpuWeight, ForwardError> {
        let info = ld.info(name, &[cols, rows])?;
        if QuantFormat::of(info.dtype) == Some(QuantFormat::Q8_0) {
            return self.matrix(ld, name, rows, cols);
        }
        let host = Some(ld.matrix(name, rows, cols)?);
        let device = if tied { Some(Arc::new(self.upload_matrix(ld, name, rows, cols)?)) } else { None };
        Ok(GpuWeight { device, host })
    }

    fn vector(&mut self, name: &str, data: Vec<f32>) -> Result<GpuVector, ForwardError> {
        Ok(GpuVector { buffer: self.ctx.upload_f32(name, &data)?, len: data.len() })
    }

    fn share(&self, m: &GpuWeight) -> GpuWeight {
        m.clone()
    }

    fn kv_init(&mut self, layers: usize, positions: usize, kv_dim: usize) -> Result<(), ForwardError> {
        self.kv_dim = kv_dim;
        self.positions = positions;
        let len = positions * kv_dim;
        for l in 0..layers {
            self.k_cache.push(self.ctx.output_f32(&format!("k_cache {l}"), len)?);
            self.v_cache.push(self.ctx.output_f32(&format!("v_cache {l}"), len)?);
        }
        Ok(())
    }

    fn kv_truncate(&mut self, _len: usize) {
        // Positions past the model's length are overwritten before attention reads them.
    }

    fn act(&mut self, name: &'static str, len: usize) -> Result<wgpu::Buffer, ForwardError> {
        let bytes = (len.max(1) * 4) as u64;
        if let Some(b) = self.acts.get(name) {
            if b.size() >= bytes {
                return Ok(b.clone());
            }
        }
        let b = self.ctx.output_f32(name, len)?;
        self.acts.insert(name, b.clone());
        Ok(b)
    }

    fn embed(&mut self, out: &mut wgpu::Buffer, table: &GpuWeight, tokens: &[u32], scale: f32) -> Result<(), ForwardError> {
        // Queue writes land before the next submission: submit what is recorded first.
        self.flush()?;
        if let Some(host) = &table.host {
            let rows = embed_host(host, tokens, scale)?;
            let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
            self.ctx.queue.write_buffer(out, 0, &bytes);
            return Ok(());
        }
        let t = self.device(table, "embed")?;
        let ids = match &self.ids {
            Some(b) if b.size() >= (tokens.len() * 4) as u64 => b.clone(),
            _ => {
                let b = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("ids"),
                    size: (tokens.len().max(super::super::model::PREFILL_CHUNK) * 4) as u64,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                self.ids = Some(b.clone());
                b
            }
        };
        let bytes: Vec<u8> = tokens.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.ctx.queue.write_buffer(&ids, 0, &bytes);
        let ctx = self.ctx.clone();
        Ok(encode_embed(&ctx, self.enc()?, &t, &ids, out, tokens.len(), scale)?)
    }

    fn rmsnorm(&mut self, out: &mut wgpu::Buffer, x: &wgpu::Buffer, w: &GpuVector, eps: f32, rows: usize) -> Result<(), ForwardError> {
        let ctx = self.ctx.clone();
        Ok(encode_rmsnorm(&ctx, self.enc()?, x, &w.buffer, out, rows, w.len, eps)?)
    }

    fn matmul(&mut self, out: &mut wgpu::Buffer, w: &GpuWeight, x: &wgpu::Buffer, n: usize) -> Result<(), ForwardError> {
        let m = self.device(w, "matmul")?;
        let ctx = self.ctx.clone();
        // Quantize the activations as ggml's quantized dot products do (as the CPU backend
        // does); the kernel then computes the CPU's integer dot products in its order.
        let len = n * m.cols;
        let name = match m.format {
            QuantFormat::Q4K | QuantFormat::Q6K => "x_q8_k",
            QuantFormat::Q4_1 => "x_q8_1",
            _ => "x_q8_0",
        };
        let xq = self.act(name, m.format.activation_len(len))?;
        let reuse = matches!(&self.quantized, Some((qx, qxq, qlen)) if qx == x && *qxq == xq && *qlen == len);
        let quantized = if reuse {
            true
        } else {
            let q = encode_activations(&ctx, self.matmul_enc()?, m.format, x, &xq, len)?;
            self.quantized = q.then(|| (x.clone(), xq.clone(), len));
            q
        };
        Ok(encode_matvec(&ctx, self.matmul_enc()?, &m, if quantized { &xq } else { x }, out, n)?)
    }

    fn add_bias(&mut self, x: &mut wgpu::Buffer, b: &GpuVector, n: usize) -> Result<(), ForwardError> {
        let ctx = self.ctx.clone();
        Ok(encode_add_bias(&ctx, self.enc()?, x, &b.buffer, n, b.len)?)
    }

    fn rope(&mut self, x: &mut wgpu::Buffer, n: usize, n_heads: usize, head_dim: usize, start: usize, r: RopeArgs<'_>) -> Result<(), ForwardError> {
        let key = (r.theta.to_bits(), head_dim);
        let positions = self.positions.max(start + n);
        let tb = match self.rope_tables.get(&key) {
            Some(b) if b.size() >= (positions * head_dim * 4) as u64 => b.clone(),
            _ => {
                let b = self.ctx.upload_f32("rope table", &table(r.theta, head_dim, r.freq_factors, positions))?;
                self.rope_tables.insert(key, b.clone());
                b
            }
        };
        let s = RopeShape { rows: n, n_heads, head_dim, start_pos: start, theta: r.theta, style: r.style };
        let ctx = self.ctx.clone();
        Ok(encode_rope_table(&ctx, self.enc()?, x, &tb, &s)?)
    }

    fn kv_store(&mut self, layer: usize, k: &wgpu::Buffer, v: &wgpu::Buffer, start: usize, n: usize) -> Result<(), ForwardError> {
        let (kc, vc) = (self.k_cache[layer].clone(), self.v_cache[layer].clone());
        let (ctx, kv_dim) = (self.ctx.clone(), self.kv_dim);
        Ok(encode_kv_store(&ctx, self.enc()?, k, v, &kc, &vc, start, n, kv_dim)?)
    }

    fn attention(&mut self, out: &mut wgpu::Buffer, q: &wgpu::Buffer, layer: usize, start: usize, n: usize, shape: &AttentionShape) -> Result<(), ForwardError> {
        let scores = self.act("scores", scores_len(n, shape.n_heads, start))?;
        let (kc, vc) = (self.k_cache[layer].clone(), self.v_cache[layer].clone());
        let ctx = self.ctx.clone();
        Ok(encode_attention(&ctx, self.enc()?, q, &kc, &vc, out, &scores, n, start, shape)?)
    }

    fn gate(&mut self, gate: &mut wgpu::Buffer, up: &wgpu::Buffer, act: Activation, len: usize) -> Result<(), ForwardError> {
        let ctx = self.ctx.clone();
        Ok(match act {
            Activation::GeluTanh => encode_gelu_gate(&ctx, self.enc()?, gate, up, len)?,
            Activation::Silu => encode_silu_gate(&ctx, self.enc()?, gate, up, len)?,
        })
    }

    fn add(&mut self, x: &mut wgpu::Buffer, y: &wgpu::Buffer, len: usize) -> Result<(), ForwardError> {
        let ctx = self.ctx.clone();
        Ok(encode_add(&ctx, self.enc()?, x, y, len)?)
    }

    fn rows(&mut self, out: &mut wgpu::Buffer, x: &wgpu::Buffer, offset: usize, len: usize) -> Result<(), ForwardError> {
        if ((offset + len) * 4) as u64 > x.size() || (len * 4) as u64 > out.size() {
            return Err(GpuError::Shape(format!("rows: {len} values from {offset} of a {}-byte buffer into {} bytes", x.size(), out.size())).into());
        }
        self.enc()?.copy_buffer_to_buffer(x, (offset * 4) as u64, out, 0, (len * 4) as u64);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ForwardError> {
        self.quantized = None;
        self.ctx.check_lost()?;
        if let Some(enc) = self.encoder.take() {
            self.ctx.submit(enc);
        }
        Ok(())
    }

    fn read(&mut self, x: &wgpu::Buffer, len: usize) -> impl Future<Output = Result<Vec<f32>, ForwardError>> {
        self.quantized = None;
        let (ctx, enc, x) = (self.ctx.clone(), self.encoder.take(), x.clone());
        async move { Ok(ctx.read_f32_async(enc, &x, len).await?) }
    }

    fn top_k(&mut self, logits: &wgpu::Buffer, vocab: usize, k: usize) -> impl Future<Output = Result<TopLogits, ForwardError>> {
        let prepared = (|| -> Result<_, ForwardError> {
            let scratch = self.act("top_k scratch", scratch_len(vocab, k)?)?;
            let out = self.act("top_k out", 2 * k + 2)?;
            let ctx = self.ctx.clone();
            encode_top_k(&ctx, self.enc()?, logits, &scratch, &out, vocab, k)?;
            Ok((ctx, self.encoder.take(), out))
        })();
        async move {
            let (ctx, enc, out) = prepared?;
            let words = ctx.read_f32_async(enc, &out, 2 * k + 2).await?;
            Ok(decode(&words, k, vocab))
        }
    }
}
