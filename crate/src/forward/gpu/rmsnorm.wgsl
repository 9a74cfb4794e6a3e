// RMSNorm of each row: out = x * (1 / sqrt(mean(x^2) + eps)) * weight, in the CPU op's exact
// arithmetic: the squares summed in order by one invocation (the f32 sum is order-dependent;
// Gemma's residual stream has values in the hundreds), correctly rounded division and square
// root (WGSL's may be off by ULPs), (x * scale) * weight. One workgroup per row. The row is
// first squared into workgroup memory by all 64 invocations (coalesced loads), so the one
// summing invocation only adds, reading on-chip memory.

struct Params {
    len: u32,
    rows: u32,
    eps: f32,
    groups_x: u32,
    // Always 0 (fma_exact.wgsl's opaque_zero).
    zero: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const WG: u32 = 64u;
const STAGE: u32 = 1024u;
var<workgroup> row_scale: f32;
var<workgroup> stage: array<vec4<f32>, STAGE / 4u>;

fn opaque_zero() -> u32 {
    return params.zero;
}

// Correctly rounded sqrt: of the neighbours of WGSL's sqrt, the one whose square is nearest a.
fn sqrt_rn(a: f32) -> f32 {
    let q = sqrt(a);
    var best = q;
    var r = abs(fma_exact4(vec4<f32>(q), vec4<f32>(q), vec4<f32>(-a)).x);
    for (var k = -2; k <= 2; k++) {
        let c = bitcast<f32>(bitcast<i32>(q) + k);
        let rc = abs(fma_exact4(vec4<f32>(c), vec4<f32>(c), vec4<f32>(-a)).x);
        if (rc < r) {
            best = c;
            r = rc;
        }
    }
    return best;
}

@compute @workgroup_size(64)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.x + wid.y * params.groups_x;
    let off = row * params.len;
    // Uniform control flow for the barriers: rows past the end stage nothing and sum nothing.
    let live = row < params.rows;
    var ss = 0.0;
    for (var base = 0u; base < params.len; base += STAGE) {
        let n = min(STAGE, params.len - base);
        // Every invocation squares its share (each square rounded on its own: stored, never
        // fused into the sum); one invocation then adds them in order.
        for (var i = lid; i < n; i += WG) {
            if (live) {
                let v = x[off + base + i];
                stage[i >> 2u][i & 3u] = v * v;
            }
        }
        workgroupBarrier();
        if (lid == 0u && live) {
            // 8 squares per iteration from two 16-byte loads, added in order.
            var k = 0u;
            for (; 4u * k + 8u <= n; k += 2u) {
                let a = stage[k];
                let b = stage[k + 1u];
                ss = (((ss + a.x) + a.y) + a.z) + a.w;
                ss = (((ss + b.x) + b.y) + b.z) + b.w;
            }
            for (var i = 4u * k; i < n; i++) {
                ss += stage[i >> 2u][i & 3u];
            }
        }
        workgroupBarrier();
    }
    if (lid == 0u && live) {
        row_scale = div_rn(1.0, sqrt_rn(div_rn(ss, f32(params.len)) + params.eps));
    }
    workgroupBarrier();
    if (row >= params.rows) {
        return;
    }
    let scale = row_scale;
    for (var i = lid; i < params.len; i += WG) {
        out[off + i] = x[off + i] * scale * weight[i];
    }
}
