//! WebGPU kernels against plain-Rust CPU references (f32 math on the same dequantized weights,
//! accumulated in f64). On Mesa's llvmpipe (Vulkan on the CPU) they run everywhere CI does.
//!
//! Quantized matvecs (and the activation quantization they start with) must equal the CPU
//! backend's kernels bit for bit: both compute ggml's integer dot products in ggml's order.
//!
//! Error budget elsewhere: the GPU and the reference use identical dequantized weights and differ only
//! in f32 rounding and summation order, so the normalized mean squared error
//! NMSE = Σ(gpu − ref)² / Σ ref² must stay below 1e-10 for every dtype (an f32 result with a
//! few ULP of relative error gives ~1e-13), and every element within 1e-5 · Σ|w·x| of its
//! reference (a wrong block, nibble or scale moves an element by far more).
use std::sync::OnceLock;
use std::time::Instant;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Tensor};
use tutor_runtime::forward::cpu::matmul::matmul as cpu_matmul;
use tutor_runtime::forward::cpu::q8_matmul::{matmul_q8, BlockFormat, Q8Matrix};
use tutor_runtime::forward::weights::{Matrix, MatrixData};
use tutor_runtime::forward::gpu::matvec::matvec;
use tutor_runtime::forward::config::RopeStyle;
use tutor_runtime::forward::cpu::attention::AttentionShape;
use tutor_runtime::forward::gpu::rope::RopeShape;
use tutor_runtime::forward::gpu::contraction::contraction;
use tutor_runtime::forward::gpu::{add, attention, embed, gelu_gate, rmsnorm, rope, silu_gate, softmax, GpuContext, GpuError, GpuMatrix, QuantFormat};

const NMSE_BUDGET: f64 = 1e-10;
const ELEMENT_BUDGET: f64 = 1e-5;

/// The test binary's one context (`main.rs` checked that an adapter exists).
fn ctx() -> &'static GpuContext {
    super::context()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-1, 1).
    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.f32() * scale).collect()
    }
}

/// Compares `got` (n, rows) against f64 dot products of `w` (rows, cols) dequantized rows.
fn check(what: &str, got: &[f32], w: &[f32], x: &[f32], rows: usize, cols: usize, n: usize) {
    assert_eq!(got.len(), n * rows, "{what}: output length");
    let (mut err2, mut ref2) = (0f64, 0f64);
    for t in 0..n {
        for r in 0..rows {
            let (wr, xr) = (&w[r * cols..][..cols], &x[t * cols..][..cols]);
            let exact: f64 = wr.iter().zip(xr).map(|(&a, &b)| a as f64 * b as f64).sum();
            let mag: f64 = wr.iter().zip(xr).map(|(&a, &b)| (a as f64 * b as f64).abs()).sum();
            let g = got[t * rows + r] as f64;
            assert!((g - exact).abs() <= ELEMENT_BUDGET * mag + 1e-30, "{what}: y[{t}, {r}] = {g}, reference {exact} (Σ|w·x| = {mag})");
            err2 += (g - exact).powi(2);
            ref2 += exact.powi(2);
        }
    }
    let nmse = err2 / ref2.max(f64::MIN_POSITIVE);
    eprintln!("{what}: NMSE {nmse:.2e}");
    assert!(nmse < NMSE_BUDGET, "{what}: NMSE {nmse:e} over the budget {NMSE_BUDGET:e}");
}

/// Whether the adapter's shader compiler fuses a written `a * b + c` into one fma (the
/// `contraction` probe, run at device creation; WGSL allows it). NVIDIA's Vulkan driver does,
/// llvmpipe and SwiftShader do not. Only where it does not can every kernel be expected to
/// round exactly as the CPU does.
fn fuses(ctx: &GpuContext) -> bool {
    static SAID: OnceLock<()> = OnceLock::new();
    let r = ctx.rounding;
    SAID.get_or_init(|| eprintln!("{}: {r:?}", ctx.adapter_info));
    r.fuses_mul_add
}

/// `got` must equal `want` (the CPU backend's) bit for bit, on an adapter that evaluates the
/// kernels' f32 arithmetic as written; on one that fuses multiply-adds, within the NMSE budget.
fn check_exact(ctx: &GpuContext, what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: output length");
    let differ: Vec<usize> = (0..got.len()).filter(|&i| got[i].to_bits() != want[i].to_bits()).collect();
    eprintln!("{what}: {} of {} outputs differ from the reference", differ.len(), got.len());
    let Some(&i) = differ.first() else { return };
    if fuses(ctx) {
        let err2: f64 = got.iter().zip(want).map(|(&g, &w)| (g as f64 - w as f64).powi(2)).sum();
        let ref2: f64 = want.iter().map(|&w| (w as f64).powi(2)).sum();
        let nmse = err2 / ref2.max(f64::MIN_POSITIVE);
        eprintln!("{what}: the adapter fuses multiply-adds, so bit-equality is not expected; NMSE {nmse:.2e}");
        assert!(nmse < NMSE_BUDGET, "{what}: NMSE {nmse:e} over the budget {NMSE_BUDGET:e}");
        return;
    }
    panic!("{what}: y[{i}] = {} (bits {:#x}), reference {} (bits {:#x}); {} differ", got[i], got[i].to_bits(), want[i], want[i].to_bits(), differ.len());
}

/// `got` must equal `want` bit for bit (two runs of the same kernels).
fn check_identical(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: output length");
    let differ = (0..got.len()).filter(|&i| got[i].to_bits() != want[i].to_bits()).count();
    eprintln!("{what}: {differ} of {} outputs differ", got.len());
    assert_eq!(differ, 0, "{what}: {differ} outputs differ");
}

/// Random Q8_0/Q5_0 blocks with varied f16 scales: negative, tiny (subnormal) and large ones.
fn random_q8_blocks(format: BlockFormat, rows: usize, cols: usize, rng: &mut Rng) -> Vec<u8> {
    let mut blocks = Vec::with_capacity(rows * cols / 32 * format.bytes());
    for _ in 0..rows * cols / 32 {
        let d = match rng.next() % 16 {
            0 => half::f16::from_bits((rng.next() % 0x3ff) as u16 + 1), // subnormal
            1 => half::f16::from_f32(-0.5 * rng.f32().abs() - 0.01),
            2 => half::f16::from_f32(300.0 * rng.f32()),
            _ => half::f16::from_f32(0.02 * rng.f32()),
        };
        blocks.extend_from_slice(&d.to_le_bytes());
        blocks.extend((0..format.bytes() - 2).map(|_| rng.next() as u8));
    }
    blocks
}

fn run_q8_style(format: BlockFormat, gpu_format: QuantFormat, name: &str) {
    let ctx = ctx();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ format.bytes() as u64);
    for (rows, cols, n) in [(256, 640, 1), (640, 2048, 1), (2048, 640, 1), (37, 96, 3), (333, 640, 2)] {
        let blocks = random_q8_blocks(format, rows, cols, &mut rng);
        let x = rng.vec(n * cols, 4.0);
        let cpu = Q8Matrix { format, blocks: blocks.clone(), rows, cols };
        let want: Vec<f32> = x.chunks_exact(cols).flat_map(|xr| matmul_q8(&cpu, xr, 1)).collect();
        let gm = GpuMatrix::upload(ctx, name, gpu_format, rows, cols, &blocks).expect("upload");
        let t0 = Instant::now();
        let got = matvec(ctx, &gm, &x, n).expect("matvec");
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        check_exact(ctx, &format!("{name} ({rows}, {cols}) × {n} [{ms:.1} ms]"), &got, &want);
    }
}

fn matvec_q8_0_equals_cpu() {
    run_q8_style(BlockFormat::Q8_0, QuantFormat::Q8_0, "matvec_q8_0");
}

fn matvec_q5_0_equals_cpu() {
    run_q8_style(BlockFormat::Q5_0, QuantFormat::Q5_0, "matvec_q5_0");
}

/// Row counts that are multiples of 16 take candle's repacked-tile order on x86, the others
/// its vec_dot: both orders, single rows and batches.
const K_QUANT_SHAPES: [(usize, usize, usize); 6] = [(256, 512, 1), (640, 2048, 1), (2048, 768, 1), (37, 256, 3), (333, 1024, 2), (48, 512, 5)];

fn run_k_quant(dtype: GgmlDType, gpu_format: QuantFormat, name: &str) {
    run_candle_quantized(dtype, gpu_format, name, &K_QUANT_SHAPES);
}

/// Weights quantized by candle to `dtype`, `(rows, cols, n)` products on the GPU against the
/// CPU backend's (or, for floats, the f64 reference).
fn run_candle_quantized(dtype: GgmlDType, gpu_format: QuantFormat, name: &str, shapes: &[(usize, usize, usize)]) {
    let ctx = ctx();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ gpu_format.block_bytes() as u64);
    for &(rows, cols, n) in shapes {
        // Mixed magnitudes per 32-weight group, so the 6-bit sub-block scales and mins vary.
        let data: Vec<f32> = (0..rows * cols)
            .map(|i| {
                let group = (i / 32) as u64;
                let s = 0.01 + (group.wrapping_mul(0x9e37_79b9) % 97) as f32 / 40.0;
                rng.f32() * s + if group.is_multiple_of(5) { 0.5 * s } else { 0.0 }
            })
            .collect();
        let t = Tensor::from_vec(data, (rows, cols), &Device::Cpu).expect("tensor");
        let q = QTensor::quantize(&t, dtype).expect("quantize");
        let bytes = q.data().expect("data").into_owned();
        let w: Vec<f32> = q.dequantize(&Device::Cpu).and_then(|d| d.flatten_all()).and_then(|d| d.to_vec1()).expect("dequantize");
        let x = rng.vec(n * cols, 4.0);
        let gm = GpuMatrix::upload(ctx, name, gpu_format, rows, cols, &bytes).expect("upload");
        let t0 = Instant::now();
        let got = matvec(ctx, &gm, &x, n).expect("matvec");
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let what = format!("{name} ({rows}, {cols}) × {n} [{ms:.1} ms]");
        if matches!(gpu_format, QuantFormat::F32 | QuantFormat::F16) {
            check(&what, &got, &w, &x, rows, cols, n);
        } else {
            // The CPU backend's product (`cpu::matmul`: candle's quantized matmul, on x86_64
            // its repacked tiles or ggml's AVX2 vec_dot by candle's own rule, which the GPU
            // follows, `matvec::chain_order`).
            let m = Matrix { data: MatrixData::Candle(QMatMul::from_qtensor(q).expect("qmatmul")), rows, cols };
            let want = cpu_matmul(&m, &x, n).expect("cpu matmul");
            check_exact(ctx, &what, &got, &want);
        }
    }
}

fn matvec_q4_k_equals_cpu() {
    run_k_quant(GgmlDType::Q4K, QuantFormat::Q4K, "matvec_q4_k");
}

fn matvec_q6_k_equals_cpu() {
    run_k_quant(GgmlDType::Q6K, QuantFormat::Q6K, "matvec_q6_k");
}

fn matvec_splits_more_rows_than_one_dispatch_dimension_holds() {
    let ctx = ctx();
    // 70,000 rows > 65,535 workgroups per dimension: rows wrap into workgroup_id.y.
    let (rows, cols) = (70_000, 32);
    let mut rng = Rng(77);
    let blocks = random_q8_blocks(BlockFormat::Q8_0, rows, cols, &mut rng);
    let x = rng.vec(cols, 1.0);
    let cpu = Q8Matrix { format: BlockFormat::Q8_0, blocks: blocks.clone(), rows, cols };
    let gm = GpuMatrix::upload(ctx, "tall", QuantFormat::Q8_0, rows, cols, &blocks).expect("upload");
    let got = matvec(ctx, &gm, &x, 1).expect("matvec");
    check_exact(ctx, "matvec_q8_0 (70000, 32)", &got, &matmul_q8(&cpu, &x, 1));
}

fn contraction_probe_gives_one_of_the_two_roundings() {
    let ctx = ctx();
    // Either answer is a valid adapter; anything else (an error) is a broken one. The context
    // ran the same probe when it was created.
    let r = contraction(ctx).expect("contraction probe");
    eprintln!("{}: {r:?}", ctx.adapter_info);
    assert_eq!(r, ctx.rounding, "the probe answers the same twice");
}

fn rmsnorm_equals_cpu() {
    let ctx = ctx();
    let mut rng = Rng(5);
    for (rows, len) in [(1, 640), (7, 640), (5, 2048), (3, 256), (2, 1000), (4, 640), (3, 1003), (2, 1029)] {
        // Gemma-like rows: values in the hundreds (the residual stream), so order matters.
        let x = rng.vec(rows * len, if rows == 4 { 300.0 } else { 3.0 });
        let weight = rng.vec(len, 2.0);
        let mut want = vec![0f32; x.len()];
        tutor_runtime::forward::cpu::rmsnorm::rmsnorm(&mut want, &x, &weight, 1e-6);
        let got = rmsnorm::rmsnorm(ctx, &x, &weight, 1e-6).expect("rmsnorm");
        let err2: f64 = got.iter().zip(&want).map(|(&g, &w)| (g as f64 - w as f64).powi(2)).sum();
        let ref2: f64 = want.iter().map(|&w| (w as f64).powi(2)).sum();
        let nmse = err2 / ref2;
        eprintln!("rmsnorm ({rows}, {len}): NMSE {nmse:.2e}");
        assert!(nmse < NMSE_BUDGET, "rmsnorm ({rows}, {len}): NMSE {nmse:e}");
        // The CPU op's order and correctly rounded sqrt and division: bit for bit.
        check_exact(ctx, &format!("rmsnorm ({rows}, {len})"), &got, &want);
    }
}

fn shape_errors_are_typed_not_panics() {
    let ctx = ctx();
    let short = vec![0u8; 33];
    assert!(matches!(GpuMatrix::upload(ctx, "w", QuantFormat::Q8_0, 1, 32, &short), Err(GpuError::Shape(_))));
    assert!(matches!(GpuMatrix::upload(ctx, "w", QuantFormat::Q4K, 1, 32, &[0u8; 144]), Err(GpuError::Shape(_))));
    let gm = GpuMatrix::upload(ctx, "w", QuantFormat::Q8_0, 1, 32, &[0u8; 34]).expect("upload");
    assert!(matches!(matvec(ctx, &gm, &[0.0; 31], 1), Err(GpuError::Shape(_))));
    assert!(matches!(rmsnorm::rmsnorm(ctx, &[0.0; 5], &[1.0; 2], 1e-6), Err(GpuError::Shape(_))));
}

/// Decode-shaped throughput (one activation row), printed; the assertion is only correctness
/// of the first row. On llvmpipe this measures the CPU rasterizer, not a GPU.
fn matvec_throughput_report() {
    let ctx = ctx();
    let (rows, cols) = (4096, 2048);
    let mut rng = Rng(11);
    for (format, name) in [(QuantFormat::Q8_0, "matvec_q8_0"), (QuantFormat::Q5_0, "matvec_q5_0"), (QuantFormat::Q4_1, "matvec_q4_1"), (QuantFormat::Q4K, "matvec_q4_k"), (QuantFormat::Q6K, "matvec_q6_k")] {
        let bytes: Vec<u8> = match format {
            QuantFormat::Q8_0 => random_q8_blocks(BlockFormat::Q8_0, rows, cols, &mut rng),
            QuantFormat::Q5_0 => random_q8_blocks(BlockFormat::Q5_0, rows, cols, &mut rng),
            // Any bytes are valid K-quant or Q4_1 blocks except f16 NaN/inf scales; keep the
            // scales (and Q4_K's and Q4_1's second f16) small.
            _ => {
                let mut b: Vec<u8> = (0..rows * cols / format.block_elems() * format.block_bytes()).map(|_| rng.next() as u8).collect();
                for blk in b.chunks_exact_mut(format.block_bytes()) {
                    let at = if format == QuantFormat::Q6K { 208 } else { 0 };
                    blk[at + 1] = 0x20;
                    if format != QuantFormat::Q6K {
                        blk[3] = 0x20;
                    }
                }
                b
            }
        };
        let gm = GpuMatrix::upload(ctx, name, format, rows, cols, &bytes).expect("upload");
        let x = ctx.output_f32("x", format.activation_len(cols)).expect("x");
        let x_host = rng.vec(cols, 1.0);
        let x_f32 = ctx.upload_f32("x f32", &x_host).expect("x f32");
        let mut enc = ctx.encoder("quantize");
        tutor_runtime::forward::gpu::matvec::encode_activations(ctx, &mut enc, format, &x_f32, &x, cols).expect("quantize");
        ctx.submit_and_wait(enc).expect("quantize");
        let y = ctx.output_f32("y", rows).expect("y");
        let iters = 5;
        let mut enc = ctx.encoder("warmup");
        tutor_runtime::forward::gpu::matvec::encode_matvec(ctx, &mut enc, &gm, &x, &y, 1).expect("encode");
        ctx.submit_and_wait(enc).expect("warmup");
        let t0 = Instant::now();
        let mut enc = ctx.encoder("bench");
        for _ in 0..iters {
            tutor_runtime::forward::gpu::matvec::encode_matvec(ctx, &mut enc, &gm, &x, &y, 1).expect("encode");
        }
        ctx.submit_and_wait(enc).expect("bench");
        let s = t0.elapsed().as_secs_f64() / iters as f64;
        let out = ctx.read_f32(None, &y, rows).expect("read");
        // The timed dispatches computed what the CPU-checked `matvec` computes (the
        // `*_equals_cpu` tests), bit for bit: the timing is of the right work.
        let want = matvec(ctx, &gm, &x_host, 1).expect("matvec");
        assert!(out.iter().all(|v| v.is_finite()), "{name}: non-finite output");
        assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{name}: the timed output differs from matvec's");
        eprintln!(
            "{name} ({rows}, {cols}) decode: {:.2} ms/matvec, {:.2} GB/s of weights, {:.2} GFLOP/s on {}",
            s * 1e3,
            bytes.len() as f64 / s / 1e9,
            2.0 * (rows * cols) as f64 / s / 1e9,
            ctx.adapter_info
        );
    }
}

/// NMSE of `got` against `want`, and the largest |got − want| / max(|want|, floor).
fn errors(got: &[f32], want: &[f32], floor: f32) -> (f64, f64) {
    assert_eq!(got.len(), want.len(), "length");
    let err2: f64 = got.iter().zip(want).map(|(&g, &w)| (g as f64 - w as f64).powi(2)).sum();
    let ref2: f64 = want.iter().map(|&w| (w as f64).powi(2)).sum();
    let rel = got.iter().zip(want).map(|(&g, &w)| ((g - w).abs() / w.abs().max(floor)) as f64).fold(0.0, f64::max);
    (err2 / ref2.max(f64::MIN_POSITIVE), rel)
}

/// Asserts NMSE < NMSE_BUDGET and every element within `rel_budget` · max(|ref|, floor).
fn check_close(what: &str, got: &[f32], want: &[f32], floor: f32, rel_budget: f64) {
    assert!(got.iter().all(|v| v.is_finite()), "{what}: non-finite output");
    let (nmse, rel) = errors(got, want, floor);
    eprintln!("{what}: NMSE {nmse:.2e}, max rel err {rel:.2e}");
    assert!(nmse < NMSE_BUDGET, "{what}: NMSE {nmse:e} over {NMSE_BUDGET:e}");
    assert!(rel <= rel_budget, "{what}: max relative error {rel:e} over {rel_budget:e}");
}

/// RoPE budget: the host computes the frequencies with the CPU's expression, so angles are
/// identical; only sin/cos (after an exact-ish reduction to [-π, π]) differ. Every element
/// within 2e-6 of the reference relative to the larger of its pair's norm (rotations keep it).
fn rope_matches_cpu() {
    let ctx = ctx();
    let mut rng = Rng(21);
    for style in [RopeStyle::Normal, RopeStyle::Neox] {
        for (rows, n_heads, head_dim, start_pos, theta) in [(1, 4, 64, 0, 10_000.0f32), (1, 8, 256, 8191, 1_000_000.0), (7, 4, 128, 3, 10_000.0), (5, 1, 256, 30_000, 10_000.0), (3, 2, 2, 17, 10_000.0)] {
            let x = rng.vec(rows * n_heads * head_dim, 2.0);
            let mut want = x.clone();
            for (r, row) in want.chunks_exact_mut(n_heads * head_dim).enumerate() {
                tutor_runtime::forward::cpu::rope::rope(row, head_dim, start_pos + r, theta, style, None);
            }
            let s = RopeShape { rows, n_heads, head_dim, start_pos, theta, style };
            let got = rope::rope(ctx, &x, &s).expect("rope");
            let what = format!("rope {style:?} ({rows}, {n_heads}×{head_dim}) @ {start_pos}");
            assert!(got.iter().all(|v| v.is_finite()), "{what}: non-finite");
            let (nmse, _) = errors(&got, &want, 1e-3);
            let max_abs = got.iter().zip(&want).map(|(&g, &w)| (g - w).abs()).fold(0f32, f32::max);
            eprintln!("{what}: NMSE {nmse:.2e}, max abs err {max_abs:.2e} (inputs ≤ 2)");
            assert!(nmse < NMSE_BUDGET, "{what}: NMSE {nmse:e}");
            assert!(max_abs <= 2e-6 * 2.0 * 2f32.sqrt(), "{what}: max abs err {max_abs:e}");
        }
    }
}

/// Gated activations: GELU (glibc's tanhf, ported to both backends) and SiLU (the shared
/// `expf`), each division correctly rounded: bit-identical to the CPU.
fn gated_activations_match_cpu() {
    let ctx = ctx();
    let mut rng = Rng(33);
    for len in [1, 63, 640, 2048 * 3 + 5, 200_000] {
        let mut gate = rng.vec(len, 6.0);
        // Include large magnitudes, where tanh and exp saturate, and tiny ones.
        if len > 10 {
            gate[0] = 40.0;
            gate[1] = -40.0;
            gate[2] = 0.0;
            gate[3] = 1e-4;
            gate[4] = -95.0;
        }
        let up = rng.vec(len, 3.0);
        let mut want = gate.clone();
        tutor_runtime::forward::cpu::gelu::gelu_gate(&mut want, &up);
        let got = gelu_gate::gelu_gate(ctx, &gate, &up).expect("gelu_gate");
        check_exact(ctx, &format!("gelu_gate ({len})"), &got, &want);
        let mut want = gate.clone();
        tutor_runtime::forward::cpu::silu::silu_gate(&mut want, &up);
        let got = silu_gate::silu_gate(ctx, &gate, &up).expect("silu_gate");
        check_exact(ctx, &format!("silu_gate ({len})"), &got, &want);
    }
}

/// Residual add is one f32 addition per element: bit-identical to the CPU.
fn add_is_exact() {
    let ctx = ctx();
    let mut rng = Rng(44);
    for len in [1, 640, 70_001] {
        let a = rng.vec(len, 5.0);
        let b = rng.vec(len, 5.0);
        let want: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        let got = add::add(ctx, &a, &b).expect("add");
        assert_eq!(got, want, "add ({len})");
    }
}

/// Softmax: bit-identical to the CPU op (the shared `expf`, the workgroup's summation order,
/// a correctly rounded reciprocal), and every probability within 1e-5 relative error of an
/// f64 softmax (floored at 1e-12).
fn softmax_matches_cpu() {
    let ctx = ctx();
    let mut rng = Rng(55);
    for (rows, len) in [(1, 1), (1, 7), (4, 640), (3, 5000), (2, 262_144)] {
        let mut x = rng.vec(rows * len, 20.0);
        x[0] = 1000.0; // large logits must not overflow
        let mut want = x.clone();
        for r in want.chunks_exact_mut(len) {
            tutor_runtime::forward::cpu::softmax::softmax(r);
        }
        let got = softmax::softmax(ctx, &x, len).expect("softmax");
        check_exact(ctx, &format!("softmax ({rows}, {len})"), &got, &want);
        let mut exact = x.clone();
        for (w, xr) in exact.chunks_exact_mut(len).zip(x.chunks_exact(len)) {
            let m = xr.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let sum: f64 = xr.iter().map(|&v| (v as f64 - m).exp()).sum();
            for (o, &v) in w.iter_mut().zip(xr) {
                *o = ((v as f64 - m).exp() / sum) as f32;
            }
        }
        check_close(&format!("softmax ({rows}, {len}) against f64"), &got, &exact, 1e-12, 1e-5);
    }
}

/// Attention: bit-identical to the CPU op (q · k in its 8 lanes, its softmax, the weighted sum
/// over positions in order).
fn attention_matches_cpu() {
    let ctx = ctx();
    let mut rng = Rng(66);
    // (n, start_pos, n_heads, n_kv_heads, head_dim, window)
    for (n, start_pos, n_heads, n_kv_heads, head_dim, window) in [
        (1, 0, 4, 1, 256, None),
        (1, 300, 4, 1, 256, None),
        (1, 300, 4, 1, 256, Some(64)),
        (17, 0, 4, 2, 64, None),
        (9, 40, 8, 8, 32, Some(16)),
        (33, 100, 6, 2, 128, Some(512)),
        (5, 3, 2, 1, 2, Some(1)),
    ] {
        let s = AttentionShape { n_heads, n_kv_heads, head_dim, scale: 1.0 / (head_dim as f32).sqrt(), window };
        let positions = start_pos + n;
        let q = rng.vec(n * n_heads * head_dim, 2.0);
        let k = rng.vec(positions * n_kv_heads * head_dim, 2.0);
        let v = rng.vec(positions * n_kv_heads * head_dim, 1.0);
        let want = tutor_runtime::forward::cpu::attention::attention(&q, &k, &v, start_pos, &s);
        let got = attention::attention(ctx, &q, &k, &v, start_pos, &s).expect("attention");
        check_exact(ctx, &format!("attention n={n} @ {start_pos} {n_heads}/{n_kv_heads}×{head_dim} window {window:?}"), &got, &want);
    }
}

/// Embedding rows: the same two f32 products in the same order as the CPU, so bit-identical.
fn embed_matches_cpu_exactly() {
    let ctx = ctx();
    let mut rng = Rng(88);
    let (rows, cols) = (300, 640);
    let blocks = random_q8_blocks(BlockFormat::Q8_0, rows, cols, &mut rng);
    let cpu = Q8Matrix { format: BlockFormat::Q8_0, blocks: blocks.clone(), rows, cols };
    let table = tutor_runtime::forward::weights::Matrix {
        data: tutor_runtime::forward::weights::MatrixData::Q8(std::sync::Arc::new(cpu)),
        rows,
        cols,
    };
    let gm = GpuMatrix::upload(ctx, "embed table", QuantFormat::Q8_0, rows, cols, &blocks).expect("upload");
    let ids = [0u32, 299, 7, 7, 150];
    let scale = (cols as f32).sqrt();
    let want = tutor_runtime::forward::cpu::embed::embed(&table, &ids, scale).expect("cpu embed");
    let got = embed::embed(ctx, &gm, &ids, scale).expect("embed");
    assert_eq!(got, want);
    assert!(matches!(embed::embed(ctx, &gm, &[300], 1.0), Err(GpuError::Shape(_))));
}

fn new_op_shape_errors_are_typed() {
    let ctx = ctx();
    assert!(matches!(add::add(ctx, &[0.0; 3], &[0.0; 2]), Err(GpuError::Shape(_))));
    assert!(matches!(gelu_gate::gelu_gate(ctx, &[0.0; 3], &[0.0; 4]), Err(GpuError::Shape(_))));
    assert!(matches!(silu_gate::silu_gate(ctx, &[0.0; 3], &[0.0; 4]), Err(GpuError::Shape(_))));
    assert!(matches!(softmax::softmax(ctx, &[0.0; 5], 2), Err(GpuError::Shape(_))));
    assert!(matches!(softmax::softmax(ctx, &[], 0), Err(GpuError::Shape(_))));
    let odd = RopeShape { rows: 1, n_heads: 1, head_dim: 3, start_pos: 0, theta: 1e4, style: RopeStyle::Neox };
    assert!(matches!(rope::rope(ctx, &[0.0; 3], &odd), Err(GpuError::Shape(_))));
    let s = RopeShape { head_dim: 4, ..odd };
    assert!(matches!(rope::rope(ctx, &[0.0; 5], &s), Err(GpuError::Shape(_))));
    let a = AttentionShape { n_heads: 3, n_kv_heads: 2, head_dim: 4, scale: 1.0, window: None };
    assert!(matches!(attention::attention(ctx, &[0.0; 12], &[0.0; 8], &[0.0; 8], 0, &a), Err(GpuError::Shape(_))));
    let a = AttentionShape { n_heads: 2, n_kv_heads: 1, head_dim: 4, scale: 1.0, window: None };
    // Cache shorter than start_pos + n positions.
    assert!(matches!(attention::attention(ctx, &[0.0; 8], &[0.0; 4], &[0.0; 4], 1, &a), Err(GpuError::Shape(_))));
    // Encoding with a too-small buffer is a Shape error too.
    let small = ctx.output_f32("small", 2).expect("buffer");
    let mut enc = ctx.encoder("shape");
    assert!(matches!(add::encode_add(ctx, &mut enc, &small, &small, 3), Err(GpuError::Shape(_))));
}

fn matvec_q4_0_equals_cpu() {
    run_k_quant(GgmlDType::Q4_0, QuantFormat::Q4_0, "matvec_q4_0");
}

/// Q4_1 (the default SmolLM2's weights): the K-quant shapes, SmolLM2's own (576 = 18 blocks,
/// 1536 = 48: chunks of 16 blocks with a tail), an odd number of blocks (3, 17), row tails
/// (37, 19, 333) and batches with a tail tile (5, 7 rows).
fn matvec_q4_1_equals_cpu() {
    let smollm2 = [(576, 576, 1), (1536, 576, 7), (576, 1536, 1), (192, 576, 4), (37, 96, 5), (19, 544, 2), (333, 1056, 3)];
    let shapes: Vec<_> = K_QUANT_SHAPES.iter().chain(&smollm2).copied().collect();
    run_candle_quantized(GgmlDType::Q4_1, QuantFormat::Q4_1, "matvec_q4_1", &shapes);
}

fn matvec_f16_matches_reference() {
    run_k_quant(GgmlDType::F16, QuantFormat::F16, "matvec_f16");
}

fn matvec_f32_matches_reference() {
    run_k_quant(GgmlDType::F32, QuantFormat::F32, "matvec_f32");
}

/// A single activation row (every decode step) runs the kernels' one-row pipeline (TT = 1),
/// several rows the four-row one (TT = 4): for every format, each row of a 5-row batch must
/// equal the same row run alone, bit for bit (same arithmetic, same summation order).
fn matvec_single_row_equals_its_row_in_a_batch() {
    let ctx = ctx();
    let mut rng = Rng(0x5151_7e57);
    let formats = [
        (GgmlDType::F32, QuantFormat::F32),
        (GgmlDType::F16, QuantFormat::F16),
        (GgmlDType::Q4_0, QuantFormat::Q4_0),
        (GgmlDType::Q4_1, QuantFormat::Q4_1),
        (GgmlDType::Q8_0, QuantFormat::Q8_0),
        (GgmlDType::Q5_0, QuantFormat::Q5_0),
        (GgmlDType::Q4K, QuantFormat::Q4K),
        (GgmlDType::Q6K, QuantFormat::Q6K),
    ];
    // 48 rows: the K-quants take candle's tile order (matvec_chain.wgsl).
    for ((dtype, format), (rows, cols, n)) in formats.iter().copied().flat_map(|f| [(f, (333, 1024, 5)), (f, (48, 512, 3))]) {
        let data: Vec<f32> = (0..rows * cols).map(|i| rng.f32() * (0.05 + (i / 32 % 13) as f32 * 0.1)).collect();
        let t = Tensor::from_vec(data, (rows, cols), &Device::Cpu).expect("tensor");
        let bytes = QTensor::quantize(&t, dtype).and_then(|q| q.data().map(|d| d.into_owned())).expect("quantize");
        let gm = GpuMatrix::upload(ctx, "w", format, rows, cols, &bytes).expect("upload");
        let x = rng.vec(n * cols, 3.0);
        let batch = matvec(ctx, &gm, &x, n).expect("batch");
        for (i, xr) in x.chunks_exact(cols).enumerate() {
            let one = matvec(ctx, &gm, xr, 1).expect("one row");
            check_identical(&format!("{format:?} ({rows}, {cols}) row {i} alone vs in a batch of {n}"), &one, &batch[i * rows..][..rows]);
        }
    }
}

fn add_bias_is_exact() {
    let ctx = ctx();
    let mut rng = Rng(45);
    for (rows, len) in [(1, 1024), (7, 256), (300, 640)] {
        let x = rng.vec(rows * len, 5.0);
        let b = rng.vec(len, 2.0);
        let mut want = x.clone();
        tutor_runtime::forward::cpu::matmul::add_bias(&mut want, &b);
        let got = tutor_runtime::forward::gpu::add_bias::add_bias(ctx, &x, &b).expect("add_bias");
        assert_eq!(got, want, "add_bias ({rows}, {len})");
    }
}

/// The cache stores exactly `half::f16::from_f32(v).to_f32()` (round to nearest even),
/// including subnormals, ties, overflow to infinity and values around 65504.
fn kv_store_rounds_exactly_like_half() {
    let ctx = ctx();
    let mut rng = Rng(46);
    let kv_dim = 64;
    let mut k = rng.vec(3 * kv_dim, 3.0);
    let specials = [0.0, -0.0, 1e-8, -3e-7, 6.1e-5, 6.103515625e-5, 65504.0, 65519.0, 65520.0, -70000.0, 1.0 + 1.0 / 2048.0, 1.0 + 3.0 / 2048.0, 2.9802322e-8];
    k[..specials.len()].copy_from_slice(&specials);
    let v: Vec<f32> = k.iter().map(|x| x * -7.3).collect();
    let cache = vec![9.0f32; 8 * kv_dim];
    let (kc, vc) = tutor_runtime::forward::gpu::kv_store::kv_store(ctx, &k, &v, &cache, &cache, 2, kv_dim).expect("kv_store");
    let round = |x: f32| half::f16::from_f32(x).to_f32();
    for i in 0..8 * kv_dim {
        let (wk, wv) = if (2 * kv_dim..5 * kv_dim).contains(&i) { (round(k[i - 2 * kv_dim]), round(v[i - 2 * kv_dim])) } else { (9.0, 9.0) };
        assert_eq!(kc[i].to_bits(), wk.to_bits(), "k_cache[{i}]");
        assert_eq!(vc[i].to_bits(), wv.to_bits(), "v_cache[{i}]");
    }
}

/// Activation rounding for Q8_0-family weights against the CPU backend's (ggml's) rule, exactly
/// (WGSL's division may be off by an ulp; the kernel corrects it).
fn quantize_q8_0_matches_cpu_rounding() {
    let ctx = ctx();
    let mut rng = Rng(47);
    let mut x = rng.vec(64 * 32, 10.0);
    x[32..64].fill(0.0); // an all-zero block
    let got = tutor_runtime::forward::gpu::quantize_q8_0::quantize_q8_0(ctx, &x).expect("quantize");
    let (mut exact, mut total) = (0, 0);
    for (b, (xb, gb)) in x.chunks(32).zip(got.chunks(32)).enumerate() {
        let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = amax / 127.0;
        let inv = if scale != 0.0 { 1.0 / scale } else { 0.0 };
        let d = half::f16::from_f32(scale).to_f32();
        for (&v, &g) in xb.iter().zip(gb) {
            let want = d * (v * inv).round();
            total += 1;
            exact += usize::from(want == g);
            assert!((want - g).abs() <= d * 1.0001, "block {b}: {g} vs {want}");
        }
    }
    assert_eq!(exact, total, "{exact}/{total} exact");
}

/// Activation quantization for Q4_1 weights against candle's Q8_1 blocks, field by field and
/// exactly: q, the f16 scale d and the f16 s = f16(Σq) · d (sums past 2048, where f16 rounds
/// the integer, included).
fn quantize_q8_1_matches_candle() {
    let ctx = ctx();
    let mut rng = Rng(50);
    let mut x = rng.vec(48 * 32, 6.0);
    x[32..64].fill(0.0); // an all-zero block
    for v in &mut x[64..256] {
        *v = 3.0 + 0.5 * v.abs(); // positive blocks: Σq in the thousands
    }
    let t = Tensor::from_vec(x.clone(), (48, 32), &Device::Cpu).expect("tensor");
    let bytes = QTensor::quantize(&t, GgmlDType::Q8_1).and_then(|q| q.data().map(|d| d.into_owned())).expect("candle Q8_1");
    let (q, d, s) = tutor_runtime::forward::gpu::quantize_q8_1::quantize_q8_1(ctx, &x).expect("quantize");
    let f16 = |b: &[u8]| half::f16::from_le_bytes([b[0], b[1]]).to_f32();
    let mut rounded_sums = 0;
    for (b, blk) in bytes.chunks_exact(36).enumerate() {
        assert_eq!(d[b].to_bits(), f16(&blk[0..2]).to_bits(), "block {b}: d");
        assert_eq!(s[b].to_bits(), f16(&blk[2..4]).to_bits(), "block {b}: s");
        let sum: i32 = blk[4..].iter().map(|&v| v as i8 as i32).sum();
        rounded_sums += usize::from(sum.abs() > 2048 && sum % 2 != 0);
        for (j, &v) in blk[4..].iter().enumerate() {
            assert_eq!(q[b * 32 + j], v as i8 as f32, "block {b}: q[{j}]");
        }
    }
    assert!(rounded_sums > 0, "no block's Σq was rounded by f16");
}

/// Activation rounding for K-quant weights against candle's Q8_K quantization.
fn quantize_q8_k_matches_candle() {
    let ctx = ctx();
    let mut rng = Rng(48);
    let mut x = rng.vec(8 * 256, 6.0);
    x[256..512].fill(0.0);
    let t = Tensor::from_vec(x.clone(), (8, 256), &Device::Cpu).expect("tensor");
    let want: Vec<f32> = QTensor::quantize(&t, GgmlDType::Q8K)
        .and_then(|q| q.dequantize(&Device::Cpu))
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.to_vec1())
        .expect("candle Q8_K");
    let got = tutor_runtime::forward::gpu::quantize_q8_k::quantize_q8_k(ctx, &x).expect("quantize");
    let exact = got.iter().zip(&want).filter(|(a, b)| a == b).count();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let amax = x[i / 256 * 256..][..256].iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!((g - w).abs() <= amax / 127.0 * 1.0001, "x[{i}]: {g} vs {w}");
    }
    assert_eq!(exact, got.len(), "{exact}/{} exact", got.len());
}

/// Top-k over a Gemma-sized vocabulary with many ties, against the host: same ids in the same
/// order (lower id first among equal logits), logsumexp and entropy close.
fn top_k_matches_host() {
    let ctx = ctx();
    let mut rng = Rng(49);
    for (vocab, k) in [(262_144, 40), (1000, 1), (300, 64), (5, 8)] {
        let mut logits: Vec<f32> = (0..vocab).map(|_| (rng.f32() * 8.0).round() / 2.0).collect();
        logits[vocab / 3] = f32::NAN;
        let got = tutor_runtime::forward::gpu::top_k::top_k(ctx, &logits, k).expect("top_k");
        let want = tutor_runtime::forward::backend::top_k_host(&logits, k);
        assert_eq!(got.ids, want.ids, "vocab {vocab}, k {k}");
        // NaN ranks lowest: the GPU reports it as NaN or as its stand-in for -inf (the lowest
        // finite -3e38), the host as NaN.
        let lowest = |v: f32| v.is_nan() || v <= -3.0e38;
        let same = got.logits.iter().zip(&want.logits).all(|(a, b)| a == b || (lowest(*a) && lowest(*b)));
        assert!(same && got.logits.len() == want.logits.len(), "vocab {vocab}, k {k}: {:?} vs {:?}", got.logits, want.logits);
        assert!((got.log_z - want.log_z).abs() < 1e-4 * want.log_z.abs().max(1.0), "log_z {} vs {}", got.log_z, want.log_z);
        assert!((got.entropy - want.entropy).abs() < 1e-3 * want.entropy.abs().max(1.0), "entropy {} vs {}", got.entropy, want.entropy);
    }
}

/// This module's tests, run by `main.rs`.
pub const TESTS: &[(&str, fn())] = &[
    ("kernels::matvec_q8_0_equals_cpu", matvec_q8_0_equals_cpu),
    ("kernels::matvec_q5_0_equals_cpu", matvec_q5_0_equals_cpu),
    ("kernels::matvec_q4_k_equals_cpu", matvec_q4_k_equals_cpu),
    ("kernels::matvec_q6_k_equals_cpu", matvec_q6_k_equals_cpu),
    ("kernels::matvec_splits_more_rows_than_one_dispatch_dimension_holds", matvec_splits_more_rows_than_one_dispatch_dimension_holds),
    ("kernels::contraction_probe_gives_one_of_the_two_roundings", contraction_probe_gives_one_of_the_two_roundings),
    ("kernels::rmsnorm_equals_cpu", rmsnorm_equals_cpu),
    ("kernels::shape_errors_are_typed_not_panics", shape_errors_are_typed_not_panics),
    ("kernels::matvec_throughput_report", matvec_throughput_report),
    ("kernels::rope_matches_cpu", rope_matches_cpu),
    ("kernels::gated_activations_match_cpu", gated_activations_match_cpu),
    ("kernels::add_is_exact", add_is_exact),
    ("kernels::softmax_matches_cpu", softmax_matches_cpu),
    ("kernels::attention_matches_cpu", attention_matches_cpu),
    ("kernels::embed_matches_cpu_exactly", embed_matches_cpu_exactly),
    ("kernels::new_op_shape_errors_are_typed", new_op_shape_errors_are_typed),
    ("kernels::matvec_q4_0_equals_cpu", matvec_q4_0_equals_cpu),
    ("kernels::matvec_q4_1_equals_cpu", matvec_q4_1_equals_cpu),
    ("kernels::matvec_f16_matches_reference", matvec_f16_matches_reference),
    ("kernels::matvec_f32_matches_reference", matvec_f32_matches_reference),
    ("kernels::matvec_single_row_equals_its_row_in_a_batch", matvec_single_row_equals_its_row_in_a_batch),
    ("kernels::add_bias_is_exact", add_bias_is_exact),
    ("kernels::kv_store_rounds_exactly_like_half", kv_store_rounds_exactly_like_half),
    ("kernels::quantize_q8_0_matches_cpu_rounding", quantize_q8_0_matches_cpu_rounding),
    ("kernels::quantize_q8_1_matches_candle", quantize_q8_1_matches_candle),
    ("kernels::quantize_q8_k_matches_candle", quantize_q8_k_matches_candle),
    ("kernels::top_k_matches_host", top_k_matches_host),
];
