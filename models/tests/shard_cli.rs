//! `tutor-models shard` end to end: shards that concatenate back to the file, a manifest whose
//! sizes and sha256s match the files, and clear errors for bad input.

use std::path::PathBuf;
use std::process::Command;

use sha2::{Digest, Sha256};
use tutor_runtime::load::gguf::DType;
use tutor_runtime::testmodel::{tiny_model, TinyArch, TinySpec};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tutor-models"))
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tutor-models-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn shards_concatenate_to_the_file_and_the_manifest_matches() {
    let dir = tmpdir("ok");
    let bytes = tiny_model(&TinySpec::new(TinyArch::Gemma3, DType::Q8_0));
    let input = dir.join("tiny.gguf");
    std::fs::write(&input, &bytes).unwrap();
    let shard = 64 * 1024;
    let out = dir.join("out");
    let o = bin()
        .args(["shard", "--in", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--shard-bytes", &shard.to_string()])
        .args(["--base-url", "https://cdn.example.org/m/", "--model", "tiny-gemma"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["model"], "tiny-gemma");
    assert_eq!(m["architecture"], "gemma3");
    assert_eq!(m["total_bytes"].as_u64().unwrap(), bytes.len() as u64);
    assert_eq!(m["shard_bytes"].as_u64().unwrap(), shard as u64);
    // The whole file's sha256 (which model a route policy was calibrated on), and the
    // content-addressed version: its first 16 hex digits.
    assert_eq!(m["sha256"].as_str().unwrap(), hex(&Sha256::digest(&bytes)));
    assert_eq!(m["version"].as_str().unwrap(), &hex(&Sha256::digest(&bytes))[..16]);
    let shards = m["shards"].as_array().unwrap();
    assert_eq!(shards.len(), bytes.len().div_ceil(shard));
    assert!(shards.len() >= 3, "tiny model should span several 64 KiB shards");
    let mut joined = Vec::new();
    for (i, s) in shards.iter().enumerate() {
        let url = s["url"].as_str().unwrap();
        let name = url.strip_prefix("https://cdn.example.org/m/").expect("base URL prefix");
        let data = std::fs::read(out.join(name)).unwrap();
        assert_eq!(s["size"].as_u64().unwrap(), data.len() as u64);
        assert_eq!(s["sha256"].as_str().unwrap(), hex(&Sha256::digest(&data)));
        if i + 1 < shards.len() {
            assert_eq!(data.len(), shard);
        }
        joined.extend(data);
    }
    assert_eq!(joined, bytes);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tmpdir("bad");
    let bytes = tiny_model(&TinySpec::new(TinyArch::Llama, DType::Q8_0));
    let input = dir.join("truncated.gguf");
    std::fs::write(&input, &bytes[..bytes.len() / 3]).unwrap();
    let out = dir.join("out");
    let o = bin().args(["shard", "--in", input.to_str().unwrap(), "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is not a readable GGUF"), "{err}");
    assert!(!out.join("manifest.json").exists());

    let o = bin().args(["shard", "--in", "/nonexistent.gguf", "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(!o.status.success());

    std::fs::write(&input, &bytes).unwrap();
    let o = bin().args(["shard", "--in", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--shard-bytes", "100"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("shard size must be between 4 KiB and 2 GiB"));
    let _ = std::fs::remove_dir_all(&dir);
}
