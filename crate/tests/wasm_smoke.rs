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
