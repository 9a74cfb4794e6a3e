// Shared body of the quantized matvec kernels: y[t, row] = sum_c W[row, c] * x[t, c].
// Each kernel file defines BLOCK_BYTES, BLOCK_ELEMS and unit_weights (8 consecutive weights of
// one block, dequantized), then calls matvec_row from its entry point. Arithmetic is f32,
// integers u32/i32.

struct Params {
    // Rows of this part of W (a matrix too large for one binding comes in parts of rows).
    rows: u32,
    cols: u32,
    n: u32,
    // Workgroups along x: row = workgroup_id.x + workgroup_id.y * groups_x (rows can exceed
    // the 65535 workgroups a dimension allows, e.g. a 262144-row output head).
    groups_x: u32,
    // Row length of y (all rows of W) and the first row of this part.
    y_stride: u32,
    row_offset: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// A workgroup of 64 computes RPW rows of W for TT activation rows at once; TPR invocations
// share a row and sum their parts in workgroup memory. Few invocations per row keep the
// workgroup count and the barriers down (llvmpipe and SwiftShader pay per workgroup and per
// barrier); TT activation rows per pass decode each weight once for all of them (prefill).
const TPR: u32 = 4u;
const RPW: u32 = 16u;
const TT: u32 = 4u;
var<workgroup> partial: array<vec4<f32>, 64>;

// Eight dequantized weights.
struct W8 {
    a: vec4<f32>,
    b: vec4<f32>,
}

// Four signed bytes of a word as f32.
fn i8x4(w: u32) -> vec4<f32> {
    let s = bitcast<i32>(w);
    return vec4<f32>(f32(extractBits(s, 0u, 8u)), f32(extractBits(s, 8u, 8u)), f32(extractBits(s, 16u, 8u)), f32(extractBits(s, 24u, 8u)));
}

// Four unsigned bytes of a word as f32.
fn u8x4(w: u32) -> vec4<f32> {
    return vec4<f32>(f32(w & 0xffu), f32((w >> 8u) & 0xffu), f32((w >> 16u) & 0xffu), f32(w >> 24u));
}

fn matvec_row(wid: vec3<u32>, lid: u32) {
    let lane = lid % TPR;
    let row = (wid.x + wid.y * params.groups_x) * RPW + lid / TPR;
    let t0 = wid.z * TT;
    let nb = params.cols / BLOCK_ELEMS;
    let units = params.cols / 8u;
    let units_per_block = BLOCK_ELEMS / 8u;
    // Activation rows t0..t0+TT (clamped to the last one; only real rows are written).
    let last = params.n - 1u;
    let x0 = (min(t0, last) * params.cols) >> 2u;
    let x1 = (min(t0 + 1u, last) * params.cols) >> 2u;
    let x2 = (min(t0 + 2u, last) * params.cols) >> 2u;
    let x3 = (min(t0 + 3u, last) * params.cols) >> 2u;
    var acc = vec4<f32>(0.0);
    if (row < params.rows) {
        for (var u = lane; u < units; u += TPR) {
            let w = unit_weights((row * nb + u / units_per_block) * BLOCK_BYTES, u % units_per_block);
            let xi = u * 2u;
            acc += vec4<f32>(
                dot(w.a, x[x0 + xi]) + dot(w.b, x[x0 + xi + 1u]),
                dot(w.a, x[x1 + xi]) + dot(w.b, x[x1 + xi + 1u]),
                dot(w.a, x[x2 + xi]) + dot(w.b, x[x2 + xi + 1u]),
                dot(w.a, x[x3 + xi]) + dot(w.b, x[x3 + xi + 1u]),
            );
        }
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    if (lane == 0u && row < params.rows) {
        let sum = partial[lid];
        let out = params.row_offset + row;
        for (var t = 0u; t < TT; t++) {
            if (t0 + t < params.n) {
                y[(t0 + t) * params.y_stride + out] = sum[t];
            }
        }
    }
}
