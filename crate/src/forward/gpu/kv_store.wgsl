// Stores n rows of keys and values at positions start.. of a layer's f32 cache, rounded to f16
// precision (round to nearest even, as the CPU's half::f16::from_f32), the way llama.cpp's
// default f16 cache holds them. No f16 types: the rounding is done on the f32 bits.

struct Params {
    // n * kv_dim values to store, at offset start * kv_dim of the caches.
    len: u32,
    offset: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read> k: array<f32>;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(3) var<storage, read_write> v_cache: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// round_f16 comes from f16.wgsl.

@compute @workgroup_size(64)
fn kv_store(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * params.groups_x) * 64u + lid;
    if (i >= params.len) {
        return;
    }
    k_cache[params.offset + i] = round_f16(k[i]);
    v_cache[params.offset + i] = round_f16(v[i]);
}
