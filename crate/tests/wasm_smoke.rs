//! Browser smoke tests for the wasm32 build (headless Chromium via wasm-bindgen-test-runner).
//!
//! Run: `cd crate && CHROMEDRIVER=/usr/bin/chromedriver cargo test --target wasm32-unknown-unknown --no-default-features --test wasm_smoke`
//! (browser flags come from `crate/webdriver.json`).
#![cfg(target_arch = "wasm32")]

use tutor_runtime::load::gguf::{DType, Gguf, Value};
use tutor_runtime::load::shards::{MemShards, ShardSource};
use tutor_runtime::load::write::GgufWriter;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn f32_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Split `bytes` into shards at the given cut points (as JS would hand over several fetched parts).
fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
        out.push(bytes[prev..c].to_vec());
        prev = c;
    }
    out
}

#[wasm_bindgen_test]
fn gguf_roundtrip_in_memory_shards() {
    let weights: Vec<f32> = (0..8).map(|i| i as f32 * 0.5 - 1.0).collect();
    // One Q8_0 block: f16 scale (1.0) + 32 i8 quants.
    let mut q8 = vec![0x00, 0x3c];
    q8.extend((0..32).map(|i| (i as i8 - 16) as u8));
    let bias = f32_bytes(&[0.25, -0.75]);

    let mut w = GgufWriter::new();
    w.meta("general.architecture", Value::String("gemma3".into()))
        .meta("gemma3.block_count", Value::U32(2))
        .meta("gemma3.rope.freq_base", Value::F32(10000.0))
        .meta("tokenizer.ggml.add_bos_token", Value::Bool(true))
        .meta(
            "tokenizer.ggml.tokens",
            Value::Array(vec![Value::String("<pad>".into()), Value::String("▁hi".into())]),
        )
        .tensor("w.weight", &[4, 2], DType::F32, f32_bytes(&weights))
        .tensor("q.weight", &[32], DType::Q8_0, q8.clone())
        .tensor("b.bias", &[2], DType::F32, bias.clone());
    let bytes = w.to_bytes();
    assert_eq!(&bytes[..4], b"GGUF");

    // Cut inside the header, inside the data section and leave an empty shard.
    let n = bytes.len();
    let mut src = MemShards::new(split(&bytes, &[3, 40, 40, n - 50, n - 7]));
    assert_eq!(src.len(), n as u64);

    let g = Gguf::read(&mut src).expect("parse GGUF");
    assert_eq!(g.version, 3);
    assert_eq!(g.get_str("general.architecture").unwrap(), "gemma3");
    assert_eq!(g.get_usize("gemma3.block_count").unwrap(), 2);
    assert_eq!(g.get_f32("gemma3.rope.freq_base").unwrap(), 10000.0);
    assert!(g.get_bool("tokenizer.ggml.add_bos_token").unwrap());
    let toks = g.get_array("tokenizer.ggml.tokens").unwrap();
    assert_eq!(toks, &[Value::String("<pad>".into()), Value::String("▁hi".into())]);
    assert!(g.get("missing.key").is_err());

    assert_eq!(g.tensors.len(), 3);
    assert_eq!(g.data_offset % g.alignment, 0);

    let t = g.tensor("w.weight").unwrap();
    assert_eq!((t.dims.as_slice(), t.dtype, t.n_elements()), (&[4usize, 2][..], DType::F32, 8));
    assert_eq!(g.tensor_bytes(&mut src, t).unwrap(), f32_bytes(&weights));

    let t = g.tensor("q.weight").unwrap();
    assert_eq!((t.dtype, t.size), (DType::Q8_0, 34));
    assert_eq!(g.tensor_bytes(&mut src, t).unwrap(), q8);

    let t = g.tensor("b.bias").unwrap().clone();
    assert_eq!(g.tensor_bytes(&mut src, &t).unwrap(), bias);
    assert!(!g.has_tensor("nope"));
}

#[wasm_bindgen_test]
fn gguf_rejects_truncated_file() {
    let mut w = GgufWriter::new();
    w.meta("general.architecture", Value::String("llama".into()))
        .tensor("x", &[8], DType::F32, f32_bytes(&[1.0; 8]));
    let bytes = w.to_bytes();
    let cut = bytes.len() - 16;
    assert!(Gguf::read(&mut MemShards::new(vec![bytes[..cut].to_vec()])).is_err());
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

#[wasm_bindgen_test]
fn webgpu_api_is_exposed() {
    let navigator = get(&js_sys::global(), "navigator");
    assert!(navigator.is_object(), "no navigator: not running in a browser?");
    let gpu = get(&navigator, "gpu");
    assert!(
        !gpu.is_undefined() && !gpu.is_null(),
        "navigator.gpu missing: Chromium needs --enable-unsafe-webgpu (see crate/webdriver.json)"
    );
}

/// Ask for an adapter. Headless Chromium without a GPU gives SwiftShader (Vulkan) when
/// `--enable-unsafe-webgpu` and the Vulkan feature flags of `crate/webdriver.json` are set.
#[wasm_bindgen_test]
async fn webgpu_adapter_is_available() {
    let gpu = get(&get(&js_sys::global(), "navigator"), "gpu");
    let request: js_sys::Function = get(&gpu, "requestAdapter").into();
    let promise: js_sys::Promise = request.call0(&gpu).expect("requestAdapter threw").into();
    let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.expect("requestAdapter rejected");
    assert!(!adapter.is_null() && !adapter.is_undefined(), "navigator.gpu.requestAdapter() returned null");
    let info = get(&adapter, "info");
    console_log!(
        "WebGPU adapter: vendor={:?} architecture={:?} description={:?}",
        get(&info, "vendor").as_string(),
        get(&info, "architecture").as_string(),
        get(&info, "description").as_string()
    );
}

/// Generate from a tiny Gemma 3 family model through the JS-facing `TutorEngine`: shards handed
/// over as `Uint8Array`s, tokens pulled one step at a time.
#[wasm_bindgen_test]
fn tiny_model_generates_tokens_in_the_browser() {
    use tutor_runtime::load::gguf::DType;
    use tutor_runtime::stream::{Engine, GenerateParams};
    use tutor_runtime::testmodel::{tiny_model, TinyArch, TinySpec};
    use tutor_runtime::wasm::TutorEngine;

    let bytes = tiny_model(&TinySpec::new(TinyArch::Gemma3, DType::Q4K));
    let half = bytes.len() / 2;
    let shards = js_sys::Array::new();
    shards.push(&js_sys::Uint8Array::from(&bytes[..half]));
    shards.push(&js_sys::Uint8Array::from(&bytes[half..]));
    let e = TutorEngine::new(shards, Some(128)).expect("load through JS shards");
    assert_eq!(e.architecture().unwrap(), "gemma3");
    let n_prompt = e.start("Hello world", 8, 0.0, 40, 0.95, 0, vec![]).expect("start");
    assert!(n_prompt >= 2);
    let mut tokens = Vec::new();
    let mut finish = String::new();
    loop {
        let v = e.next().expect("step");
        if v.is_null() {
            break;
        }
        let tok = js_sys::Reflect::get(&v, &"token".into()).unwrap();
        if let Some(t) = tok.as_f64() {
            tokens.push(t as u32);
        }
        if let Some(f) = js_sys::Reflect::get(&v, &"finish".into()).unwrap().as_string() {
            finish = f;
        }
    }
    assert!(!tokens.is_empty());
    assert!(finish == "length" || finish == "stop", "finish {finish:?}");

    // The same greedy tokens as the plain Rust engine over in-memory shards.
    let mut src = tutor_runtime::load::shards::MemShards::new(vec![bytes]);
    let mut native = Engine::load(&mut src, Some(128)).unwrap();
    let mut g = native.generate("Hello world", GenerateParams { max_tokens: 8, ..Default::default() }).unwrap();
    let mut want = Vec::new();
    while let Some(c) = g.next(&mut native).unwrap() {
        want.extend(c.token);
    }
    assert_eq!(tokens, want);
}

#[wasm_bindgen_test]
fn corrupt_model_is_a_typed_js_error() {
    use tutor_runtime::wasm::TutorEngine;
    let shards = js_sys::Array::new();
    shards.push(&js_sys::Uint8Array::from(&b"GGUF\x03\x00\x00\x00garbage"[..]));
    let err = TutorEngine::new(shards, None).err().expect("garbage must not load");
    let kind = js_sys::Reflect::get(&err, &"kind".into()).unwrap().as_string();
    assert_eq!(kind.as_deref(), Some("model_file"));
}

/// WGSL kernels on the browser's WebGPU (SwiftShader in headless Chromium, no `shader-f16`):
/// rmsnorm and the Q8_0 / Q5_0 matvecs against CPU references on the same dequantized weights.
#[wasm_bindgen_test]
async fn gpu_kernels_run_on_browser_webgpu() {
    use tutor_runtime::forward::cpu::q8_matmul::{BlockFormat, Q8Matrix};
    use tutor_runtime::forward::gpu::matvec::matvec_async;
    use tutor_runtime::forward::gpu::rmsnorm::rmsnorm_async;
    use tutor_runtime::forward::gpu::{GpuContext, GpuMatrix, QuantFormat};

    let ctx = GpuContext::new_async().await.expect("WebGPU adapter under --enable-unsafe-webgpu");
    let mut s = 0x1234_5678u32;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        s
    };
    let nmse = |got: &[f32], want: &[f64]| {
        let num: f64 = got.iter().zip(want).map(|(&g, &w)| (g as f64 - w).powi(2)).sum();
        num / want.iter().map(|w| w * w).sum::<f64>().max(1e-30)
    };

    let x: Vec<f32> = (0..3 * 640).map(|_| (next() % 2001) as f32 / 1000.0 - 1.0).collect();
    let w: Vec<f32> = (0..640).map(|_| 0.5 + (next() % 1000) as f32 / 1000.0).collect();
    let got = rmsnorm_async(&ctx, &x, &w, 1e-6).await.expect("rmsnorm");
    let mut want = Vec::new();
    for row in x.chunks(640) {
        let ms: f64 = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / 640.0;
        want.extend(row.iter().zip(&w).map(|(&v, &g)| v as f64 / (ms + 1e-6).sqrt() * g as f64));
    }
    assert!(nmse(&got, &want) < 1e-10, "rmsnorm NMSE {}", nmse(&got, &want));

    for (format, qf) in [(BlockFormat::Q8_0, QuantFormat::Q8_0), (BlockFormat::Q5_0, QuantFormat::Q5_0)] {
        let (rows, cols) = (96, 640);
        let mut blocks = Vec::new();
        for _ in 0..rows * cols / 32 {
            blocks.extend_from_slice(&half::f16::from_f32((next() % 1000) as f32 / 20_000.0).to_le_bytes());
            blocks.extend((0..format.bytes() - 2).map(|_| next() as u8));
        }
        let m = Q8Matrix { format, blocks, rows, cols };
        let gm = GpuMatrix::upload(&ctx, "w", qf, rows, cols, &m.blocks).expect("upload");
        let xs = &x[..2 * cols];
        let got = matvec_async(&ctx, &gm, xs, 2).await.expect("matvec");
        let mut row = vec![0f32; cols];
        let mut want = vec![0f64; 2 * rows];
        for r in 0..rows {
            m.dequantize_row(r, 1.0, &mut row);
            for t in 0..2 {
                want[t * rows + r] = row.iter().zip(&xs[t * cols..]).map(|(&a, &b)| a as f64 * b as f64).sum();
            }
        }
        assert!(nmse(&got, &want) < 1e-10, "{format:?} NMSE {}", nmse(&got, &want));
    }
}

/// The whole forward pass on the browser's WebGPU (SwiftShader): a tiny f32 Llama-family and
/// Gemma 3 model loaded with `TutorEngine.create(shards, ctx, "gpu")` give the same greedy
/// tokens through `nextAsync` as the CPU engine (f32 weights: the backends differ only in
/// summation order, far below any logit margin).
#[wasm_bindgen_test]
async fn tiny_model_generates_on_webgpu_like_the_cpu() {
    use tutor_runtime::testmodel::{tiny_model, TinyArch, TinySpec};
    use tutor_runtime::wasm::TutorEngine;

    for arch in [TinyArch::Gemma3, TinyArch::Qwen2] {
        let bytes = tiny_model(&TinySpec::new(arch, DType::F32));
        let mut runs = Vec::new();
        for backend in ["gpu", "cpu"] {
            let shards = js_sys::Array::new();
            shards.push(&js_sys::Uint8Array::from(&bytes[..]));
            let e = TutorEngine::create(shards, Some(128), Some(backend.into())).await.expect("create");
            assert_eq!(e.backend().unwrap(), backend, "{:?}", e.cpu_reason().unwrap());
            e.start("Hello world", 10, 0.0, 40, 0.95, 0, vec![]).expect("start");
            let mut tokens = Vec::new();
            loop {
                let v = e.next_async().await.expect("step");
                if v.is_null() {
                    break;
                }
                if let Some(t) = get(&v, "token").as_f64() {
                    tokens.push(t as u32);
                }
            }
            runs.push(tokens);
        }
        assert!(!runs[0].is_empty(), "{arch:?}: {:?}", runs[0]);
        assert_eq!(runs[0], runs[1], "{arch:?}: WebGPU vs CPU greedy tokens");
    }
}
