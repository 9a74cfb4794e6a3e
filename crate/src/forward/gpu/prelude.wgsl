// Shared helpers. Buffers of raw GGUF bytes are bound as array<u32> (little-endian words).

// The u32 made of bytes off..off+4 of `words`, for an even byte offset (every block field
// of Q8_0/Q5_0/Q4_K/Q6_K starts at an even offset).
fn load_u32_at(off: u32) -> u32 {
    let i = off >> 2u;
    if ((off & 3u) == 0u) {
        return weights[i];
    }
    return (weights[i] >> 16u) | (weights[i + 1u] << 16u);
}

// The u16 at an even byte offset.
fn load_u16_at(off: u32) -> u32 {
    return (weights[off >> 2u] >> ((off & 2u) * 8u)) & 0xffffu;
}

// The byte at any offset.
fn load_u8_at(off: u32) -> u32 {
    return (weights[off >> 2u] >> ((off & 3u) * 8u)) & 0xffu;
}

// IEEE half bits -> f32, exact (subnormals, infinities and NaN included), without f16 types.
fn f16_bits_to_f32(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let e = (h >> 10u) & 0x1fu;
    let m = h & 0x3ffu;
    if (e == 0u) {
        // 0 or subnormal: m * 2^-24, exact in f32.
        let v = f32(m) * bitcast<f32>(0x33800000u);
        return select(v, -v, sign != 0u);
    }
    if (e == 31u) {
        return bitcast<f32>(sign | 0x7f800000u | (m << 13u));
    }
    return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}
