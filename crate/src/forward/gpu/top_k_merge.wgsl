// Top-k of the logits, stage 2 of 2: one workgroup merges the groups' candidates from top_k
// into the k best (id, value) pairs, best first, and combines the groups' (m, sum, sum_x) into
// log_z = logsumexp(logits) and the entropy of softmax(logits).
// Output: k ids, k value bits, log_z bits, entropy bits.

struct Params {
    k: u32,
    groups: u32,
}

@group(0) @binding(0) var<storage, read> cand: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

const TK: u32 = 256u;
const NONE: u32 = 0xffffffffu;
var<workgroup> best_v: array<f32, TK>;
var<workgroup> best_i: array<u32, TK>;
var<workgroup> best_c: array<u32, TK>;

// -3e38, standing in for -inf (Tint rejects a constant -inf); -inf logits
// sort below it and are left out of the sums, as exp(-inf) = 0 would.
fn neg_inf() -> f32 {
    return -3.0e38;
}

fn beats(bv: f32, bi: u32, av: f32, ai: u32) -> bool {
    return bi != NONE && (ai == NONE || bv > av || (bv == av && bi < ai));
}

@compute @workgroup_size(256)
fn top_k_merge(@builtin(local_invocation_index) lid: u32) {
    let k = params.k;
    let stride = 2u * k + 3u;
    let count = params.groups * k;

    var taken = 0u;
    for (var r = 0u; r < k; r++) {
        var bv = neg_inf();
        var bi = NONE;
        var bc = NONE;
        var j = 0u;
        for (var c = lid; c < count; c += TK) {
            if ((taken & (1u << j)) == 0u) {
                let at = (c / k) * stride + c % k;
                let id = cand[at];
                let v = bitcast<f32>(cand[at + k]);
                if (beats(v, id, bv, bi)) {
                    bv = v;
                    bi = id;
                    bc = c;
                }
            }
            j++;
        }
        best_v[lid] = bv;
        best_i[lid] = bi;
        best_c[lid] = bc;
        workgroupBarrier();
        for (var s = TK / 2u; s > 0u; s >>= 1u) {
            if (lid < s && beats(best_v[lid + s], best_i[lid + s], best_v[lid], best_i[lid])) {
                best_v[lid] = best_v[lid + s];
                best_i[lid] = best_i[lid + s];
                best_c[lid] = best_c[lid + s];
            }
            workgroupBarrier();
        }
        let wc = best_c[0];
        if (lid == 0u) {
            out[r] = best_i[0];
            out[k + r] = bitcast<u32>(best_v[0]);
        }
        if (wc != NONE && wc % TK == lid) {
            taken |= 1u << (wc / TK);
        }
        workgroupBarrier();
    }

    if (lid == 0u) {
        var m = neg_inf();
        for (var g = 0u; g < params.groups; g++) {
            m = max(m, bitcast<f32>(cand[g * stride + 2u * k]));
        }
        var z = 0.0;
        var zx = 0.0;
        for (var g = 0u; g < params.groups; g++) {
            let gm = bitcast<f32>(cand[g * stride + 2u * k]);
            let s = bitcast<f32>(cand[g * stride + 2u * k + 1u]);
            let sx = bitcast<f32>(cand[g * stride + 2u * k + 2u]);
            if (s > 0.0) {
                let e = exp(gm - m);
                z += s * e;
                zx += e * (sx + s * (gm - m));
            }
        }
        out[2u * k] = bitcast<u32>(m + log(z));
        out[2u * k + 1u] = bitcast<u32>(log(z) - zx / z);
    }
}
