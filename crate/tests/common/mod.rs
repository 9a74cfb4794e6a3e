//! Shared helpers of the native integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The real Gemma 3 270M Q4_K_M GGUF: `$TUTOR_MODEL`, else `models/cache/` in the workspace.
/// Missing is a failure, not a skip: run `models/fetch-model.sh` first.
pub fn real_model_path() -> PathBuf {
    let p = std::env::var_os("TUTOR_MODEL").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/cache/gemma-3-270m-q4_k_m.gguf"))
    });
    assert!(p.exists(), "real model not found at {} — run models/fetch-model.sh", p.display());
    p
}

/// The real SmolLM2-135M-Instruct Q4_1 GGUF (the tutor's default): `$TUTOR_SMOLLM2`, else
/// `models/cache/` in the workspace. Missing is a failure: run `models/fetch-model.sh smollm2`.
pub fn smollm2_path() -> PathBuf {
    let p = std::env::var_os("TUTOR_SMOLLM2").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/cache/smollm2-135m-instruct-q4_1.gguf"))
    });
    assert!(p.exists(), "SmolLM2 not found at {} — run models/fetch-model.sh smollm2", p.display());
    p
}

/// `../shared/reference/` beside the repository.
pub fn reference_path(name: &str) -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/reference")).join(name);
    assert!(p.exists(), "reference file {} not found", p.display());
    p
}

/// (prompt, prompt ids, llama.cpp greedy ids) from server_t1.json.
pub fn greedy_references() -> Vec<(String, Vec<u32>, Vec<u32>)> {
    let text = std::fs::read_to_string(reference_path("server_t1.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ids = |x: &serde_json::Value| x.as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as u32).collect::<Vec<_>>();
    v["greedy"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, g)| (k.clone(), ids(&g["prompt_ids"]), ids(&g["gen_ids"])))
        .collect()
}
