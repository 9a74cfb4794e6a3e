// f16 rounding without f16 types (the browser's SwiftShader adapter lacks shader-f16).

// x rounded to the nearest f16 value (ties to even), as an f32.
fn round_f16(x: f32) -> f32 {
    let bits = bitcast<u32>(x);
    let sign = bits & 0x80000000u;
    let a = bits & 0x7fffffffu;
    if (a >= 0x7f800000u) {
        return x; // inf, NaN
    }
    if (a >= 0x477ff000u) {
        return bitcast<f32>(sign | 0x7f800000u); // rounds past 65504: inf
    }
    if (a < 0x38800000u) {
        // below 2^-14: an f16 subnormal, a multiple of 2^-24 (exact scalings by powers of two;
        // round() breaks ties to even)
        let r = round(bitcast<f32>(a) * 16777216.0) / 16777216.0;
        return bitcast<f32>(sign | bitcast<u32>(r));
    }
    // normal: keep 10 mantissa bits, ties to even
    let lsb = (a >> 13u) & 1u;
    return bitcast<f32>(sign | ((a + 0xfffu + lsb) & 0xffffe000u));
}
