//! Numerically stable in-place softmax, rounded as the GPU kernels round it (`softmax.wgsl`,
//! `attention.wgsl`): [`expf`], the exponentials summed in the workgroup reduction's order
//! ([`lane_sum`]), one correctly rounded reciprocal, then products.

use super::exp::{expf, lane_sum};

pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in x.iter_mut() {
        *v = expf(*v - max);
    }
    let inv = 1.0 / lane_sum(x);
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_to_one_and_survives_large_inputs() {
        let mut x = [1000.0f32, 1001.0, 999.0];
        super::softmax(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[1] > x[0] && x[0] > x[2]);
    }
}
