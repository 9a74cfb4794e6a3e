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

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use tutor_runtime::load::gguf::DType;
use tutor_runtime::testmodel::{tiny_model, TinyArch, TinySpec};

#[derive(Parser)]
#[command(name = "tutor-models", version, about = "Tools around model files: tiny test models, shards for the web package")]
enum Cli {
    /// Write a tiny deterministic test model (`tutor_runtime::testmodel`).
    Tiny {
        #[arg(long, value_enum)]
        arch: Arch,
        #[arg(long, value_enum, default_value_t = Dtype::Q8_0)]
        dtype: Dtype,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, value_name = "FILE.gguf")]
        out: PathBuf,
    },
    /// Split a GGUF into shards and write DIR/manifest.json for the web package.
    Shard {
        #[arg(long = "in", value_name = "X.gguf")]
        input: PathBuf,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Shard size in MiB.
        #[arg(long, default_value_t = 32)]
        shard_mib: u64,
        /// Exact shard size in bytes (for tests); overrides --shard-mib.
        #[arg(long)]
        shard_bytes: Option<u64>,
        /// Where the shards will be served from (default: next to the manifest).
        #[arg(long)]
        base_url: Option<String>,
        /// The model's id in the manifest (default: the file name).
        #[arg(long)]
        model: Option<String>,
        /// The model's version in the manifest (default: from the file's sha256).
        #[arg(long)]
        version: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Arch {
    Llama,
    Qwen2,
    Gemma3,
}

#[derive(Clone, Copy, ValueEnum)]
#[allow(non_camel_case_types)]
enum Dtype {
    #[value(name = "F32")]
    F32,
    #[value(name = "F16")]
    F16,
    #[value(name = "Q4_0")]
    Q4_0,
    #[value(name = "Q5_0")]
    Q5_0,
    #[value(name = "Q8_0")]
    Q8_0,
    #[value(name = "Q4_K")]
    Q4K,
    #[value(name = "Q6_K")]
    Q6K,
}

fn main() -> ExitCode {
    match Cli::parse() {
        Cli::Tiny { arch, dtype, seed, out } => tiny(arch, dtype, seed, &out),
        Cli::Shard { input, out, shard_mib, shard_bytes, base_url, model, version } => {
            let shard_bytes = shard_bytes.unwrap_or(shard_mib.saturating_mul(1024 * 1024));
            shard_cmd(&shard::ShardArgs { input, out, shard_bytes, base_url, model, version })
        }
    }
}

fn tiny(arch: Arch, dtype: Dtype, seed: Option<u64>, out: &std::path::Path) -> ExitCode {
    let arch = match arch {
        Arch::Llama => TinyArch::Llama,
        Arch::Qwen2 => TinyArch::Qwen2,
        Arch::Gemma3 => TinyArch::Gemma3,
    };
    let dt = match dtype {
        Dtype::F32 => DType::F32,
        Dtype::F16 => DType::F16,
        Dtype::Q4_0 => DType::Q4_0,
        Dtype::Q5_0 => DType::Q5_0,
        Dtype::Q8_0 => DType::Q8_0,
        Dtype::Q4K => DType::Q4K,
        Dtype::Q6K => DType::Q6K,
    };
    let mut spec = TinySpec::new(arch, dt);
    if let Some(seed) = seed {
        spec.seed = seed;
    }
    let bytes = tiny_model(&spec);
    match std::fs::write(out, &bytes) {
        Ok(()) => {
            println!("wrote {} ({} bytes)", out.display(), bytes.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

fn shard_cmd(a: &shard::ShardArgs) -> ExitCode {
    match shard::shard(a) {
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
