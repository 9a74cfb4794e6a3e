// `contraction`: whether this adapter's shader compiler fuses a written `a * b + c` into one
// fma (WGSL and SPIR-V allow it; NVIDIA's Vulkan driver does, llvmpipe and SwiftShader do
// not). Kernels that must round like the CPU hide products behind `hide` (fma_exact.wgsl);
// tests use the answer to know whether bit-equality with the CPU can be expected at all.
// It also asks whether the builtin fma() is rounded once (WGSL allows it not to be; llvmpipe's
// is not), which lets the fma_exact.wgsl kernels use it instead of their emulation.
// v = [a, b, c, a * b + c, fma(a, b, c)]: the inputs come from a buffer, so nothing folds at
// compile time.

struct Params {
    n: u32,
}

@group(0) @binding(0) var<storage, read_write> v: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(1)
fn contraction() {
    if (params.n > 0u) {
        v[3] = v[0] * v[1] + v[2];
        v[4] = fma(v[0], v[1], v[2]);
    }
}
