//! The `tutor` command line, run as a process.

mod common;

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
}
