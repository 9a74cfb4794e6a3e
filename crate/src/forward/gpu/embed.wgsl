// Token embedding rows from a Q8_0 matrix (34-byte blocks {f16 d, 32 x i8 q}), dequantized
// then scaled, in ggml's order: out = (q * d) * scale. One invocation per output value. A table
// too large for one binding comes in parts of rows: one dispatch per part, each writing the rows
// of the ids it holds (the host checks that every id is in the table).

struct Params {
    n: u32,
    cols: u32,
    // Rows of this part and the id of its first row.
    part_rows: u32,
    scale: f32,
    groups_x: u32,
    row_start: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(64)
fn embed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * params.groups_x) * 64u + lid;
    if (i >= params.n * params.cols) {
        return;
    }
    let t = i / params.cols;
    let c = i % params.cols;
    let global = ids[t];
    if (global < params.row_start || global - params.row_start >= params.part_rows) {
        return;
    }
    let id = global - params.row_start;
    let boff = (id * (params.cols / 32u) + c / 32u) * 34u;
    let d = f16_bits_to_f32(load_u16_at(boff));
    let q = bitcast<i32>(load_u8_at(boff + 2u + c % 32u) << 24u) >> 24u;
    out[i] = (f32(q) * d) * params.scale;
}
