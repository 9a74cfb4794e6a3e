//! `tutor bench` (llama-bench style: prompt processing of N tokens, then generation of M
//! tokens, repeated) and `tutor bandwidth` (the memory-bandwidth ceiling of generation).
//! `scripts/bench.sh` runs both next to llama.cpp and writes BENCHMARKS.md.

pub mod bandwidth;

use std::time::Instant;

use tutor_runtime::load::gguf::Gguf;
use tutor_runtime::load::shards::FileShards;
use tutor_runtime::sample::argmax;
use tutor_runtime::stream::Engine;

use super::{load, ModelArgs, Res};

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Prompt length (tokens) of the prompt-processing test.
    #[arg(long, default_value_t = 128)]
    prompt_tokens: usize,
    /// Tokens generated in the generation test.
    #[arg(long, default_value_t = 64)]
    gen_tokens: usize,
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    reps: u64,
    #[arg(long, default_value_t = 1)]
    warmup: usize,
}

/// Peak resident memory of this process (Linux `VmHWM`), in bytes.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn range(v: &[f64]) -> (f64, f64) {
    (v.iter().cloned().fold(f64::MAX, f64::min), v.iter().cloned().fold(0.0, f64::max))
}

/// The greedy next token after `tokens`, as generation gets it: the GPU reads back only the
/// top logit, the CPU takes the argmax of the logits.
fn next_token(engine: &mut Engine, tokens: &[u32]) -> Res<u32> {
    Ok(if engine.backend() == "gpu" {
        engine.model.forward_top(tokens, 1)?.ids.first().copied().ok_or("empty top-k")?
    } else {
        argmax(&engine.model.forward(tokens)?)
    })
}

/// Bytes of weights one generated token reads: every tensor once, except that the embedding
/// table is read one row at a time unless it doubles as the output head (tied, as in Gemma 3).
fn weight_bytes_per_token(paths: &[String]) -> Res<u64> {
    let mut src = FileShards::open(paths)?;
    let g = Gguf::read(&mut src)?;
    let tied = !g.tensors.iter().any(|t| t.name == "output.weight");
    let embd = g.tensors.iter().find(|t| t.name == "token_embd.weight").map_or(0, |t| t.size);
    let rows = g.tensors.iter().find(|t| t.name == "token_embd.weight").and_then(|t| t.dims.get(1).copied()).unwrap_or(1).max(1) as u64;
    Ok(g.tensor_bytes_total() - if tied { 0 } else { embd - embd / rows })
}

pub fn bench(args: &BenchArgs) -> Res<()> {
    let (n_prompt, n_gen, reps, warmup) = (args.prompt_tokens, args.gen_tokens, args.reps as usize, args.warmup);
    let (mut engine, load_s) = load(&args.model)?;
    let vocab = engine.model.config.vocab_size as u32;
    // A fixed token sequence (BOS, then spread-out ids): the same ids scripts/bench.sh sends
    // to llama.cpp.
    // (Small vocabularies, as in the tiny test models, wrap around theirs.)
    let spread = |i: u32| if vocab > 4000 { 1000 + (i * 7919) % (vocab - 2000) } else { 3 + (i * 7919) % (vocab - 3) };
    let prompt: Vec<u32> = (0..n_prompt as u32).map(|i| if i == 0 { 2 } else { spread(i) }).collect();
    for _ in 0..warmup {
        engine.reset();
        let t = next_token(&mut engine, &prompt[..prompt.len().min(16)])?;
        next_token(&mut engine, &[t])?;
    }
    let (mut pp, mut tg, mut ttft) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        // Prompt: the whole prefill up to the first generated token (= time to first token).
        engine.reset();
        let t0 = Instant::now();
        let mut tok = next_token(&mut engine, &prompt)?;
        let dt = t0.elapsed().as_secs_f64();
        pp.push(n_prompt as f64 / dt);
        ttft.push(dt);
        // Generation from a short context, as llama-bench's tg test does.
        engine.reset();
        engine.model.forward(&[2])?;
        let t2 = Instant::now();
        for _ in 0..n_gen {
            tok = next_token(&mut engine, &[tok])?;
        }
        tg.push(n_gen as f64 / t2.elapsed().as_secs_f64());
    }
    let threads = args.model.threads;
    println!(
        "{}",
        serde_json::json!({
            "backend": engine.backend(),
            "adapter": engine.model.gpu().map(|g| g.adapter_info.clone()),
            "threads": threads,
            "vocab_size": vocab,
            "prompt_tokens": n_prompt,
            "gen_tokens": n_gen,
            "reps": reps,
            "load_s": load_s,
            "prompt_tok_s": median(pp.clone()),
            "prompt_tok_s_range": range(&pp),
            "gen_tok_s": median(tg.clone()),
            "gen_tok_s_range": range(&tg),
            "ttft_s": median(ttft.clone()),
            "ttft_s_range": range(&ttft),
            "peak_rss_bytes": peak_rss(),
            "weight_bytes_per_token": weight_bytes_per_token(&args.model.model)?,
        })
    );
    Ok(())
}
