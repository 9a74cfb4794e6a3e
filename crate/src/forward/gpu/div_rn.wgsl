// Correctly rounded f32 division. WGSL's `/` may be off by 2.5 ULP (Vulkan's bound), and one
// ULP flips the round-half cases of an activation's quantization; the CPU divides exactly.
// The quotient's neighbours within 3 ULP are tried and the one with the smallest exact
// residual a - c * b (exact for c this close to a / b; needs fma_exact.wgsl) wins.
fn div_rn(a: f32, b: f32) -> f32 {
    let q = a / b;
    var best = q;
    var r = abs(fma_exact4(vec4<f32>(-q), vec4<f32>(b), vec4<f32>(a)).x);
    for (var k = -3; k <= 3; k++) {
        let c = bitcast<f32>(bitcast<i32>(q) + k);
        let rc = abs(fma_exact4(vec4<f32>(-c), vec4<f32>(b), vec4<f32>(a)).x);
        if (rc < r) {
            best = c;
            r = rc;
        }
    }
    return best;
}
