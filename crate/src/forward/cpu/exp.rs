//! `expf`: e^x in a fixed sequence of f32 operations (multiplies, adds and once-rounded fused
//! multiply-adds), so that the CPU ops (softmax, SiLU) and the GPU kernels (`exp.wgsl`, the same
//! steps) round it identically, and close enough to exact (~2^-37 relative before the one final
//! rounding) that it is the correctly rounded e^x in all but ~1 in 10^5 arguments: the same as
//! glibc's `expf` (0.502 ULP), which llama.cpp calls, wherever that is correctly rounded too.
//! `f32::exp` is the platform's libm (glibc natively, a musl port in wasm) and WGSL's `exp` the
//! driver's; through 8-bit activation quantization one ULP can flip a greedy token.
//!
//! x = (32k + i)·ln2/32 + r with |r| ≤ ln2/64 (ln2/32 in three parts, r kept as a hi + lo
//! pair), e^r = 1 + r + r²·P(r) with the 1 + r_hi sum kept exact, times 2^(i/32) from a table
//! of hi + lo pairs, summed into one rounding, then scaled by 2^k (exact). Below -86 the result
//! is 0 (no subnormal results: GPUs may flush them), above 88 it is +inf; NaN stays NaN.

/// 32/ln2.
const INV_LN2_32: f32 = f32::from_bits(0x4238_aa3b);
/// ln2/32 = L1 + L2 + L3; L1 has 12 significant bits, so n·L1 is exact for |n| < 2^12.
const L1: f32 = f32::from_bits(0x3cb1_7000);
const L2: f32 = f32::from_bits(0x3585_fdf4);
const L3: f32 = f32::from_bits(0x2967_bcd6);
/// 1/2, 1/6, 1/24, 1/120.
const P: [f32; 4] = [0.5, f32::from_bits(0x3e2a_aaab), f32::from_bits(0x3d2a_aaab), f32::from_bits(0x3c08_8889)];
/// 2^(i/32) = T_HI[i] + T_LO[i] (each rounded to nearest).
pub const T_HI: [u32; 32] = [
    0x3f800000, 0x3f82cd87, 0x3f85aac3, 0x3f88980f, 0x3f8b95c2, 0x3f8ea43a, 0x3f91c3d3, 0x3f94f4f0, 0x3f9837f0, 0x3f9b8d3a, 0x3f9ef532, 0x3fa27043, 0x3fa5fed7,
    0x3fa9a15b, 0x3fad583f, 0x3fb123f6, 0x3fb504f3, 0x3fb8fbaf, 0x3fbd08a4, 0x3fc12c4d, 0x3fc5672a, 0x3fc9b9be, 0x3fce248c, 0x3fd2a81e, 0x3fd744fd, 0x3fdbfbb8,
    0x3fe0ccdf, 0x3fe5b907, 0x3feac0c7, 0x3fefe4ba, 0x3ff5257d, 0x3ffa83b3,
];
pub const T_LO: [u32; 32] = [
    0x00000000, 0xb34ea7a9, 0x334f9891, 0xb37eda4b, 0xb260aba1, 0xb3697465, 0x33675624, 0xb32e0212, 0x33231b71, 0xb30c5563, 0x33412342, 0x30c3125a, 0xb32c9d5e,
    0xb3162b08, 0xb22deaf6, 0xb37c5aa8, 0x32cfe77a, 0x330ec5f7, 0xb3414fe8, 0xb2d6663e, 0x320aa837, 0xb37323a2, 0x3228fc24, 0xb35c1daa, 0xb2d4a58a, 0xb3504a1c,
    0xb21eab59, 0xb2441be6, 0xb24116de, 0xb348464a, 0x32292436, 0xb2923758,
];

/// a + b = s + e exactly (Knuth's TwoSum).
fn two_sum(a: f32, b: f32) -> (f32, f32) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

pub fn expf(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x < -86.0 {
        return 0.0;
    }
    if x > 88.0 {
        return f32::INFINITY;
    }
    let n = (x * INV_LN2_32).round_ties_even();
    // r = x - n·ln2/32 as r_hi + r_lo.
    let a = (-n).mul_add(L1, x);
    let p_hi = n * L2;
    let p_lo = n.mul_add(L2, -p_hi);
    let (s, e) = two_sum(a, -p_hi);
    let lo = (e - p_lo) - n * L3;
    let r_hi = s + lo;
    let r_lo = lo - (r_hi - s);
    // e^r = (1 + r_hi) + (r_lo + r_hi²·P(r_hi)), the first sum exact as s_hi + s_lo.
    let mut q = P[3];
    for c in [P[2], P[1], P[0]] {
        q = q.mul_add(r_hi, c);
    }
    let small = (r_hi * r_hi).mul_add(q, r_lo);
    let s_hi = 1.0 + r_hi;
    let s_lo = (r_hi - (s_hi - 1.0)) + small;
    // 2^(i/32) · e^r, one rounding.
    let ni = n as i32;
    let i = ni.rem_euclid(32) as usize;
    let k = (ni - i as i32) / 32;
    let (t_hi, t_lo) = (f32::from_bits(T_HI[i]), f32::from_bits(T_LO[i]));
    let m_hi = t_hi * s_hi;
    let m_lo = t_hi.mul_add(s_hi, -m_hi);
    let tail = t_lo.mul_add(s_hi, t_hi.mul_add(s_lo, m_lo));
    (m_hi + tail) * f32::from_bits(((k + 127) as u32) << 23)
}

/// Σ x in the order of the GPU's workgroup reduction (`reduce.wgsl`'s `workgroup_sum`):
/// 64 strided partial sums (lane l takes x[l], x[l + 64], ... in order), then a tree
/// (partial[i] += partial[i + s] for s = 32, 16, ..., 1).
pub fn lane_sum(x: &[f32]) -> f32 {
    let mut partial = [0.0f32; 64];
    for (i, &v) in x.iter().enumerate() {
        partial[i % 64] += v;
    }
    let mut s = 32;
    while s > 0 {
        for i in 0..s {
            partial[i] += partial[i + s];
        }
        s /= 2;
    }
    partial[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The correctly rounded value (f64 exp, rounded) in all but ~1e-5 of the arguments the
    /// forward pass uses, never more than 1 ULP from it, and the documented edges; the 2^(i/32)
    /// table is what f64 gives.
    #[test]
    fn nearly_always_correctly_rounded() {
        let (mut off, mut n) = (0u64, 0u64);
        let mut x = -86.0f32;
        while x <= 88.0 {
            let want = (x as f64).exp() as f32;
            let got = expf(x);
            let ulps = (got.to_bits() as i64 - want.to_bits() as i64).abs();
            assert!(ulps <= 1, "expf({x}) = {got}, want {want}");
            off += u64::from(ulps != 0);
            n += 1;
            x += 0.000_097;
        }
        assert!(off * 20_000 <= n, "{off} of {n} not correctly rounded");
        eprintln!("{off} of {n} not correctly rounded");
        for i in 0..32 {
            let t = (i as f64 / 32.0).exp2();
            let hi = f32::from_bits(T_HI[i]);
            assert_eq!(hi, t as f32);
            assert!((t - hi as f64 - f32::from_bits(T_LO[i]) as f64).abs() < 1e-14 * t, "{i}");
        }
        assert_eq!(expf(0.0), 1.0);
        assert_eq!(expf(-100.0), 0.0);
        assert_eq!(expf(f32::NEG_INFINITY), 0.0);
        assert_eq!(expf(100.0), f32::INFINITY);
        assert!(expf(f32::NAN).is_nan());
    }

    #[test]
    fn lane_sum_adds_everything() {
        let x: Vec<f32> = (0..200).map(|i| i as f32).collect();
        assert_eq!(lane_sum(&x), 199.0 * 200.0 / 2.0);
        assert_eq!(lane_sum(&[]), 0.0);
    }
}
