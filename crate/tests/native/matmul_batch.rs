//! Candle's batched (prefill) and single-row (decode) quantized matmuls must agree row by row.

use crate::common;

use tutor_runtime::forward::cpu::matmul::matmul;
use tutor_runtime::forward::weights::Loader;
use tutor_runtime::load::gguf::Gguf;
use tutor_runtime::load::shards::FileShards;

#[test]
fn batched_rows_equal_single_rows_for_every_dtype() {
    let mut src = FileShards::open(&[common::real_model_path()]).unwrap();
    let g = Gguf::read(&mut src).unwrap();
    let mut ld = Loader { g: &g, src: &mut src };
    for (name, rows, cols) in [
        ("blk.0.attn_q.weight", 1024, 640),
        ("blk.0.attn_v.weight", 256, 640),
        ("blk.0.attn_output.weight", 640, 1024),
        ("blk.0.ffn_down.weight", 640, 2048),
        ("blk.0.ffn_gate.weight", 2048, 640),
        ("token_embd.weight", 262144, 640),
    ] {
        let w = ld.matrix(name, rows, cols).unwrap();
        for n in [2, 3, 5, 6, 8] {
        let x: Vec<f32> = (0..n * cols).map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0).collect();
        let batched = matmul(&w, &x, n).unwrap();
        for r in 0..n {
            let single = matmul(&w, &x[r * cols..(r + 1) * cols], 1).unwrap();
            let b = &batched[r * rows..(r + 1) * rows];
            let max = single.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            let scale = single.iter().map(|a| a.abs()).fold(0.0f32, f32::max);
            eprintln!("{name} n={n} row {r}: max diff {max} (max |y| {scale})");
            assert!(max <= 1e-3 * scale, "{name} n={n} row {r}: max diff {max} (max |y| {scale})");
        }
        }
    }
}
