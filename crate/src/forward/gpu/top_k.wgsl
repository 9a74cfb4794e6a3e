// Top-k of the logits, stage 1 of 2: workgroup g takes logits [g * chunk, (g + 1) * chunk) and
// writes its k best (id, value) pairs, best first (lower id first among equal values), plus
// the chunk's max m, sum of exp(l - m) and sum of exp(l - m) * (l - m), from which
// top_k_merge gets logsumexp and entropy over the whole vocabulary. NaN counts as -inf.
// Each invocation owns the chunk's items lid, lid + 256, ... (at most 32 of them); k rounds of
// a workgroup argmax each take one item out.

struct Params {
    vocab: u32,
    k: u32,
    chunk: u32,
    groups: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
// Per group: k ids, k value bits, then m, sum, sum_x bits (stride 2k + 3).
@group(0) @binding(1) var<storage, read_write> cand: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

const TK: u32 = 256u;
const NONE: u32 = 0xffffffffu;
var<workgroup> best_v: array<f32, TK>;
var<workgroup> best_i: array<u32, TK>;
var<workgroup> red: array<f32, TK>;

// -3e38, standing in for -inf (Tint rejects a constant -inf); -inf logits
// sort below it and are left out of the sums, as exp(-inf) = 0 would.
fn neg_inf() -> f32 {
    return -3.0e38;
}

fn key(v: f32) -> f32 {
    return select(v, neg_inf(), v != v);
}

// Whether (bv, bi) beats (av, ai): larger value, or equal value and lower id; NONE never wins.
fn beats(bv: f32, bi: u32, av: f32, ai: u32) -> bool {
    return bi != NONE && (ai == NONE || bv > av || (bv == av && bi < ai));
}

fn reduce_max(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = TK / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] = max(red[lid], red[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn reduce_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = TK / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] += red[lid + s];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

// The workgroup's best (value, id) into best_v[0], best_i[0].
fn reduce_best(lid: u32, v: f32, i: u32) {
    best_v[lid] = v;
    best_i[lid] = i;
    workgroupBarrier();
    for (var s = TK / 2u; s > 0u; s >>= 1u) {
        if (lid < s && beats(best_v[lid + s], best_i[lid + s], best_v[lid], best_i[lid])) {
            best_v[lid] = best_v[lid + s];
            best_i[lid] = best_i[lid + s];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn top_k(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.x;
    let lo = g * params.chunk;
    let hi = min(lo + params.chunk, params.vocab);
    let base = g * (2u * params.k + 3u);

    var m = neg_inf();
    for (var i = lo + lid; i < hi; i += TK) {
        m = max(m, key(logits[i]));
    }
    let gm = reduce_max(lid, m);
    var s = 0.0;
    var sx = 0.0;
    for (var i = lo + lid; i < hi; i += TK) {
        let v = key(logits[i]);
        if (v > neg_inf()) {
            let e = exp(v - gm);
            s += e;
            sx += e * (v - gm);
        }
    }
    let total = reduce_sum(lid, s);
    let total_x = reduce_sum(lid, sx);

    var taken = 0u;
    for (var r = 0u; r < params.k; r++) {
        var bv = neg_inf();
        var bi = NONE;
        var j = 0u;
        for (var i = lo + lid; i < hi; i += TK) {
            if ((taken & (1u << j)) == 0u) {
                let v = key(logits[i]);
                if (bi == NONE || v > bv) {
                    bv = v;
                    bi = i;
                }
            }
            j++;
        }
        reduce_best(lid, bv, bi);
        let wi = best_i[0];
        if (lid == 0u) {
            cand[base + r] = wi;
            cand[base + params.k + r] = bitcast<u32>(best_v[0]);
        }
        if (wi != NONE && (wi - lo) % TK == lid) {
            taken |= 1u << ((wi - lo) / TK);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        cand[base + 2u * params.k] = bitcast<u32>(gm);
        cand[base + 2u * params.k + 1u] = bitcast<u32>(total);
        cand[base + 2u * params.k + 2u] = bitcast<u32>(total_x);
    }
}
