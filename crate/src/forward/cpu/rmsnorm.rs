//! RMSNorm: `out = x / sqrt(mean(x²) + eps) * weight`, applied to each `weight.len()`-long row.

pub fn rmsnorm(out: &mut [f32], x: &[f32], weight: &[f32], eps: f32) {
    let n = weight.len();
    for (o, xr) in out.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
        let ss: f32 = xr.iter().map(|v| v * v).sum::<f32>() / n as f32;
        let scale = 1.0 / (ss + eps).sqrt();
        for ((o, &v), &w) in o.iter_mut().zip(xr).zip(weight) {
            *o = v * scale * w;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unit_rows_scale_to_weight() {
        let x = [3.0f32, 4.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        let mut out = [0.0f32; 8];
        super::rmsnorm(&mut out, &x, &[1.0, 2.0, 1.0, 1.0], 0.0);
        // row 0: rms = sqrt(25/4) = 2.5
        assert_eq!(&out[..4], &[1.2, 3.2, 0.0, 0.0]);
        assert_eq!(&out[4..], &[1.0, 2.0, 1.0, 1.0]);
    }
}
