//! `tutor-models` — tools around model files.
//!
//! ```text
//! tutor-models tiny --arch llama|qwen2|gemma3 [--dtype Q8_0] [--seed 42] --out FILE.gguf
//! ```
//! writes a tiny deterministic test model (see `tutor_runtime::testmodel`). The real model is
//! fetched by `models/fetch-model.sh`.
//!
//! ```text
//! tutor-models shard --in X.gguf --out DIR [--shard-mib 32] [--base-url URL] [--model ID] [--version V]
//! ```
//! splits a GGUF into shards and writes `DIR/manifest.json` for the web package (see `shard.rs`).

mod shard;

use std::process::ExitCode;

use tutor_runtime::load::gguf::DType;
use tutor_runtime::testmodel::{tiny_model, TinyArch, TinySpec};

fn value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.windows(2).find(|w| w[0] == name).map(|w| w[1].as_str())
}

fn dtype(name: &str) -> Option<DType> {
    [DType::F32, DType::F16, DType::Q4_0, DType::Q5_0, DType::Q8_0, DType::Q4K, DType::Q6K].into_iter().find(|d| d.name() == name)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("shard") {
        return shard_cmd(&args);
    }
    if args.first().map(String::as_str) != Some("tiny") {
        eprintln!("usage: tutor-models tiny --arch llama|qwen2|gemma3 [--dtype Q8_0] [--seed N] --out FILE.gguf");
        eprintln!("       tutor-models shard --in X.gguf --out DIR [--shard-mib 32 | --shard-bytes N] [--base-url URL] [--model ID] [--version V]");
        return ExitCode::from(2);
    }
    let arch = match value(&args, "--arch") {
        Some("llama") => TinyArch::Llama,
        Some("qwen2") => TinyArch::Qwen2,
        Some("gemma3") => TinyArch::Gemma3,
        other => {
            eprintln!("--arch must be llama, qwen2 or gemma3 (got {other:?})");
            return ExitCode::from(2);
        }
    };
    let Some(dt) = dtype(value(&args, "--dtype").unwrap_or("Q8_0")) else {
        eprintln!("--dtype must be one of F32 F16 Q4_0 Q5_0 Q8_0 Q4_K Q6_K");
        return ExitCode::from(2);
    };
    let Some(out) = value(&args, "--out") else {
        eprintln!("--out FILE.gguf is required");
        return ExitCode::from(2);
    };
    let mut spec = TinySpec::new(arch, dt);
    if let Some(seed) = value(&args, "--seed").and_then(|s| s.parse().ok()) {
        spec.seed = seed;
    }
    let bytes = tiny_model(&spec);
    match std::fs::write(out, &bytes) {
        Ok(()) => {
            println!("wrote {out} ({} bytes)", bytes.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write {out}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn shard_cmd(args: &[String]) -> ExitCode {
    let (Some(input), Some(out)) = (value(args, "--in"), value(args, "--out")) else {
        eprintln!("usage: tutor-models shard --in X.gguf --out DIR [--shard-mib 32 | --shard-bytes N] [--base-url URL] [--model ID] [--version V]");
        return ExitCode::from(2);
    };
    // --shard-bytes (exact, for tests) overrides --shard-mib.
    let shard_bytes = match (value(args, "--shard-bytes"), value(args, "--shard-mib").unwrap_or("32").parse::<u64>()) {
        (Some(b), _) => match b.parse::<u64>() {
            Ok(b) => b,
            Err(_) => {
                eprintln!("--shard-bytes must be a whole number");
                return ExitCode::from(2);
            }
        },
        (None, Ok(m)) => m.saturating_mul(1024 * 1024),
        (None, Err(_)) => {
            eprintln!("--shard-mib must be a whole number of MiB");
            return ExitCode::from(2);
        }
    };
    let a = shard::ShardArgs {
        input: input.into(),
        out: out.into(),
        shard_bytes,
        base_url: value(args, "--base-url").map(String::from),
        model: value(args, "--model").map(String::from),
        version: value(args, "--version").map(String::from),
    };
    match shard::shard(&a) {
        Ok(s) => {
            println!("wrote {} ({} shards, {} bytes)", s.manifest.display(), s.shards, s.total_bytes);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tutor-models shard: {e}");
            ExitCode::FAILURE
        }
    }
}
