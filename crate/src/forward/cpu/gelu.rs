//! Gated GELU (tanh approximation) MLP activation: `gate = gelu_tanh(gate) * up`, in f32 with
//! glibc's `tanhf` ([`tanhf`], ported bit for bit, so every platform and the GPU kernel
//! `gelu_gate.wgsl` compute the same values as a Linux build calling libm).
//! (ggml's CPU GELU reads an f16 table instead; built here from the same `tanhf`, that table
//! left llama.cpp's greedy reference paths sooner: 211 leading tokens of 384 against 283 in f32.)

use super::tanh::tanhf;

const SQRT_2_OVER_PI: f32 = 0.797_884_6;

/// 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²))), each operation rounded as written.
pub fn gelu_tanh(x: f32) -> f32 {
    0.5 * x * (1.0 + tanhf(SQRT_2_OVER_PI * x * (1.0 + 0.044715 * x * x)))
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
