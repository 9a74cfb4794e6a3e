//! Causal multi-head attention over the KV cache, with grouped KV heads and an optional
//! sliding window (a query at position p sees keys at positions j with p - j < window).

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
/// Returns (n_tokens, n_heads*head_dim).
pub fn attention(q: &[f32], k_cache: &[f32], v_cache: &[f32], start_pos: usize, s: &AttentionShape) -> Vec<f32> {
    let hd = s.head_dim;
    let q_dim = s.n_heads * hd;
    let kv_dim = s.n_kv_heads * hd;
    let group = s.n_heads / s.n_kv_heads;
    let n_tokens = q.len() / q_dim;
    let mut out = vec![0.0f32; q.len()];
    let mut scores = Vec::new();
    for t in 0..n_tokens {
        let p = start_pos + t;
        let lo = s.window.map_or(0, |w| (p + 1).saturating_sub(w));
        for h in 0..s.n_heads {
            let kvh = h / group;
            let qh = &q[t * q_dim + h * hd..][..hd];
            scores.clear();
            for j in lo..=p {
                scores.push(dot(qh, &k_cache[j * kv_dim + kvh * hd..][..hd]) * s.scale);
            }
            softmax(&mut scores);
            let oh = &mut out[t * q_dim + h * hd..][..hd];
            for (j, &w) in (lo..=p).zip(&scores) {
                let vj = &v_cache[j * kv_dim + kvh * hd..][..hd];
                for (o, &v) in oh.iter_mut().zip(vj) {
                    *o += w * v;
                }
            }
        }
    }
    out
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
