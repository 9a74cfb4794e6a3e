// tanhf: glibc's tanhf (fdlibm's s_tanhf.c over s_expm1f.c) in the steps of
// forward::cpu::tanh::tanhf, its divisions correctly rounded (div_rn.wgsl) and the roundings
// of its exact differences kept (`hide`), so GELU rounds as on the CPU. Needs fma_exact.wgsl,
// div_rn.wgsl and the kernel's opaque_zero(). (NaN arguments are not handled.)

const TANH_LN2_HI: f32 = 6.931381e-1;
const TANH_LN2_LO: f32 = 9.058001e-6;
const TANH_INV_LN2: f32 = 1.442695e0;

// y times 2^k, on the exponent bits.
fn tanh_scale(y: f32, k: i32) -> f32 {
    return bitcast<f32>(bitcast<i32>(y) + (k << 23u));
}

// e^x - 1 (fdlibm's expm1f).
fn expm1f(x_in: f32) -> f32 {
    var x = x_in;
    let bits = bitcast<u32>(x);
    let negative = (bits >> 31u) != 0u;
    let hx = bits & 0x7fffffffu;
    if (hx >= 0x4195b844u) {
        if (negative) {
            return -1.0;
        }
        if (hx > 0x42b17217u) {
            // +inf, through a variable: as a constant expression Chrome's shader compiler
            // (Tint) rejects it ("value inf cannot be represented as 'f32'"); naga accepts both.
            var inf_bits = 0x7f800000u;
            return bitcast<f32>(inf_bits);
        }
    }
    var k = 0;
    var c = 0.0;
    if (hx > 0x3eb17218u) {
        var hi: f32;
        var lo: f32;
        if (hx < 0x3f851592u) {
            if (negative) {
                hi = x + TANH_LN2_HI;
                lo = -TANH_LN2_LO;
                k = -1;
            } else {
                hi = x - TANH_LN2_HI;
                lo = TANH_LN2_LO;
                k = 1;
            }
        } else {
            k = i32(hide(TANH_INV_LN2 * x) + select(0.5, -0.5, negative));
            let t = f32(k);
            hi = x - hide(t * TANH_LN2_HI);
            lo = t * TANH_LN2_LO;
        }
        x = hide(hi - lo);
        c = hide(hi - x) - lo;
    } else if (hx < 0x33000000u) {
        return x;
    }
    let hfx = 0.5 * x;
    let hxs = x * hfx;
    let r1 = 1.0 + hxs * (-3.3333335e-2 + hxs * (1.5873016e-3 + hxs * (-7.9365076e-5 + hxs * (4.0082177e-6 + hxs * -2.0109921e-7))));
    let t = 3.0 - r1 * hfx;
    var e = hxs * div_rn(r1 - t, 6.0 - x * t);
    if (k == 0) {
        return x - (x * e - hxs);
    }
    e = x * (e - c) - c;
    e -= hxs;
    if (k == -1) {
        return 0.5 * (x - e) - 0.5;
    }
    if (k == 1) {
        if (x < -0.25) {
            return -2.0 * (e - (x + 0.5));
        }
        return 1.0 + 2.0 * (x - e);
    }
    if (k <= -2 || k > 56) {
        return tanh_scale(1.0 - (e - x), k) - 1.0;
    }
    if (k < 23) {
        let t1 = bitcast<f32>(0x3f800000u - (0x1000000u >> u32(k)));
        return tanh_scale(t1 - (e - x), k);
    }
    let t2 = bitcast<f32>(u32(0x7f - k) << 23u);
    return tanh_scale(x - (e + t2) + 1.0, k);
}

// tanh(x) (fdlibm's tanhf).
fn tanhf(x: f32) -> f32 {
    let bits = bitcast<u32>(x);
    let ix = bits & 0x7fffffffu;
    var z = 1.0;
    if (ix < 0x41b00000u) {
        if (ix == 0u) {
            return x;
        }
        if (ix < 0x24000000u) {
            return x * (1.0 + x);
        }
        if (ix >= 0x3f800000u) {
            let t = expm1f(2.0 * abs(x));
            z = 1.0 - div_rn(2.0, t + 2.0);
        } else {
            let t = expm1f(-2.0 * abs(x));
            z = div_rn(-t, t + 2.0);
        }
    }
    return select(z, -z, (bits >> 31u) != 0u);
}
