// Shared body of the quantized matvec kernels: y[t, row] = sum_c W[row, c] * x[t, c].
// Each kernel file defines BLOCK_BYTES, BLOCK_ELEMS and unit_dot (the dot product of 8
// consecutive weights of one block with x), then calls matvec_row from its entry point.
// One workgroup per (output row, activation row); its 64 threads split the row into units of
// 8 weights and sum them in workgroup memory. Arithmetic is f32, integers u32/i32.

struct Params {
    rows: u32,
    cols: u32,
    n: u32,
    // Workgroups along x: row = workgroup_id.x + workgroup_id.y * groups_x (rows can exceed
    // the 65535 workgroups a dimension allows, e.g. a 262144-row output head).
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

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
    let row = wid.x + wid.y * params.groups_x;
    if (row >= params.rows) {
        return;
    }
    let t = wid.z;
    let nb = params.cols / BLOCK_ELEMS;
    let units = params.cols / 8u;
    let units_per_block = BLOCK_ELEMS / 8u;
    let xoff = t * params.cols;
    var acc = 0.0;
    for (var u = lid; u < units; u += WG) {
        let b = u / units_per_block;
        let k = u % units_per_block;
        acc += unit_dot((row * nb + b) * BLOCK_BYTES, k, (xoff + u * 8u) >> 2u);
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        y[t * params.rows + row] = partial[0];
    }
}
