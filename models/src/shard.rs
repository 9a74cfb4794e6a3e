//! `tutor-models shard`: split a GGUF into fixed-size shards and write `manifest.json`
//! (model id, version, architecture, quant, total bytes, the whole file's sha256 — which model a
//! route policy was calibrated on — and each shard's URL, size and sha256)
//! for the web package's downloader.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};
use tutor_runtime::load::gguf::Gguf;
use tutor_runtime::load::shards::FileShards;

#[derive(Debug, thiserror::Error)]
pub enum ShardToolError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a readable GGUF: {message}")]
    Gguf { path: PathBuf, message: String },
    #[error("shard size must be between 4 KiB and 2 GiB (got {0} bytes)")]
    ShardSize(u64),
}

pub struct ShardArgs {
    pub input: PathBuf,
    pub out: PathBuf,
    pub shard_bytes: u64,
    /// Prefix for shard URLs in the manifest; relative file names when None.
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub version: Option<String>,
}

pub struct ShardSummary {
    pub shards: usize,
    pub total_bytes: u64,
    pub manifest: PathBuf,
}

/// llama.cpp's `general.file_type` values for the quantizations we ship.
fn quant_name(file_type: Option<usize>) -> String {
    match file_type {
        Some(0) => "F32",
        Some(1) => "F16",
        Some(2) => "Q4_0",
        Some(7) => "Q8_0",
        Some(8) => "Q5_0",
        Some(14) => "Q4_K_S",
        Some(15) => "Q4_K_M",
        Some(16) => "Q5_K_S",
        Some(17) => "Q5_K_M",
        Some(18) => "Q6_K",
        _ => "unknown",
    }
    .to_string()
}

pub fn shard(a: &ShardArgs) -> Result<ShardSummary, ShardToolError> {
    if !(4096..=2 << 30).contains(&a.shard_bytes) {
        return Err(ShardToolError::ShardSize(a.shard_bytes));
    }
    let read_err = |source| ShardToolError::Read { path: a.input.clone(), source };
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ShardToolError::Write { path, source }
    };
    // Header facts, through the same hardened reader the engine uses.
    let mut src = FileShards::open(&[&a.input]).map_err(|e| ShardToolError::Gguf { path: a.input.clone(), message: e.to_string() })?;
    let g = Gguf::read(&mut src).map_err(|e| ShardToolError::Gguf { path: a.input.clone(), message: e.to_string() })?;
    let architecture = g.get_str("general.architecture").unwrap_or("unknown").to_string();
    let quant = quant_name(g.get_usize("general.file_type").ok());
    let stem = a.input.file_stem().and_then(|s| s.to_str()).unwrap_or("model").to_string();
    let model = a.model.clone().unwrap_or_else(|| stem.clone());

    std::fs::create_dir_all(&a.out).map_err(write_err(&a.out))?;
    let shard_bytes = a.shard_bytes;
    let mut input = File::open(&a.input).map_err(read_err)?;
    let mut whole = Sha256::new();
    let mut shards = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let name = format!("{stem}.shard{:03}", shards.len());
        let path = a.out.join(&name);
        let mut written = 0u64;
        let mut h = Sha256::new();
        let mut w: Option<BufWriter<File>> = None;
        while written < shard_bytes {
            let want = buf.len().min((shard_bytes - written) as usize);
            let n = input.read(&mut buf[..want]).map_err(read_err)?;
            if n == 0 {
                break;
            }
            if w.is_none() {
                w = Some(BufWriter::new(File::create(&path).map_err(write_err(&path))?));
            }
            if let Some(w) = w.as_mut() {
                w.write_all(&buf[..n]).map_err(write_err(&path))?;
            }
            h.update(&buf[..n]);
            whole.update(&buf[..n]);
            written += n as u64;
        }
        let Some(mut w) = w else { break };
        w.flush().map_err(write_err(&path))?;
        total += written;
        let url = match &a.base_url {
            Some(b) => format!("{}/{name}", b.trim_end_matches('/')),
            None => name,
        };
        shards.push(json!({ "url": url, "size": written, "sha256": hex(&h.finalize()) }));
        if written < shard_bytes {
            break;
        }
    }
    // Content-addressed version by default: a new file is a new version (and evicts the old).
    let sha256 = hex(&whole.finalize());
    let version = a.version.clone().unwrap_or_else(|| sha256[..16].to_string());
    let manifest = json!({
        "model": model,
        "version": version,
        "sha256": sha256,
        "architecture": architecture,
        "quant": quant,
        "total_bytes": total,
        "shard_bytes": shard_bytes,
        "shards": shards,
    });
    let mpath = a.out.join("manifest.json");
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    std::fs::write(&mpath, text + "\n").map_err(write_err(&mpath))?;
    Ok(ShardSummary { shards: shards.len(), total_bytes: total, manifest: mpath })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
