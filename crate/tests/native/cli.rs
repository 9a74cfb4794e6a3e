//! The `tutor` command line, run as a process.

use crate::common;

use std::process::Command;

use tutor_runtime::load::gguf::DType;
use tutor_runtime::testmodel::{tiny_model, TinyArch, TinySpec};

fn tutor(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tutor")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn run_streams_the_reference_continuation_of_the_real_model() {
    let model = common::real_model_path();
    let (ok, stdout, stderr) = tutor(&["run", "--model", model.to_str().unwrap(), "--prompt", "The capital of France is", "--max-tokens", "10", "--ids"]);
    assert!(ok, "{stderr}");
    let (_, _, want) = common::greedy_references().into_iter().find(|(p, _, _)| p == "The capital of France is").unwrap();
    let want_ids = format!("generated ids: {:?}", &want[..10]);
    assert!(stdout.contains(&want_ids), "stdout {stdout:?} lacks {want_ids}");
    assert!(stdout.starts_with(" the capital of the country of France."), "{stdout:?}");
    assert!(stderr.contains("[finish: length]"), "{stderr}");
}

#[test]
fn shards_on_the_command_line_and_inspect() {
    let bytes = tiny_model(&TinySpec::new(TinyArch::Qwen2, DType::Q4_0));
    let dir = std::env::temp_dir().join(format!("tutor-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("m.part0"), dir.join("m.part1"));
    std::fs::write(&a, &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(&b, &bytes[bytes.len() / 3..]).unwrap();
    let (ok, stdout, stderr) = tutor(&["inspect", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("general.architecture = String(\"qwen2\")"), "{stdout}");
    assert!(stdout.contains("blk.0.attn_q.bias"), "{stdout}");
    let (ok, _, stderr) = tutor(&["run", "--model", a.to_str().unwrap(), "--model", b.to_str().unwrap(), "--prompt", "Hi", "--max-tokens", "4"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("[finish:"), "{stderr}");
    // Only the first shard: a typed error naming the problem, exit code 1, no panic.
    let (ok, _, stderr) = tutor(&["run", "--model", a.to_str().unwrap(), "--prompt", "Hi"]);
    assert!(!ok);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_arguments_are_reported() {
    let (ok, _, stderr) = tutor(&["run", "--prompt", "x"]);
    assert!(!ok && stderr.contains("--model PATH is required"), "{stderr}");
    let (ok, _, stderr) = tutor(&["run", "--model", "/nonexistent.gguf", "--prompt", "x"]);
    assert!(!ok && stderr.contains("/nonexistent.gguf"), "{stderr}");
    let (ok, _, stderr) = tutor(&["bench", "--model", "x", "--threads", "many"]);
    assert!(!ok && stderr.contains("--threads"), "{stderr}");
    // A misspelt option is an error naming it, not silently ignored.
    let (ok, _, stderr) = tutor(&["run", "--model", "x", "--max-token", "5"]);
    assert!(!ok && stderr.contains("--max-token"), "{stderr}");
    let (ok, _, stderr) = tutor(&["run", "--model", "x", "--question", "q", "--prompt", "p"]);
    assert!(!ok && stderr.contains("cannot be used with"), "{stderr}");
}

#[test]
fn bench_and_bandwidth_print_the_json_scripts_bench_reads() {
    // A tiny model, one short rep: the fields scripts/bench/native.py and report.py read.
    let bytes = tiny_model(&TinySpec::new(TinyArch::Gemma3, DType::Q8_0));
    let path = std::env::temp_dir().join(format!("tutor-cli-bench-{}.gguf", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let (ok, stdout, stderr) = tutor(&["bench", "--model", path.to_str().unwrap(), "--threads", "1", "--reps", "2", "--prompt-tokens", "8", "--gen-tokens", "4"]);
    std::fs::remove_file(&path).unwrap();
    assert!(ok, "{stderr}");
    let j: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    for k in ["prompt_tok_s", "gen_tok_s", "ttft_s", "load_s"] {
        assert!(j[k].as_f64().unwrap() > 0.0, "{k} in {j}");
    }
    let (lo, hi) = (j["gen_tok_s_range"][0].as_f64().unwrap(), j["gen_tok_s_range"][1].as_f64().unwrap());
    assert!(lo <= j["gen_tok_s"].as_f64().unwrap() && j["gen_tok_s"].as_f64().unwrap() <= hi, "{j}");
    assert_eq!((j["reps"].as_u64(), j["prompt_tokens"].as_u64(), j["backend"].as_str()), (Some(2), Some(8), Some("cpu")));
    // The tiny Gemma 3 ties its head to the embedding: a token reads every tensor once.
    let mut src = tutor_runtime::load::shards::MemShards::new(vec![bytes]);
    let g = tutor_runtime::load::gguf::Gguf::read(&mut src).unwrap();
    assert!(!g.tensors.iter().any(|t| t.name == "output.weight"));
    assert_eq!(j["weight_bytes_per_token"].as_u64(), Some(g.tensor_bytes_total()));

    let (ok, stdout, stderr) = tutor(&["bandwidth", "--threads", "2", "--mib", "64", "--reps", "2"]);
    assert!(ok, "{stderr}");
    let b: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!((b["threads"].as_u64(), b["buffer_bytes"].as_u64()), (Some(2), Some(64 << 20)));
    let (best, min) = (b["read_gb_s_best"].as_f64().unwrap(), b["read_gb_s_min"].as_f64().unwrap());
    assert!(min > 0.0 && best >= min, "{b}");
}
