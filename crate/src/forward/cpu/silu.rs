//! Gated SiLU (SwiGLU) MLP activation: `gate = silu(gate) * up`.

use super::exp::expf;

/// x / (1 + e^(−x)), with [`expf`] as the GPU kernel (`silu_gate.wgsl`).
pub fn silu(x: f32) -> f32 {
    x / (1.0 + expf(-x))
}

pub fn silu_gate(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = silu(*g) * u;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        assert_eq!(super::silu(0.0), 0.0);
        assert!((super::silu(1.0) - 0.731_058_6).abs() < 1e-6);
        assert!((super::silu(-2.0) + 0.238_405_84).abs() < 1e-6);
    }
}
