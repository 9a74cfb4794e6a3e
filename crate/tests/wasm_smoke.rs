//! Browser smoke tests for the wasm32 build (headless Chromium via wasm-bindgen-test-runner).
//!
//! Run: `cd crate && CHROMEDRIVER=/usr/bin/chromedriver CARGO_PROFILE_RELEASE_LTO=thin cargo test --release --target wasm32-unknown-unknown --no-default-features --test wasm_smoke`
//! (browser flags come from `crate/webdriver.json`).
#![cfg(target_arch = "wasm32")]

use tutor_runtime::load::gguf::{DType, Gguf, Value};
use tutor_runtime::load::shards::{MemShards, ShardSource};
use tutor_runtime::load::write::GgufWriter;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A `TutorEngine.start` request as JS builds it: a raw prompt (or, with `messages`, a
/// conversation), greedy, `max_tokens` tokens, plus `extra` fields (e.g. `"measureTail":16`).
fn request(input: &str, max_tokens: u32, extra: &str) -> JsValue {
    let json = format!(r#"{{{input},"params":{{"maxTokens":{max_tokens},"temperature":0,"topK":40,"topP":0.95,"seed":0,"stop":[]}}{extra}}}"#);
    js_sys::JSON::parse(&json).unwrap()
}

fn prompt(text: &str) -> String {
    format!(r#""prompt":{}"#, serde_json::to_string(text).unwrap())
}

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
    // The model's whole context (256): the plain framing of a conversation is ~200 tokens here.
    let e = TutorEngine::new(shards, None).expect("load through JS shards");
    assert_eq!(e.architecture().unwrap(), "gemma3");
    let run = |req: JsValue| {
        let started = e.start(req).expect("start");
        let mut tokens = Vec::new();
        let mut finish = String::new();
        loop {
            let v = e.next().expect("step");
            if v.is_null() {
                break;
            }
            if let Some(t) = get(&v, "token").as_f64() {
                tokens.push(t as u32);
            }
            if let Some(f) = get(&v, "finish").as_string() {
                finish = f;
            }
        }
        (started, tokens, finish)
    };
    let n = |v: &JsValue, k: &str| get(v, k).as_f64().unwrap_or_else(|| panic!("{k} missing")) as usize;
    let (started, tokens, finish) = run(request(&prompt("Hello world"), 8, ""));
    assert!(n(&started, "promptTokens") >= 2);
    assert_eq!((n(&started, "cachedTokens"), n(&started, "droppedMessages")), (0, 0));
    assert!(!tokens.is_empty());
    assert!(finish == "length" || finish == "stop", "finish {finish:?}");

    // The same greedy tokens as the plain Rust engine over in-memory shards.
    let mut src = tutor_runtime::load::shards::MemShards::new(vec![bytes]);
    let mut native = Engine::load(&mut src, None).unwrap();
    let mut g = native.generate("Hello world", GenerateParams { max_tokens: 8, ..Default::default() }).unwrap();
    let mut want = Vec::new();
    while let Some(c) = g.next(&mut native).unwrap() {
        want.extend(c.token);
    }
    assert_eq!(tokens, want);

    // A conversation goes through `Engine::chat`: the same prompt and tokens as natively, and a
    // follow-up reuses the KV cache's prefix.
    let messages = r#""messages":[{"role":"user","content":"Hi"}]"#;
    let (started, tokens, _) = run(request(messages, 6, ""));
    let chat = [tutor_runtime::template::Message::new("user", "Hi")];
    let mut g = native.chat(&chat, GenerateParams { max_tokens: 6, ..Default::default() }).unwrap();
    assert_eq!(n(&started, "promptTokens"), g.prompt_tokens());
    let mut want = Vec::new();
    while let Some(c) = g.next(&mut native).unwrap() {
        want.extend(c.token);
    }
    assert_eq!(tokens, want);
    let (again, _, _) = run(request(messages, 2, ""));
    assert_eq!(n(&again, "cachedTokens"), n(&again, "promptTokens") - 1, "the same prompt again: all but its last token cached");

    // A malformed request is a typed error naming the problem.
    let err = e.start(js_sys::JSON::parse(r#"{"prompt":"x","params":{"maxTokens":"many"}}"#).unwrap()).err().unwrap();
    assert_eq!(get(&err, "kind").as_string().as_deref(), Some("invalid_input"));
    let err = e.start(request(&format!("{messages},{}", prompt("x")), 2, "")).err().unwrap();
    assert_eq!(get(&err, "kind").as_string().as_deref(), Some("invalid_input"));
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
/// rmsnorm and the Q8_0 / Q5_0 matvecs against CPU references on the same dequantized weights,
/// and every matvec format's one-row (decode) and four-row (prefill) pipelines.
#[wasm_bindgen_test]
async fn gpu_kernels_run_on_browser_webgpu() {
    use tutor_runtime::forward::cpu::q8_matmul::{matmul_q8, BlockFormat, Q8Matrix};
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
        // The CPU's kernel: activations rounded to 8 bits per block, ggml's integer dot
        // products. Natively (llvmpipe) the GPU equals it bit for bit (gpu/kernels.rs); here
        // the wasm build of the CPU kernel sums in its own (simd128) order and SwiftShader
        // compiles the WGSL its own way, so the budget is f32 summation noise: measured
        // NMSE 1.5e-14 for Q8_0.
        let want: Vec<f64> = xs.chunks_exact(cols).flat_map(|xr| matmul_q8(&m, xr, 1)).map(|v| v as f64).collect();
        assert!(nmse(&got, &want) < 1e-12, "{format:?} NMSE {:e} against the CPU kernel", nmse(&got, &want));
    }

    // Every matvec kernel, both pipelines: a single activation row (decode, TT = 1) must give
    // the bits of the same row in a batch (TT = 4), and the batch must be near the f64 dot
    // products of the dequantized weights (the quantized kernels round activations to 8 bits:
    // NMSE ~1e-5; a wrong nibble or scale gives > 1e-2).
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};
    let (rows, cols, n) = (48, 512, 3);
    let formats = [
        (GgmlDType::F32, QuantFormat::F32, 1e-12),
        (GgmlDType::F16, QuantFormat::F16, 1e-12),
        (GgmlDType::Q4_0, QuantFormat::Q4_0, 1e-4),
        (GgmlDType::Q8_0, QuantFormat::Q8_0, 1e-4),
        (GgmlDType::Q5_0, QuantFormat::Q5_0, 1e-4),
        (GgmlDType::Q4K, QuantFormat::Q4K, 1e-4),
        (GgmlDType::Q6K, QuantFormat::Q6K, 1e-4),
    ];
    for (dtype, qf, budget) in formats {
        let data: Vec<f32> = (0..rows * cols).map(|i| ((next() % 2001) as f32 / 1000.0 - 1.0) * (0.1 + (i / 32 % 7) as f32 * 0.2)).collect();
        let q = QTensor::quantize(&Tensor::from_vec(data, (rows, cols), &Device::Cpu).unwrap(), dtype).unwrap();
        let bytes = q.data().unwrap().into_owned();
        let w: Vec<f32> = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let xs: Vec<f32> = (0..n * cols).map(|_| (next() % 2001) as f32 / 500.0 - 2.0).collect();
        let gm = GpuMatrix::upload(&ctx, "w", qf, rows, cols, &bytes).expect("upload");
        let batch = matvec_async(&ctx, &gm, &xs, n).await.expect("matvec batch");
        let want: Vec<f64> = xs
            .chunks_exact(cols)
            .flat_map(|xr| w.chunks_exact(cols).map(move |wr| wr.iter().zip(xr).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>()))
            .collect();
        assert!(nmse(&batch, &want) < budget, "{qf:?} NMSE {:e} against the dequantized weights", nmse(&batch, &want));
        for (t, xr) in xs.chunks_exact(cols).enumerate() {
            let one = matvec_async(&ctx, &gm, xr, 1).await.expect("matvec one row");
            let same = one.iter().zip(&batch[t * rows..][..rows]).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{qf:?}: row {t} alone differs from row {t} of the batch");
        }
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
            e.start(request(&prompt("Hello world"), 10, "")).expect("start");
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
            // Still on that backend after the answer: a kernel the browser's shader compiler
            // rejects would fall back to the CPU mid-answer and still give the CPU's tokens.
            assert_eq!(e.backend().unwrap(), backend, "{arch:?} fell back mid-answer: {:?}", e.cpu_reason().unwrap());
            runs.push(tokens);
        }
        assert!(!runs[0].is_empty(), "{arch:?}: {:?}", runs[0]);
        assert_eq!(runs[0], runs[1], "{arch:?}: WebGPU vs CPU greedy tokens");
    }
}

/// The router as a TS worker drives it: `TutorEngine` measures the prompt and puts `stats` on
/// every chunk; `TutorRouter` turns them into JS decision objects with typed reasons.
#[wasm_bindgen_test]
fn router_cascade_through_the_js_surface() {
    use tutor_runtime::load::gguf::DType;
    use tutor_runtime::route::policy::RoutePolicy;
    use tutor_runtime::testmodel::{tiny_model, TinyArch, TinySpec};
    use tutor_runtime::wasm::TutorEngine;
    use tutor_runtime::wasm_route::TutorRouter;

    let bytes = tiny_model(&TinySpec::new(TinyArch::Gemma3, DType::Q4K));
    let shards = js_sys::Array::new();
    shards.push(&js_sys::Uint8Array::from(&bytes[..]));
    let e = TutorEngine::new(shards, Some(128)).unwrap();
    // Escalate as soon as two tokens have been judged: the answer score is pinned at σ(-10).
    let mut strict = RoutePolicy { threshold_pre: 0.0, threshold_full: 0.5, min_tokens: 2, ..RoutePolicy::calibrated().unwrap() };
    strict.full.weights.iter_mut().for_each(|w| *w = 0.0);
    strict.full.bias = -10.0;
    let mut r = TutorRouter::new("Why is the sky blue?", Some("en".into()), Some(strict.to_json())).unwrap();
    let d = r.start(true, true, true).unwrap();
    assert_eq!(get(&d, "route").as_string().as_deref(), Some("local"));
    e.start(request(&prompt("Why is the sky blue?"), 8, &format!(r#","measureTail":{}"#, r.prompt_tail()))).unwrap();
    let mut escalated = None;
    let mut steps = 0;
    loop {
        let v = e.next().unwrap();
        if v.is_null() {
            break;
        }
        if steps == 0 {
            let p = e.prompt_stats().unwrap();
            let mean = get(&p, "meanNll").as_f64().unwrap();
            assert!(mean.is_finite() && mean > 0.0, "{mean}");
            let n = |k: &str| get(&p, k).as_f64().unwrap() as u32;
            assert_eq!(n("scored"), n("tokens").min(r.prompt_tail() + 1) - 1);
            let d = r.after_prefill(4, n("tokens"), n("scored"), mean as f32, get(&p, "maxNll").as_f64().unwrap() as f32).unwrap();
            assert_eq!(get(&d, "route").as_string().as_deref(), Some("local"));
        }
        steps += 1;
        let s = get(&v, "stats");
        if s.is_null() {
            continue;
        }
        let (lp, ent, top1) = (get(&s, "logprob").as_f64().unwrap(), get(&s, "entropy").as_f64().unwrap(), get(&s, "top1").as_f64().unwrap());
        assert!(lp <= 0.0 && ent >= 0.0 && top1 > 0.0 && top1 <= 1.0);
        let step = r.on_token(lp as f32, ent as f32, top1 as f32).unwrap();
        if get(&step, "action").as_string().as_deref() == Some("escalate") {
            escalated = Some(get(&step, "decision"));
            e.abort();
        }
    }
    let d = escalated.expect("the strict policy escalates mid-answer");
    assert_eq!(get(&d, "route").as_string().as_deref(), Some("server"));
    assert_eq!(get(&get(&d, "reason"), "kind").as_string().as_deref(), Some("confidence_collapse"));
    assert!(get(&d, "message").as_string().unwrap().contains("after 2 tokens"));
    // Server down after the escalation: the local model answers, marked as a fallback.
    let d = r.server_failed().unwrap();
    assert_eq!(get(&get(&d, "reason"), "kind").as_string().as_deref(), Some("server_unreachable"));
    assert_eq!(get(&d, "fallback").as_bool(), Some(true));
    let ev = r.telemetry_event("{\"include_question_text\":false,\"shadow_fraction\":1.0,\"server_usd_per_1k_tokens\":0.002,\"shadow_salt\":0}", 12.0, 7, 8).unwrap();
    assert!(get(&ev, "question").is_null());
    assert_eq!(get(&ev, "reason").as_string().as_deref(), Some("server_unreachable"));
    // Critical topics never start the model; bad policies and out-of-order calls are typed errors.
    let mut r = TutorRouter::new("Can I sue my school?", None, None).unwrap();
    assert_eq!(get(&get(&r.start(true, true, true).unwrap(), "reason"), "kind").as_string().as_deref(), Some("critical_topic"));
    let err = TutorRouter::new("q", None, Some("{}".into())).err().unwrap();
    assert_eq!(get(&err, "kind").as_string().as_deref(), Some("bad_policy"));
    let mut r = TutorRouter::new("q", None, None).unwrap();
    assert_eq!(get(&r.on_token(-1.0, 1.0, 0.5).err().unwrap(), "kind").as_string().as_deref(), Some("wrong_phase"));
}

#[wasm_bindgen_test]
fn the_route_policy_follows_the_loaded_model() {
    use tutor_runtime::route::policy::RoutePolicy;
    use tutor_runtime::wasm_route::{policy_mismatch, shipped_policy};
    let gemma = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
    let p = RoutePolicy::from_json(&shipped_policy(Some(gemma.into())).unwrap()).unwrap();
    assert_eq!(p.calibrated_for.map(|c| c.model), Some("gemma-3-270m-q4_k_m.gguf".to_string()));
    assert_eq!(policy_mismatch(None, Some(gemma.into())).unwrap(), None);
    let other = policy_mismatch(None, Some("00ff".into())).unwrap().unwrap();
    assert!(other.contains("smollm2-135m-instruct-q4_1.gguf"), "{other}");
    assert!(policy_mismatch(None, None).unwrap().unwrap().contains("does not give the file's sha256"));
}

/// The browser's Q4_1 kernel (SIMD128, eight weight rows per call) against candle's scalar
/// `vec_dot_q4_1_q8_1` on random blocks, bit for bit: decode (one activation row) and prefill
/// (several), 37 rows (groups of eight and a tail of five), 13 blocks a row.
#[wasm_bindgen_test]
fn q4_1_matmul_equals_candles_in_wasm() {
    use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
    use candle_core::{Device, Module, Tensor};
    use tutor_runtime::forward::cpu::q4_1_matmul::{matmul_q4_1, Q4_1Matrix, QK};
    let (rows, cols) = (37, 13 * QK);
    let mut s = 7u32;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        s
    };
    let mut blocks = Vec::new();
    for _ in 0..rows * cols / QK {
        blocks.extend_from_slice(&half::f16::from_f32((next() % 1000) as f32 / 50_000.0).to_le_bytes());
        blocks.extend_from_slice(&half::f16::from_f32(-((next() % 1000) as f32) / 20_000.0).to_le_bytes());
        blocks.extend((0..16).map(|_| next() as u8));
    }
    let x: Vec<f32> = (0..cols * 3).map(|_| (next() % 2001) as f32 / 100.0 - 10.0).collect();
    let storage = QStorage::from_data(std::borrow::Cow::Borrowed(&blocks), &Device::Cpu, GgmlDType::Q4_1).unwrap();
    let qmm = QMatMul::from_qtensor(QTensor::new(storage, (rows, cols)).unwrap()).unwrap();
    let w = Q4_1Matrix { blocks, rows, cols };
    for n in [1, 3] {
        let got = matmul_q4_1(&w, &x[..n * cols], n);
        let xt = Tensor::from_slice(&x[..n * cols], (n, cols), &Device::Cpu).unwrap();
        let want = qmm.forward(&xt).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let differ = got.iter().zip(&want).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(differ, 0, "n={n}: {differ} of {} outputs differ from candle's", got.len());
        assert!(got.iter().any(|&v| v != 0.0));
    }
}
