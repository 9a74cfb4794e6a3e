//! Gated GELU (tanh approximation) MLP activation: `gate = gelu_tanh(gate) * up`.

const SQRT_2_OVER_PI: f32 = 0.797_884_6;

pub fn gelu_tanh(x: f32) -> f32 {
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + 0.044715 * x * x)).tanh())
}

pub fn gelu_gate(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = gelu_tanh(*g) * u;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        // Reference values of 0.5x(1+tanh(√(2/π)(x+0.044715x³))).
        for (x, y) in [(0.0f32, 0.0f32), (1.0, 0.841192), (-1.0, -0.158808), (3.0, 2.996363)] {
            assert!((super::gelu_tanh(x) - y).abs() < 1e-5, "{x}");
        }
    }
}
