//! `tutor` — the native command line: inspect a GGUF, answer a question, benchmark, evaluate
//! the router. `tutor --help` and `tutor COMMAND --help` list every option (clap).

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};

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

#[derive(Parser)]
#[command(name = "tutor", version, about = "tutor-runtime's native command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a GGUF's metadata and tensor table (a sharded file: its shards in order).
    Inspect {
        #[arg(required = true, value_name = "GGUF")]
        paths: Vec<String>,
    },
    /// Answer a question in the model's own chat template, or continue a raw prompt.
    Run(RunArgs),
    /// Time prompt processing and generation, llama-bench style (JSON on stdout).
    Bench(bench::BenchArgs),
    /// Measure the memory read bandwidth, generation's ceiling (JSON on stdout).
    Bandwidth(bench::bandwidth::BandwidthArgs),
    /// Score labelled questions with the local model and calibrate the route policy.
    Eval(eval::EvalArgs),
}

/// Which model, where it runs.
#[derive(clap::Args)]
struct ModelArgs {
    /// The GGUF file; repeat for a sharded file's shards, in order.
    #[arg(long = "model", value_name = "PATH")]
    model: Vec<String>,
    /// Context length in tokens (0: the model's own, capped by the engine).
    #[arg(long, default_value_t = 0)]
    ctx: usize,
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    backend: BackendArg,
    /// CPU threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Cpu,
    Gpu,
    Auto,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// A student's question, rendered as a user turn in the model's chat template.
    #[arg(long, conflicts_with = "prompt")]
    question: Option<String>,
    /// A system message before the question.
    #[arg(long, requires = "question")]
    system: Option<String>,
    /// Raw text to continue, verbatim (no template).
    #[arg(long, default_value = "")]
    prompt: String,
    #[arg(long, default_value_t = 64)]
    max_tokens: usize,
    /// 0: greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    #[arg(long, default_value_t = 1.0)]
    repeat_penalty: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop at this text (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Print the prompt's and the answer's token ids.
    #[arg(long)]
    ids: bool,
}

/// Thread count for candle's matmul pool; must be set before the first matmul.
fn set_threads(n: usize) -> Res<()> {
    if n > 0 {
        std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    Ok(())
}

/// Sets the thread count and loads the model.
fn load(args: &ModelArgs) -> Res<(Engine, f64)> {
    if args.model.is_empty() {
        return Err("--model PATH is required".into());
    }
    set_threads(args.threads)?;
    let t0 = Instant::now();
    let src = FileShards::open(&args.model)?;
    let choice = match args.backend {
        BackendArg::Cpu => BackendChoice::Cpu,
        BackendArg::Gpu => BackendChoice::Gpu,
        BackendArg::Auto => BackendChoice::Auto,
    };
    let engine = Engine::load_with(Box::new(src), (args.ctx > 0).then_some(args.ctx), choice)?;
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
fn start(engine: &mut Engine, args: &RunArgs, params: GenerateParams) -> Res<Generation> {
    let Some(question) = &args.question else {
        return Ok(engine.generate(&args.prompt, params)?);
    };
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(Message::new("system", system));
    }
    messages.push(Message::new("user", question));
    Ok(engine.chat(&messages, params)?)
}

fn run(args: &RunArgs) -> Res<()> {
    let (mut engine, load_s) = load(&args.model)?;
    let params = GenerateParams {
        sampling: SamplingParams {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            repetition_penalty: args.repeat_penalty,
            repetition_window: 64,
            seed: args.seed,
        },
        max_tokens: args.max_tokens,
        stop: args.stop.clone(),
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
    if args.ids {
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
    let res = match Cli::parse().command {
        Command::Inspect { paths } => inspect(&paths),
        Command::Run(a) => run(&a),
        Command::Bench(a) => bench::bench(&a),
        Command::Bandwidth(a) => bench::bandwidth::bandwidth(&a),
        Command::Eval(a) => eval::eval(&a),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
