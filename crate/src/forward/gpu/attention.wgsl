// Causal attention over an f32 KV cache with grouped KV heads and an optional sliding window
// (as forward::cpu::attention). Query row t is at position p = start_pos + t and sees keys
// j in lo..=p, lo = max(0, p + 1 - window) (window 0 = none). One workgroup per (t, head):
// scores (scaled dot products) go to `scores` (one `positions`-long slot per workgroup), then a
// stable softmax, then each invocation sums weighted values for its output dimensions.

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
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k_cache: array<f32>;
@group(0) @binding(2) var<storage, read> v_cache: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

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
    var m = -3.4028235e38;
    for (var j = lo + lid; j <= p; j += WG) {
        let k_off = j * kv_dim + kvh * hd;
        // Unrolled by 4 (loads issued together), summed in d order as before.
        var acc = 0.0;
        var d = 0u;
        for (; d + 4u <= hd; d += 4u) {
            let qv = vec4<f32>(q[q_off + d], q[q_off + d + 1u], q[q_off + d + 2u], q[q_off + d + 3u]);
            let kv = vec4<f32>(k_cache[k_off + d], k_cache[k_off + d + 1u], k_cache[k_off + d + 2u], k_cache[k_off + d + 3u]);
            acc += qv.x * kv.x;
            acc += qv.y * kv.y;
            acc += qv.z * kv.z;
            acc += qv.w * kv.w;
        }
        for (; d < hd; d++) {
            acc += q[q_off + d] * k_cache[k_off + d];
        }
        let s = acc * params.scale;
        scores[s_off + j] = s;
        m = max(m, s);
    }
    let row_max = workgroup_max(lid, m);

    // exp and their sum (each invocation rewrites only its own scores).
    var sum = 0.0;
    for (var j = lo + lid; j <= p; j += WG) {
        let e = exp(scores[s_off + j] - row_max);
        scores[s_off + j] = e;
        sum += e;
    }
    let total = workgroup_sum(lid, sum);
    let inv = 1.0 / total;
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
