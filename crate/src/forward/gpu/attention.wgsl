// Causal attention over an f32 KV cache with grouped KV heads and an optional sliding window
// (as forward::cpu::attention). Query row t is at position p = start_pos + t and sees keys
// j in lo..=p, lo = max(0, p + 1 - window) (window 0 = none). One workgroup per (t, head):
// scores (scaled dot products) go to `scores` (one `positions`-long slot per workgroup), then a
// stable softmax, then each invocation sums weighted values for its output dimensions.
// Rounded as forward::cpu::attention: q · k in 8 lanes (lane i takes dimensions 8c + i),
// the lanes then added in order; the softmax's expf (exp.wgsl), workgroup-order sum and
// correctly rounded reciprocal (div_rn.wgsl); weights normalized before the weighted sum over
// positions in order.

struct Params {
    n: u32,
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    start_pos: u32,
    scale: f32,
    window: u32,
    positions: u32,
    groups_x: u32,
    // Always 0 (fma_exact.wgsl's opaque_zero).
    zero: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k_cache: array<f32>;
@group(0) @binding(2) var<storage, read> v_cache: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

fn opaque_zero() -> u32 {
    return params.zero;
}

// WG, partial, workgroup_max and workgroup_sum come from reduce.wgsl.

@compute @workgroup_size(64)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let job = wid.x + wid.y * params.groups_x;
    if (job >= params.n * params.n_heads) {
        return;
    }
    let t = job / params.n_heads;
    let h = job % params.n_heads;
    let hd = params.head_dim;
    let kvh = h / (params.n_heads / params.n_kv_heads);
    let kv_dim = params.n_kv_heads * hd;
    let q_off = t * params.n_heads * hd + h * hd;
    let p = params.start_pos + t;
    var lo = 0u;
    if (params.window != 0u && p + 1u > params.window) {
        lo = p + 1u - params.window;
    }
    let s_off = job * params.positions;

    // Scores and their maximum.
    // -f32::MAX exactly, as a hex literal: Tint rejects the decimal -3.4028235e38 (its exact
    // value lies past f32::MAX before rounding); naga accepts both.
    var m = -0x1.fffffep+127f;
    for (var j = lo + lid; j <= p; j += WG) {
        let k_off = j * kv_dim + kvh * hd;
        // Lanes 0..3 and 4..7 of each 8 dimensions, then the tail in order (head_dim % 8).
        var lo4 = vec4<f32>(0.0);
        var hi4 = vec4<f32>(0.0);
        var d = 0u;
        for (; d + 8u <= hd; d += 8u) {
            let qa = vec4<f32>(q[q_off + d], q[q_off + d + 1u], q[q_off + d + 2u], q[q_off + d + 3u]);
            let ka = vec4<f32>(k_cache[k_off + d], k_cache[k_off + d + 1u], k_cache[k_off + d + 2u], k_cache[k_off + d + 3u]);
            let qb = vec4<f32>(q[q_off + d + 4u], q[q_off + d + 5u], q[q_off + d + 6u], q[q_off + d + 7u]);
            let kb = vec4<f32>(k_cache[k_off + d + 4u], k_cache[k_off + d + 5u], k_cache[k_off + d + 6u], k_cache[k_off + d + 7u]);
            lo4 += qa * ka;
            hi4 += qb * kb;
        }
        var tail = 0.0;
        for (; d < hd; d++) {
            tail += q[q_off + d] * k_cache[k_off + d];
        }
        let acc = ((((((lo4.x + lo4.y) + lo4.z) + lo4.w) + hi4.x) + hi4.y) + hi4.z) + hi4.w + tail;
        let s = acc * params.scale;
        scores[s_off + j] = s;
        m = max(m, s);
    }
    let row_max = workgroup_max(lid, m);

    // exp and their sum (each invocation rewrites only its own scores).
    var sum = 0.0;
    for (var j = lo + lid; j <= p; j += WG) {
        let e = expf(scores[s_off + j] - row_max);
        scores[s_off + j] = e;
        sum += e;
    }
    let total = workgroup_sum(lid, sum);
    let inv = div_rn(1.0, total);
    // Make every invocation's exp values visible before they are read across the workgroup.
    storageBarrier();
    workgroupBarrier();

    // out[d] = Σ_j softmax_j · v[j][d], as the CPU: weights normalized first.
    for (var d = lid; d < hd; d += WG) {
        // Unrolled by 4 positions (loads issued together), summed in position order as before.
        var acc = 0.0;
        let vd = kvh * hd + d;
        var j = lo;
        for (; j + 3u <= p; j += 4u) {
            let sv = vec4<f32>(scores[s_off + j], scores[s_off + j + 1u], scores[s_off + j + 2u], scores[s_off + j + 3u]) * inv;
            let vv = vec4<f32>(v_cache[j * kv_dim + vd], v_cache[(j + 1u) * kv_dim + vd], v_cache[(j + 2u) * kv_dim + vd], v_cache[(j + 3u) * kv_dim + vd]);
            acc += sv.x * vv.x;
            acc += sv.y * vv.y;
            acc += sv.z * vv.z;
            acc += sv.w * vv.w;
        }
        for (; j <= p; j++) {
            acc += (scores[s_off + j] * inv) * v_cache[j * kv_dim + vd];
        }
        out[q_off + d] = acc;
    }
}
