//! Bounded load generator for the gateway: N concurrent streaming clients for a fixed time,
//! over loopback, from its own process.
//!
//! tutor-gateway-loadgen --url http://127.0.0.1:8080 [--clients 4] [--seconds 60]
//!                       [--max-tokens 32] [--pid GATEWAY_PID]
//!
//! Reports throughput (answers/s, tokens/s), time to first byte (p50/p99), errors and, with
//! `--pid`, the gateway's resident memory at start and end (and its peak). Prints one JSON line
//! last.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::Mutex;
use tutor_runtime::escalate::sse::SseParser;

#[derive(Default)]
struct Totals {
    ok: u64,
    errors: u64,
    error_samples: Vec<String>,
    tokens: u64,
    ttfb_ms: Vec<f64>,
    total_ms: Vec<f64>,
}

/// Concurrent streaming clients against a gateway, for a while; prints latency percentiles
/// and the gateway's peak memory as JSON.
#[derive(clap::Parser)]
#[command(name = "tutor-gateway-loadgen", version)]
struct Cli {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long, default_value_t = 4)]
    clients: usize,
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    #[arg(long, default_value_t = 32)]
    max_tokens: u32,
    /// The gateway's pid, to sample its resident memory (0: don't).
    #[arg(long, default_value_t = 0)]
    pid: u32,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok())
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

const QUESTIONS: [&str; 6] = [
    "What is photosynthesis?",
    "Why is the sky blue?",
    "What is the capital of France?",
    "How many legs does a spider have?",
    "What is 12 times 12?",
    "Who wrote Romeo and Juliet?",
];

/// One streamed answer: Ok((ttfb, total, tokens)) or an error description.
async fn one(client: &reqwest::Client, url: &str, q: String, max_tokens: u32) -> Result<(f64, f64, u64), String> {
    let body = serde_json::json!({ "messages": [{ "role": "user", "content": q }], "max_tokens": max_tokens, "temperature": 0, "stream": true });
    let t0 = Instant::now();
    let resp = client.post(url).header("content-type", "application/json").body(body.to_string()).send().await.map_err(|e| format!("send: {e}"))?;
    if resp.status() != 200 {
        let s = resp.status();
        return Err(format!("HTTP {s}: {}", resp.text().await.unwrap_or_default().chars().take(200).collect::<String>()));
    }
    let mut stream = resp.bytes_stream();
    let mut parser = SseParser::default();
    let mut ttfb = None;
    let mut tokens = 0;
    while let Some(b) = stream.next().await {
        let b = b.map_err(|e| format!("read: {e}"))?;
        ttfb.get_or_insert_with(|| t0.elapsed().as_secs_f64() * 1000.0);
        parser.push(&b);
        while let Some(ev) = parser.next_event() {
            let ev = ev.map_err(|e| e.to_string())?;
            if ev.data == "[DONE]" {
                return Ok((ttfb.unwrap_or(0.0), t0.elapsed().as_secs_f64() * 1000.0, tokens));
            }
            let v: serde_json::Value = serde_json::from_str(&ev.data).map_err(|e| format!("json: {e}"))?;
            if v.get("error").is_some() {
                return Err(format!("error event: {}", v["error"]));
            }
            if v["choices"][0]["delta"]["content"].as_str().is_some_and(|s| !s.is_empty()) {
                tokens += 1;
            }
        }
    }
    Err("stream ended without [DONE]".into())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let Cli { url: base, clients, seconds, max_tokens, pid } = <Cli as clap::Parser>::parse();
    let url = format!("{}/v1/chat/completions", base.trim_end_matches('/'));
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(300)).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(1);
        }
    };
    let totals = Arc::new(Mutex::new(Totals::default()));
    let rss_start = if pid > 0 { rss_kib(pid) } else { None };
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(rss_start.unwrap_or(0)));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let t0 = Instant::now();
    let sampler = {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            while pid > 0 && Instant::now() < deadline {
                if let Some(r) = rss_kib(pid) {
                    peak.fetch_max(r, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, url, totals) = (client.clone(), url.clone(), Arc::clone(&totals));
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < deadline {
                // Distinct questions (client and sequence number), so the answer cache never hits.
                let q = format!("{} (student {c}, question {n})", QUESTIONS[(c + n) % QUESTIONS.len()]);
                n += 1;
                let r = one(&client, &url, q, max_tokens).await;
                let mut t = totals.lock().await;
                match r {
                    Ok((ttfb, total, tokens)) => {
                        t.ok += 1;
                        t.tokens += tokens;
                        t.ttfb_ms.push(ttfb);
                        t.total_ms.push(total);
                    }
                    Err(e) => {
                        t.errors += 1;
                        if t.error_samples.len() < 5 {
                            t.error_samples.push(e);
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let _ = sampler.await;
    let elapsed = t0.elapsed().as_secs_f64();
    let rss_end = if pid > 0 { rss_kib(pid) } else { None };
    let mut t = totals.lock().await;
    let (p50, p99) = (percentile(&mut t.ttfb_ms, 0.5), percentile(&mut t.ttfb_ms, 0.99));
    let (l50, l99) = (percentile(&mut t.total_ms, 0.5), percentile(&mut t.total_ms, 0.99));
    for e in &t.error_samples {
        eprintln!("error: {e}");
    }
    let mb = |k: Option<u64>| k.map(|k| k as f64 / 1024.0);
    let peak_kib = peak.load(std::sync::atomic::Ordering::Relaxed);
    let out = serde_json::json!({
        "clients": clients, "seconds": elapsed, "max_tokens": max_tokens,
        "answers": t.ok, "errors": t.errors, "tokens": t.tokens,
        "answers_per_s": t.ok as f64 / elapsed, "tokens_per_s": t.tokens as f64 / elapsed,
        "ttfb_p50_ms": p50, "ttfb_p99_ms": p99, "latency_p50_ms": l50, "latency_p99_ms": l99,
        "rss_start_mb": mb(rss_start), "rss_end_mb": mb(rss_end), "rss_peak_mb": (pid > 0).then(|| peak_kib as f64 / 1024.0),
    });
    eprintln!(
        "{clients} clients, {elapsed:.0} s: {} answers ({:.2}/s), {} tokens ({:.1}/s), {} errors; TTFB p50 {p50:.0} ms, p99 {p99:.0} ms",
        t.ok, t.ok as f64 / elapsed, t.tokens, t.tokens as f64 / elapsed, t.errors
    );
    println!("{out}");
    if t.errors > 0 {
        std::process::exit(1);
    }
}
