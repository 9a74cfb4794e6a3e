//! `tutor` — the native command line: inspect a GGUF, run a prompt, benchmark.

use std::process::ExitCode;

use tutor_runtime::load::gguf::{Gguf, Value};
use tutor_runtime::load::shards::FileShards;

fn inspect(paths: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let mut src = FileShards::open(paths)?;
    let g = Gguf::read(&mut src)?;
    println!("GGUF.version = {}", g.version);
    println!("GGUF.tensor_count = {}", g.tensors.len());
    println!("GGUF.kv_count = {}", g.metadata.len());
    let mut keys: Vec<_> = g.metadata.keys().collect();
    keys.sort();
    for k in keys {
        match &g.metadata[k] {
            Value::Array(a) => {
                let head: Vec<String> = a.iter().take(4).map(|v| format!("{v:?}")).collect();
                println!("{k} = array[{}] {} ...", a.len(), head.join(", "));
            }
            v => println!("{k} = {v:?}"),
        }
    }
    for t in &g.tensors {
        println!("{:40} {:5} {:?} {} bytes", t.name, t.dtype.name(), t.dims, t.size);
    }
    println!("total tensor bytes {}", g.tensor_bytes_total());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("inspect") => inspect(&args[1..]),
        _ => {
            eprintln!("usage: tutor inspect SHARD...");
            return ExitCode::from(2);
        }
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
