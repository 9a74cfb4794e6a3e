//! The CPU backend: each op runs at once on host vectors (candle's quantized matmuls and our
//! Q8_0/Q5_0 kernel for the weights, plain Rust for the rest).

use std::future::Future;

use super::attention::{attention, AttentionShape};
use super::embed::embed;
use super::gelu::gelu_gate;
use super::matmul::{add_bias, matmul};
use super::q8_matmul::OutPtr;
use super::rmsnorm::rmsnorm;
use super::rope::rope;
use super::silu::silu_gate;
use crate::forward::backend::{top_k_host, Backend, RopeArgs, TopLogits};
use crate::forward::config::Activation;
use crate::forward::weights::{Loader, Matrix};
use crate::forward::ForwardError;

/// Keys and values of every processed position, per layer: (positions, kv_dim).
#[derive(Default)]
pub struct CpuBackend {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    kv_dim: usize,
}

/// An elementwise op over matching chunks of `a` and `b`, shared out over candle's barrier pool
/// (the matmuls' threads): each element is computed alone, so the split changes no result.
fn on_pool(a: &mut [f32], b: &[f32], op: fn(&mut [f32], &[f32])) {
    const CHUNK: usize = 1024;
    let len = a.len().min(b.len());
    if len <= CHUNK {
        return op(a, b);
    }
    let ptr = OutPtr(a.as_mut_ptr());
    candle_core::utils::barrier_pool().execute_chunked(len.div_ceil(CHUNK), |range| {
        let p = ptr; // the whole Send + Sync wrapper, not its raw field
        for c in range {
            let (lo, hi) = (c * CHUNK, ((c + 1) * CHUNK).min(len));
            // SAFETY: chunk c is in bounds of `a` and written by this item alone.
            op(unsafe { std::slice::from_raw_parts_mut(p.0.add(lo), hi - lo) }, &b[lo..hi]);
        }
    });
}

fn round_to_f16(x: &[f32]) -> impl Iterator<Item = f32> + '_ {
    x.iter().map(|&v| half::f16::from_f32(v).to_f32())
}

impl Backend for CpuBackend {
    type Matrix = Matrix;
    type Vector = Vec<f32>;
    type Act = Vec<f32>;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn matrix(&mut self, ld: &mut Loader<'_>, name: &str, rows: usize, cols: usize) -> Result<Matrix, ForwardError> {
        ld.matrix(name, rows, cols)
    }

    fn table(&mut self, ld: &mut Loader<'_>, name: &str, rows: usize, cols: usize, _tied: bool) -> Result<Matrix, ForwardError> {
        ld.matrix(name, rows, cols)
    }

    fn vector(&mut self, _name: &str, data: Vec<f32>) -> Result<Vec<f32>, ForwardError> {
        Ok(data)
    }

    fn share(&self, m: &Matrix) -> Matrix {
        m.clone()
    }

    fn kv_init(&mut self, layers: usize, _positions: usize, kv_dim: usize) -> Result<(), ForwardError> {
        self.k = vec![Vec::new(); layers];
        self.v = vec![Vec::new(); layers];
        self.kv_dim = kv_dim;
        Ok(())
    }

    fn kv_truncate(&mut self, len: usize) {
        for c in self.k.iter_mut().chain(self.v.iter_mut()) {
            c.truncate(len * self.kv_dim);
        }
    }

    fn act(&mut self, _name: &'static str, len: usize) -> Result<Vec<f32>, ForwardError> {
        Ok(vec![0.0; len])
    }

    fn embed(&mut self, out: &mut Vec<f32>, table: &Matrix, tokens: &[u32], scale: f32) -> Result<(), ForwardError> {
        *out = embed(table, tokens, scale)?;
        Ok(())
    }

    fn rmsnorm(&mut self, out: &mut Vec<f32>, x: &Vec<f32>, w: &Vec<f32>, eps: f32, rows: usize) -> Result<(), ForwardError> {
        let len = rows * w.len();
        rmsnorm(&mut out[..len], &x[..len], w, eps);
        Ok(())
    }

    fn matmul(&mut self, out: &mut Vec<f32>, w: &Matrix, x: &Vec<f32>, n: usize) -> Result<(), ForwardError> {
        *out = matmul(w, &x[..n * w.cols], n)?;
        Ok(())
    }

    fn add_bias(&mut self, x: &mut Vec<f32>, b: &Vec<f32>, n: usize) -> Result<(), ForwardError> {
        add_bias(&mut x[..n * b.len()], b);
        Ok(())
    }

    fn rope(&mut self, x: &mut Vec<f32>, n: usize, n_heads: usize, head_dim: usize, start: usize, r: RopeArgs<'_>) -> Result<(), ForwardError> {
        let width = n_heads * head_dim;
        for (t, row) in x[..n * width].chunks_exact_mut(width).enumerate() {
            rope(row, head_dim, start + t, r.theta, r.style, r.freq_factors);
        }
        Ok(())
    }

    fn kv_store(&mut self, layer: usize, k: &Vec<f32>, v: &Vec<f32>, start: usize, n: usize) -> Result<(), ForwardError> {
        let len = n * self.kv_dim;
        let (kc, vc) = (&mut self.k[layer], &mut self.v[layer]);
        kc.truncate(start * self.kv_dim);
        vc.truncate(start * self.kv_dim);
        kc.extend(round_to_f16(&k[..len]));
        vc.extend(round_to_f16(&v[..len]));
        Ok(())
    }

    fn attention(&mut self, out: &mut Vec<f32>, q: &Vec<f32>, layer: usize, start: usize, n: usize, shape: &AttentionShape) -> Result<(), ForwardError> {
        let q_len = n * shape.n_heads * shape.head_dim;
        *out = attention(&q[..q_len], &self.k[layer], &self.v[layer], start, shape);
        Ok(())
    }

    fn gate(&mut self, gate: &mut Vec<f32>, up: &Vec<f32>, act: Activation, len: usize) -> Result<(), ForwardError> {
        match act {
            Activation::GeluTanh => on_pool(&mut gate[..len], &up[..len], gelu_gate),
            Activation::Silu => on_pool(&mut gate[..len], &up[..len], silu_gate),
        }
        Ok(())
    }

    fn add(&mut self, x: &mut Vec<f32>, y: &Vec<f32>, len: usize) -> Result<(), ForwardError> {
        x[..len].iter_mut().zip(&y[..len]).for_each(|(a, b)| *a += b);
        Ok(())
    }

    fn rows(&mut self, out: &mut Vec<f32>, x: &Vec<f32>, offset: usize, len: usize) -> Result<(), ForwardError> {
        out.clear();
        out.extend_from_slice(&x[offset..offset + len]);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ForwardError> {
        Ok(())
    }

    fn read(&mut self, x: &Vec<f32>, len: usize) -> impl Future<Output = Result<Vec<f32>, ForwardError>> {
        std::future::ready(Ok(x[..len].to_vec()))
    }

    fn top_k(&mut self, logits: &Vec<f32>, vocab: usize, k: usize) -> impl Future<Output = Result<TopLogits, ForwardError>> {
        std::future::ready(Ok(top_k_host(&logits[..vocab], k)))
    }
}
