// fma(a, b, c) rounded once, as the CPU's FMA instruction, from plain f32 operations. WGSL's
// fma() may be evaluated unfused (llvmpipe does: a * b is rounded first), which changes the
// last bit of a ggml-order dot product. Exact product by Dekker's algorithm (the 12-bit
// halves are cut by masking the mantissa, so no constant multiplier can overflow), then
// Boldo and Melquiond's rounding-to-odd sum: fma = RN(th + RO(tl + pl)) with
// (th, tl) = TwoSum(c, ph), (ph, pl) = a * b exactly. Valid away from overflow and underflow
// (activation and weight scales are far from both).
// The shader compiler may simplify float expressions algebraically ((c + p) - c to p), which
// breaks the error-free transformations; `hide` passes each rounded sum or product through an
// xor with a zero the compiler cannot see (`opaque_zero()`, defined by the kernel from a
// uniform), so it must keep the computed value.
// Where the adapter's own fma() is rounded once (the `contraction` probe at device creation:
// NVIDIA's is, llvmpipe's is not), the context sets NATIVE_FMA and that one instruction
// replaces the emulation.

override NATIVE_FMA: bool = false;

fn hide(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) ^ opaque_zero());
}

fn hide4(x: vec4<f32>) -> vec4<f32> {
    return bitcast<vec4<f32>>(bitcast<vec4<u32>>(x) ^ vec4<u32>(opaque_zero()));
}

fn split_hi4(a: vec4<f32>) -> vec4<f32> {
    return bitcast<vec4<f32>>(bitcast<vec4<u32>>(a) & vec4<u32>(0xfffff000u));
}

fn fma_exact4(a: vec4<f32>, b: vec4<f32>, c: vec4<f32>) -> vec4<f32> {
    if (NATIVE_FMA) {
        return fma(a, b, c);
    }
    // (ph, pl) = a * b exactly.
    let ph = hide4(a * b);
    let ah = split_hi4(a);
    let al = a - ah;
    let bh = split_hi4(b);
    let bl = b - bh;
    let pl = ((ah * bh - ph) + ah * bl + al * bh) + al * bl;
    // (th, tl) = c + ph exactly.
    let th = hide4(c + ph);
    let tb = th - c;
    let tl = (c - (th - tb)) + (ph - tb);
    // v = tl + pl rounded to odd.
    let s = hide4(tl + pl);
    let sb = s - tl;
    let e = (tl - (s - sb)) + (pl - sb);
    let bits = bitcast<vec4<u32>>(s);
    let even = (bits & vec4<u32>(1u)) == vec4<u32>(0u);
    let toward = select(vec4<u32>(0xffffffffu), vec4<u32>(1u), (e > vec4<f32>(0.0)) == (s > vec4<f32>(0.0)));
    let v = bitcast<vec4<f32>>(select(bits, bits + toward, even & (e != vec4<f32>(0.0))));
    return th + v;
}

// One lane of fma_exact4.
fn fma1(a: f32, b: f32, c: f32) -> f32 {
    return fma_exact4(vec4<f32>(a), vec4<f32>(b), vec4<f32>(c)).x;
}
