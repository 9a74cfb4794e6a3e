// expf: e^x in the steps of forward::cpu::exp::expf (see there: ln2/32 reduction with r as a
// hi + lo pair, 2^(i/32) from a hi + lo table, one final rounding, exact scaling by 2^k), each
// fma rounded once (fma_exact.wgsl) and each error-free sum's roundings kept (`hide`), so both
// backends round it identically; WGSL's exp() is the driver's own approximation. Below -86: 0
// (no subnormals), above 88: +inf. Needs fma_exact.wgsl and the kernel's opaque_zero().

const EXP_INV_LN2_32: f32 = 4.616624e1;
const EXP_L1: f32 = 2.1659851e-2;
const EXP_L2: f32 = 9.983182e-7;
const EXP_L3: f32 = 5.1456093e-14;
var<private> EXP_T_HI: array<u32, 32> = array<u32, 32>(0x3f800000u, 0x3f82cd87u, 0x3f85aac3u, 0x3f88980fu, 0x3f8b95c2u, 0x3f8ea43au, 0x3f91c3d3u, 0x3f94f4f0u, 0x3f9837f0u, 0x3f9b8d3au, 0x3f9ef532u, 0x3fa27043u, 0x3fa5fed7u, 0x3fa9a15bu, 0x3fad583fu, 0x3fb123f6u, 0x3fb504f3u, 0x3fb8fbafu, 0x3fbd08a4u, 0x3fc12c4du, 0x3fc5672au, 0x3fc9b9beu, 0x3fce248cu, 0x3fd2a81eu, 0x3fd744fdu, 0x3fdbfbb8u, 0x3fe0ccdfu, 0x3fe5b907u, 0x3feac0c7u, 0x3fefe4bau, 0x3ff5257du, 0x3ffa83b3u);
var<private> EXP_T_LO: array<u32, 32> = array<u32, 32>(0x00000000u, 0xb34ea7a9u, 0x334f9891u, 0xb37eda4bu, 0xb260aba1u, 0xb3697465u, 0x33675624u, 0xb32e0212u, 0x33231b71u, 0xb30c5563u, 0x33412342u, 0x30c3125au, 0xb32c9d5eu, 0xb3162b08u, 0xb22deaf6u, 0xb37c5aa8u, 0x32cfe77au, 0x330ec5f7u, 0xb3414fe8u, 0xb2d6663eu, 0x320aa837u, 0xb37323a2u, 0x3228fc24u, 0xb35c1daau, 0xb2d4a58au, 0xb3504a1cu, 0xb21eab59u, 0xb2441be6u, 0xb24116deu, 0xb348464au, 0x32292436u, 0xb2923758u);

fn expf(x: f32) -> f32 {
    if (x < -86.0) {
        return 0.0;
    }
    if (x > 88.0) {
        // +inf, through a variable: as a constant expression Chrome's shader compiler
        // (Tint) rejects it ("value inf cannot be represented as 'f32'"); naga accepts both.
        var inf_bits = 0x7f800000u;
        return bitcast<f32>(inf_bits);
    }
    let n = round(x * EXP_INV_LN2_32);
    // r = x - n ln2/32 as r_hi + r_lo (TwoSum, then a fast two-sum).
    let a = fma1(-n, EXP_L1, x);
    let p_hi = hide(n * EXP_L2);
    let p_lo = fma1(n, EXP_L2, -p_hi);
    let s = hide(a + -p_hi);
    let bb = hide(s - a);
    let e = (a - hide(s - bb)) + (-p_hi - bb);
    let lo = (e - p_lo) - hide(n * EXP_L3);
    let r_hi = hide(s + lo);
    let r_lo = lo - hide(r_hi - s);
    // e^r = (1 + r_hi) + (r_lo + r_hi^2 P(r_hi)).
    var q = 8.333334e-3;
    q = fma1(q, r_hi, 4.1666668e-2);
    q = fma1(q, r_hi, 1.6666667e-1);
    q = fma1(q, r_hi, 0.5);
    let small = fma1(hide(r_hi * r_hi), q, r_lo);
    let s_hi = hide(1.0 + r_hi);
    let s_lo = (r_hi - hide(s_hi - 1.0)) + small;
    // 2^(i/32) e^r, one rounding, then 2^k.
    let ni = i32(n);
    let i = u32(ni & 31);
    let k = (ni - i32(i)) / 32;
    let t_hi = bitcast<f32>(EXP_T_HI[i]);
    let t_lo = bitcast<f32>(EXP_T_LO[i]);
    let m_hi = hide(t_hi * s_hi);
    let m_lo = fma1(t_hi, s_hi, -m_hi);
    let tail = fma1(t_lo, s_hi, fma1(t_hi, s_lo, m_lo));
    return hide(m_hi + tail) * bitcast<f32>(u32(k + 127) << 23u);
}
