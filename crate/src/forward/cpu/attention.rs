//! Causal multi-head attention over the KV cache, with grouped KV heads and an optional
//! sliding window (a query at position p sees keys at positions j with p - j < window).

use super::q8_matmul::OutPtr;
use super::softmax::softmax;

/// Shapes of one attention call.
pub struct AttentionShape {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub scale: f32,
    pub window: Option<usize>,
}

/// Dot product with 8 independent accumulators so the compiler can vectorize it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `q`: (n_tokens, n_heads*head_dim) for positions start_pos..start_pos+n_tokens.
/// `k_cache`, `v_cache`: (start_pos+n_tokens, n_kv_heads*head_dim), already holding these tokens.
/// Returns (n_tokens, n_heads*head_dim). The (token, head) pairs are shared out over candle's
/// barrier pool (the matmuls' threads); each is computed whole by one thread, so the result
/// does not depend on the thread count.
pub fn attention(q: &[f32], k_cache: &[f32], v_cache: &[f32], start_pos: usize, s: &AttentionShape) -> Vec<f32> {
    let q_dim = s.n_heads * s.head_dim;
    let n_tokens = q.len() / q_dim;
    let mut out = vec![0.0f32; n_tokens * q_dim];
    let ptr = OutPtr(out.as_mut_ptr());
    candle_core::utils::barrier_pool().execute_chunked(n_tokens * s.n_heads, |range| {
        let out = ptr; // the whole Send + Sync wrapper, not its raw field
        let mut scores = Vec::new();
        for item in range {
            let (t, h) = (item / s.n_heads, item % s.n_heads);
            // SAFETY: t < n_tokens and h < n_heads, so the slice lies inside `out`, and only
            // this item writes it.
            let oh = unsafe { std::slice::from_raw_parts_mut(out.0.add(t * q_dim + h * s.head_dim), s.head_dim) };
            head(&q[t * q_dim + h * s.head_dim..][..s.head_dim], k_cache, v_cache, start_pos + t, h, s, &mut scores, oh);
        }
    });
    out
}

/// One head of the query at position `p` (`qh`) attending to the cached keys it may see; the
/// weighted values are added into `oh` (zeros on entry).
#[allow(clippy::too_many_arguments)]
fn head(qh: &[f32], k_cache: &[f32], v_cache: &[f32], p: usize, h: usize, s: &AttentionShape, scores: &mut Vec<f32>, oh: &mut [f32]) {
    let hd = s.head_dim;
    let kv_dim = s.n_kv_heads * hd;
    let kvh = h / (s.n_heads / s.n_kv_heads);
    let lo = s.window.map_or(0, |w| (p + 1).saturating_sub(w));
    scores.clear();
    for j in lo..=p {
        scores.push(dot(qh, &k_cache[j * kv_dim + kvh * hd..][..hd]) * s.scale);
    }
    softmax(scores);
    for (j, &w) in (lo..=p).zip(scores.iter()) {
        let vj = &v_cache[j * kv_dim + kvh * hd..][..hd];
        for (o, &v) in oh.iter_mut().zip(vj) {
            *o += w * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(window: Option<usize>) -> AttentionShape {
        AttentionShape { n_heads: 2, n_kv_heads: 1, head_dim: 2, scale: 1.0, window }
    }

    #[test]
    fn single_key_returns_its_value() {
        let out = attention(&[1.0, 0.0, 0.0, 1.0], &[0.5, 0.5], &[3.0, -2.0], 0, &shape(None));
        assert_eq!(out, vec![3.0, -2.0, 3.0, -2.0]);
    }

    #[test]
    fn window_hides_old_keys() {
        // Three cached positions; the first has a huge score but falls outside a window of 2.
        let k = [100.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let v = [9.0, 9.0, 1.0, 1.0, 3.0, 3.0];
        let q = [1.0, 0.0, 1.0, 0.0];
        let full = attention(&q, &k, &v, 2, &shape(None));
        assert!((full[0] - 9.0).abs() < 1e-4);
        let windowed = attention(&q, &k, &v, 2, &shape(Some(2)));
        assert!((windowed[0] - 2.0).abs() < 1e-6);
    }

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.25).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }
}
