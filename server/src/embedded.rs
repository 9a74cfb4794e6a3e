//! The embedded default upstream: the tutor-runtime engine in this process. Each worker is a
//! dedicated OS thread that owns one `Engine` (CPU-heavy, not shared); requests wait in a
//! bounded queue and get 503 when it is full. A job carries the conversation: the engine renders
//! it with the model's own chat template (or the plain framing of a template-less base model),
//! drops the oldest turns when it does not fit the context, and reuses the KV cache's common
//! prefix with the previous prompt (a follow-up question prefills only the new turn).

use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tutor_runtime::load::shards::FileShards;
use tutor_runtime::sample::SamplingParams;
use tutor_runtime::stream::{Engine, EngineError, GenerateParams};
use tutor_runtime::template::Message;

use crate::answer::Piece;
use crate::chat::Usage;
use crate::config::EmbeddedConfig;
use crate::error::GatewayError;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("cannot load the embedded model {paths:?}: {message}")]
    Load { paths: Vec<PathBuf>, message: String },
    #[error("cannot start an engine thread: {0}")]
    Thread(String),
}

struct Job {
    messages: Vec<Message>,
    params: GenerateParams,
    max_prompt_tokens: usize,
    tx: mpsc::Sender<Piece>,
}

pub struct Embedded {
    queue: std_mpsc::SyncSender<Job>,
    pub name: String,
}

impl Embedded {
    /// Load one engine per worker (each on its own thread) and return once all are ready.
    pub fn start(cfg: &EmbeddedConfig) -> Result<Self, EmbeddedError> {
        let (queue, rx) = std_mpsc::sync_channel::<Job>(cfg.queue);
        let rx = Arc::new(Mutex::new(rx));
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(), String>>();
        for i in 0..cfg.workers {
            let rx = Arc::clone(&rx);
            let ready = ready_tx.clone();
            let paths = cfg.model.clone();
            let ctx = cfg.max_context;
            std::thread::Builder::new()
                .name(format!("engine-{i}"))
                .spawn(move || {
                    let engine = FileShards::open(&paths)
                        .map_err(|e| e.to_string())
                        .and_then(|mut src| Engine::load(&mut src, Some(ctx)).map_err(|e| e.to_string()));
                    match engine {
                        Ok(mut engine) => {
                            let _ = ready.send(Ok(()));
                            drop(ready);
                            worker(&mut engine, &rx);
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                        }
                    }
                })
                .map_err(|e| EmbeddedError::Thread(e.to_string()))?;
        }
        drop(ready_tx);
        for _ in 0..cfg.workers {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(message)) => return Err(EmbeddedError::Load { paths: cfg.model.clone(), message }),
                Err(_) => return Err(EmbeddedError::Load { paths: cfg.model.clone(), message: "engine thread died".into() }),
            }
        }
        Ok(Self { queue, name: cfg.name.clone() })
    }

    /// Queue a generation; pieces arrive on the returned channel. Dropping the receiver (the
    /// client went away) stops the generation at its next token.
    pub fn submit(&self, messages: Vec<Message>, params: GenerateParams, max_prompt_tokens: usize) -> Result<mpsc::Receiver<Piece>, GatewayError> {
        let (tx, rx) = mpsc::channel(64);
        match self.queue.try_send(Job { messages, params, max_prompt_tokens, tx }) {
            Ok(()) => Ok(rx),
            Err(std_mpsc::TrySendError::Full(_)) => Err(GatewayError::Busy),
            Err(std_mpsc::TrySendError::Disconnected(_)) => Err(GatewayError::Internal("the embedded engine stopped".into())),
        }
    }
}

/// Sampling settings from an OpenAI request (llama.cpp server's defaults where unset).
pub fn params(temperature: Option<f64>, top_p: Option<f64>, top_k: Option<u64>, seed: Option<u64>, max_tokens: u32, stop: Vec<String>) -> GenerateParams {
    let d = SamplingParams::default();
    let sampling = SamplingParams {
        temperature: temperature.map(|t| t as f32).unwrap_or(0.8),
        top_p: top_p.map(|p| p as f32).unwrap_or(d.top_p),
        top_k: top_k.map(|k| k as usize).unwrap_or(d.top_k),
        seed: seed.unwrap_or_else(|| crate::chat::now_s() ^ 0x9e37_79b9),
        ..d
    };
    GenerateParams { sampling, max_tokens: max_tokens as usize, stop }
}

fn worker(engine: &mut Engine, rx: &Mutex<std_mpsc::Receiver<Job>>) {
    loop {
        let job = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(j) => j,
                Err(_) => return, // the gateway shut down
            }
        };
        if job.tx.is_closed() {
            continue; // the client left while queued
        }
        run(engine, job);
    }
}

fn run(engine: &mut Engine, job: Job) {
    let send = |p: Piece| job.tx.blocking_send(p).is_ok();
    let mut generation = match engine.chat(&job.messages, job.params) {
        Ok(g) => g,
        Err(e) => {
            send(Piece::Error(job_error(e)));
            return;
        }
    };
    // The gateway's own limit applies to the prompt that runs (after any dropped turns).
    let limit = job.max_prompt_tokens.min(engine.model.max_context().saturating_sub(1));
    if generation.prompt_tokens() > limit {
        send(Piece::Error(GatewayError::PromptTooLong { tokens: generation.prompt_tokens(), limit }));
        return;
    }
    let prompt_tokens = generation.prompt_tokens() as u64;
    let abort = generation.abort_handle();
    loop {
        if job.tx.is_closed() {
            abort.abort();
        }
        match generation.next(engine) {
            Ok(Some(chunk)) => {
                if let Some(f) = chunk.finish {
                    if !chunk.text.is_empty() && !send(Piece::Delta { text: chunk.text, raw: None }) {
                        return;
                    }
                    let usage = Usage { prompt_tokens, completion_tokens: generation.generated_tokens() as u64 };
                    send(Piece::Finish { reason: f.as_str().to_string(), usage, raw: None });
                    return;
                }
                if !chunk.text.is_empty() && !send(Piece::Delta { text: chunk.text, raw: None }) {
                    abort.abort();
                }
            }
            Ok(None) => return,
            Err(e) => {
                send(Piece::Error(GatewayError::Internal(format!("generation failed: {e}"))));
                return;
            }
        }
    }
}

/// A job that cannot start: the prompt too long for the context stays typed (400
/// `context_length_exceeded`), a conversation the template rejects is the client's error.
fn job_error(e: EngineError) -> GatewayError {
    match e {
        EngineError::PromptTooLong { tokens, limit } => GatewayError::PromptTooLong { tokens, limit },
        EngineError::Template(e) => GatewayError::InvalidRequest(format!("the chat template rejects the conversation: {e}")),
        EngineError::Tokenize(e) => GatewayError::InvalidRequest(format!("cannot tokenize the prompt: {e}")),
        e => GatewayError::Internal(format!("cannot start the answer: {e}")),
    }
}
