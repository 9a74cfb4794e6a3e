// Shared by every matvec kernel (float: matvec_float.wgsl, quantized: matvec_quant.wgsl):
// y[t, row] = W[row] · x[t] for a part of W's rows and n activation rows.

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
    // Always 0 (fma_exact.wgsl's opaque_zero; the quantized kernels use it).
    zero: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

fn opaque_zero() -> u32 {
    return params.zero;
}

// Scalar i of x (quantized kernels: an activation scale or sum after the q).
fn xs(i: u32) -> f32 {
    return x[i >> 2u][i & 3u];
}

// A workgroup of 64 computes RPW rows of W for TT activation rows at once; TPR invocations
// share a row and sum their parts in workgroup memory. Few invocations per row keep the
// workgroup count and the barriers down (llvmpipe and SwiftShader pay per workgroup and per
// barrier); TT activation rows per pass decode each weight once for all of them (prefill).
// RPW and TT are set by matvec.rs (its dispatch arithmetic and the kernels share one
// definition): TT = 4 for prefill, TT = 1 for a single activation row (decode), where the
// kernels take a one-row path with the same arithmetic as row 0 of the four-row one.
override RPW: u32;
override TT: u32;
override TPR: u32 = 64u / RPW;
var<workgroup> partial: array<vec4<f32>, 64>;

// The invocation's row of W, lane within the row and first activation row.
struct Tile {
    row: u32,
    lane: u32,
    t0: u32,
}

fn tile(wid: vec3<u32>, lid: u32) -> Tile {
    return Tile((wid.x + wid.y * params.groups_x) * RPW + lid / TPR, lid % TPR, wid.z * TT);
}

// Activation rows t0..t0+4, clamped to the last one (only real rows are written).
fn tile_rows(t0: u32) -> vec4<u32> {
    return min(vec4<u32>(t0, t0 + 1u, t0 + 2u, t0 + 3u), vec4<u32>(params.n - 1u));
}

// The sum of `v` over the TPR invocations of a row (stride TPR / 2 first, then halving), in the
// row's lane 0. Call in uniform control flow.
fn row_sum(lid: u32, v: vec4<f32>) -> vec4<f32> {
    partial[lid] = v;
    workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s >>= 1u) {
        if (lid % TPR < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    return partial[lid];
}

// Lane 0 writes y[t0 + t, row] = sum[t] for the tile's real activation rows.
fn store_rows(tl: Tile, sum: vec4<f32>) {
    if (tl.lane == 0u && tl.row < params.rows) {
        let out = params.row_offset + tl.row;
        for (var t = 0u; t < TT; t++) {
            if (tl.t0 + t < params.n) {
                y[(tl.t0 + t) * params.y_stride + out] = sum[t];
            }
        }
    }
}
