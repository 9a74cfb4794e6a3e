//! `tutor` — the native command line: inspect a GGUF, run a prompt, benchmark.
//!
//! ```text
//! tutor inspect MODEL.gguf [MORE_SHARDS...]
//! tutor run --model MODEL.gguf [--model SHARD2 ...] (--question TEXT [--system TEXT] | --prompt TEXT) [--max-tokens N]
//!           [--temperature T] [--top-k K] [--top-p P] [--repeat-penalty R] [--seed S]
//!           [--stop STR]... [--threads N] [--ctx N] [--ids] [--backend cpu|gpu|auto]
//! tutor bench --model MODEL.gguf [--backend cpu|gpu|auto] [--threads N] [--prompt-tokens 128] [--gen-tokens 64] [--reps 3] [--warmup 1]
//! tutor bandwidth [--threads N] [--mib 1024] [--reps 5]   (memory read bandwidth, JSON)
//! tutor eval --model MODEL.gguf --data QUESTIONS.jsonl [--data ...] --out DIR [--limit N]
//!           [--server-accuracy 0.9] [--max-loss 0.02] [--folds 5] [--seed 6] [--threads N]
//! tutor eval --scored DIR/scored.jsonl --out DIR        (rebuild the report without the model)
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use tutor_runtime::load::gguf::{Gguf, Value};
use tutor_runtime::load::shards::FileShards;
use tutor_runtime::sample::SamplingParams;
use tutor_runtime::stream::{BackendChoice, Engine, GenerateParams, Generation};
use tutor_runtime::template::Message;

#[path = "bench/mod.rs"]
mod bench;
#[path = "eval/mod.rs"]
mod eval;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// `--flag value` pairs and bare `--switch`es.
struct Args {
    pairs: Vec<(String, String)>,
    switches: Vec<String>,
}

impl Args {
    fn parse(raw: &[String]) -> Res<Self> {
        let mut pairs = Vec::new();
        let mut switches = Vec::new();
        let mut it = raw.iter();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else { return Err(format!("unexpected argument {a:?}").into()) };
            if name == "ids" {
                switches.push(name.to_string());
                continue;
            }
            let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            pairs.push((name.to_string(), v.clone()));
        }
        Ok(Self { pairs, switches })
    }
    fn all(&self, name: &str) -> Vec<String> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
    fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> Res<T> {
        match self.pairs.iter().rev().find(|(k, _)| k == name) {
            None => Ok(default),
            Some((_, v)) => v.parse().map_err(|_| format!("--{name}: cannot parse {v:?}").into()),
        }
    }
    fn has(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }
}

/// Thread count for candle's matmul pool; must be set before the first matmul.
fn set_threads(args: &Args) -> Res<()> {
    let n: usize = args.get("threads", 0)?;
    if n > 0 {
        std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    Ok(())
}

fn load(args: &Args) -> Res<(Engine, f64)> {
    let shards = args.all("model");
    if shards.is_empty() {
        return Err("--model PATH is required".into());
    }
    let t0 = Instant::now();
    let src = FileShards::open(&shards)?;
    let ctx: usize = args.get("ctx", 0)?;
    let choice = match args.get("backend", "cpu".to_string())?.as_str() {
        "cpu" => BackendChoice::Cpu,
        "gpu" => BackendChoice::Gpu,
        "auto" => BackendChoice::Auto,
        other => return Err(format!("--backend must be cpu, gpu or auto, not {other:?}").into()),
    };
    let engine = Engine::load_with(Box::new(src), (ctx > 0).then_some(ctx), choice)?;
    if let Some(why) = &engine.cpu_reason {
        eprintln!("[running on the CPU: {why}]");
    }
    if let Some(gpu) = engine.model.gpu() {
        eprintln!("[running on the GPU: {}]", gpu.adapter_info);
    }
    Ok((engine, t0.elapsed().as_secs_f64()))
}

fn inspect(paths: &[String]) -> Res<()> {
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

/// `--question` (with `--system`): a user turn in the model's chat template; `--prompt`: the text
/// verbatim.
fn start(engine: &mut Engine, args: &Args, params: GenerateParams) -> Res<Generation> {
    let question: String = args.get("question", String::new())?;
    if question.is_empty() {
        return Ok(engine.generate(&args.get("prompt", String::new())?, params)?);
    }
    let mut messages = Vec::new();
    let system: String = args.get("system", String::new())?;
    if !system.is_empty() {
        messages.push(Message::new("system", &system));
    }
    messages.push(Message::new("user", &question));
    Ok(engine.chat(&messages, params)?)
}

fn run(args: &Args) -> Res<()> {
    set_threads(args)?;
    let (mut engine, load_s) = load(args)?;
    let params = GenerateParams {
        sampling: SamplingParams {
            temperature: args.get("temperature", 0.0)?,
            top_k: args.get("top-k", 40)?,
            top_p: args.get("top-p", 0.95)?,
            repetition_penalty: args.get("repeat-penalty", 1.0)?,
            repetition_window: 64,
            seed: args.get("seed", 0)?,
        },
        max_tokens: args.get("max-tokens", 64)?,
        stop: args.all("stop"),
    };
    let t0 = Instant::now();
    let mut gen = start(&mut engine, args, params)?;
    let mut first: Option<f64> = None;
    let mut out = std::io::stdout();
    let mut ids = Vec::new();
    while let Some(chunk) = gen.next(&mut engine)? {
        first.get_or_insert(t0.elapsed().as_secs_f64());
        ids.extend(chunk.token);
        write!(out, "{}", chunk.text)?;
        out.flush()?;
        if let Some(f) = chunk.finish {
            eprintln!("\n[finish: {}]", f.as_str());
        }
    }
    let total = t0.elapsed().as_secs_f64();
    if args.has("ids") {
        println!("\nprompt ids: {:?}\ngenerated ids: {:?}", &gen.tokens()[..gen.prompt_tokens()], ids);
    }
    let ttft = first.unwrap_or(total);
    let n = gen.generated_tokens();
    eprintln!(
        "[load {load_s:.2}s | prompt {} tokens, first token after {:.3}s | {} tokens at {:.1} tok/s]",
        gen.prompt_tokens(),
        ttft,
        n,
        if total > ttft { (n.saturating_sub(1)) as f64 / (total - ttft) } else { 0.0 }
    );
    Ok(())
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let res = match raw.first().map(String::as_str) {
        Some("inspect") if raw.len() > 1 => inspect(&raw[1..]),
        Some("run") => Args::parse(&raw[1..]).and_then(|a| run(&a)),
        Some("bench") => Args::parse(&raw[1..]).and_then(|a| bench::bench(&a)),
        Some("bandwidth") => Args::parse(&raw[1..]).and_then(|a| bench::bandwidth::bandwidth(&a)),
        Some("eval") => Args::parse(&raw[1..]).and_then(|a| eval::eval(&a)),
        _ => {
            eprintln!("usage:\n  tutor inspect MODEL.gguf [SHARD...]\n  tutor run --model MODEL.gguf (--question TEXT [--system TEXT] | --prompt TEXT) [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--repeat-penalty R] [--seed S] [--stop STR]... [--threads N] [--ctx N] [--ids] [--backend cpu|gpu|auto]\n  tutor bench --model MODEL.gguf [--backend cpu|gpu|auto] [--threads N] [--prompt-tokens N] [--gen-tokens N] [--reps N] [--warmup N]\n  tutor bandwidth [--threads N] [--mib 1024] [--reps 5]\n  tutor eval --model MODEL.gguf --data QUESTIONS.jsonl --out DIR [--limit N] [--server-accuracy P] [--max-loss L] | --scored DIR/scored.jsonl --out DIR");
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
