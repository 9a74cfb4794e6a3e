// Shared body of the float matvec kernels (F32, F16), after matvec.wgsl. Each kernel file
// defines BLOCK_BYTES, BLOCK_ELEMS and unit_weights (8 consecutive weights of one block, as
// f32), then calls matvec_row from its entry point. A row's TPR invocations take every TPR-th
// unit of 8 weights; each sums dot(w, x) over its units in order, then row_sum adds the parts.

// Eight weights.
struct W8 {
    a: vec4<f32>,
    b: vec4<f32>,
}

fn matvec_row(wid: vec3<u32>, lid: u32) {
    let tl = tile(wid, lid);
    let nb = params.cols / BLOCK_ELEMS;
    let units = params.cols / 8u;
    let units_per_block = BLOCK_ELEMS / 8u;
    // The activation rows, in vec4s.
    let xr = (tile_rows(tl.t0) * params.cols) >> vec4<u32>(2u);
    var acc = vec4<f32>(0.0);
    if (tl.row < params.rows) {
        if (TT == 1u) {
            var acc1 = 0.0;
            for (var u = tl.lane; u < units; u += TPR) {
                let w = unit_weights((tl.row * nb + u / units_per_block) * BLOCK_BYTES, u % units_per_block);
                let xi = xr.x + u * 2u;
                acc1 += dot(w.a, x[xi]) + dot(w.b, x[xi + 1u]);
            }
            acc.x = acc1;
        } else {
            for (var u = tl.lane; u < units; u += TPR) {
                let w = unit_weights((tl.row * nb + u / units_per_block) * BLOCK_BYTES, u % units_per_block);
                let xi = u * 2u;
                acc += vec4<f32>(
                    dot(w.a, x[xr.x + xi]) + dot(w.b, x[xr.x + xi + 1u]),
                    dot(w.a, x[xr.y + xi]) + dot(w.b, x[xr.y + xi + 1u]),
                    dot(w.a, x[xr.z + xi]) + dot(w.b, x[xr.z + xi + 1u]),
                    dot(w.a, x[xr.w + xi]) + dot(w.b, x[xr.w + xi + 1u]),
                );
            }
        }
    }
    store_rows(tl, row_sum(lid, acc));
}
