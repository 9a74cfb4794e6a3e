//! Rotary position embedding over each head of a row of heads, in llama.cpp's two pairings.

use crate::forward::config::RopeStyle;

/// Rotate every `head_dim`-long head in `x` (one token's q or k) to position `pos`.
/// `freq_factors` (Llama 3) divide the per-pair frequency when present.
pub fn rope(x: &mut [f32], head_dim: usize, pos: usize, theta: f32, style: RopeStyle, freq_factors: Option<&[f32]>) {
    let half = head_dim / 2;
    for head in x.chunks_exact_mut(head_dim) {
        for i in 0..half {
            let mut freq = theta.powf(-2.0 * i as f32 / head_dim as f32);
            if let Some(ff) = freq_factors {
                freq /= ff[i];
            }
            let (sin, cos) = (pos as f32 * freq).sin_cos();
            let (a, b) = match style {
                RopeStyle::Normal => (2 * i, 2 * i + 1),
                RopeStyle::Neox => (i, i + half),
            };
            let (x0, x1) = (head[a], head[b]);
            head[a] = x0 * cos - x1 * sin;
            head[b] = x0 * sin + x1 * cos;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_zero_is_identity_and_norm_is_kept() {
        let orig: Vec<f32> = (0..16).map(|i| i as f32 * 0.1 - 0.7).collect();
        for style in [RopeStyle::Normal, RopeStyle::Neox] {
            let mut x = orig.clone();
            rope(&mut x, 8, 0, 10000.0, style, None);
            assert_eq!(x, orig);
            rope(&mut x, 8, 37, 10000.0, style, None);
            let n0: f32 = orig.iter().map(|v| v * v).sum();
            let n1: f32 = x.iter().map(|v| v * v).sum();
            assert!((n0 - n1).abs() < 1e-4);
            assert_ne!(x, orig);
        }
    }

    #[test]
    fn relative_positions_give_equal_dot_products() {
        let q: Vec<f32> = (0..8).map(|i| (i as f32).sin()).collect();
        let k: Vec<f32> = (0..8).map(|i| (i as f32).cos()).collect();
        let dot_at = |pq, pk| {
            let (mut a, mut b) = (q.clone(), k.clone());
            rope(&mut a, 8, pq, 10000.0, RopeStyle::Neox, None);
            rope(&mut b, 8, pk, 10000.0, RopeStyle::Neox, None);
            a.iter().zip(&b).map(|(x, y)| x * y).sum::<f32>()
        };
        assert!((dot_at(10, 7) - dot_at(103, 100)).abs() < 1e-3);
    }
}
