//! The wasm-bindgen surface: load from shard bytes held by JS, generate as a pull stream.
//! Requests, chunks and stats cross the boundary as serde values (`serde-wasm-bindgen`).
//!
//! Shards stay JS `Uint8Array`s; the loader copies one byte range (the header, then one tensor)
//! into wasm memory at a time, so the whole GGUF never crosses the boundary as one buffer.

use js_sys::{Array, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use std::cell::RefCell;

use crate::load::shards::{pieces, shard_starts, ShardError, ShardSource};
use crate::route::signals::TokenStats;
use crate::sample::SamplingParams;
use crate::template::Message;

use crate::stream::{AbortHandle, BackendChoice, Chunk, EngineError, Engine, GenerateParams, Generation};

/// The model's shards as JS byte arrays, read range by range.
struct JsShards {
    shards: Vec<Uint8Array>,
    starts: Vec<u64>,
}

impl JsShards {
    fn new(arr: &Array) -> Result<Self, JsValue> {
        let mut shards = Vec::new();
        for v in arr.iter() {
            shards.push(v.dyn_into::<Uint8Array>().map_err(|_| js_error("invalid_input", "shards must be Uint8Arrays"))?);
        }
        if shards.is_empty() {
            return Err(js_error("invalid_input", "no shards given"));
        }
        let starts = shard_starts(shards.iter().map(|u| u.length() as u64));
        Ok(Self { shards, starts })
    }
}

impl ShardSource for JsShards {
    fn len(&self) -> u64 {
        self.starts[self.starts.len() - 1]
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), ShardError> {
        let mut filled = 0;
        for (idx, off, take) in pieces(&self.starts, offset, buf.len() as u64)? {
            // Offsets within one JS array fit in u32 (a Uint8Array is at most 4 GiB here).
            let off = off as u32;
            self.shards[idx].subarray(off, off + take as u32).copy_to(&mut buf[filled..filled + take]);
            filled += take;
        }
        Ok(())
    }
}

/// A JS `Error` carrying a machine-readable `kind`.
fn js_error(kind: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    let _ = Reflect::set(&e, &"kind".into(), &kind.into());
    e.into()
}

fn engine_error(e: EngineError) -> JsValue {
    let kind = match &e {
        EngineError::Shard(_) | EngineError::Gguf(_) => "model_file",
        EngineError::Tokenize(_) => "tokenize",
        EngineError::Template(_) => "template",
        EngineError::Forward(_) => "forward",
        EngineError::PromptTooLong { .. } => "prompt_too_long",
        EngineError::Finished(_) => "finished",
    };
    js_error(kind, &e.to_string())
}

#[wasm_bindgen]
pub struct TutorEngine {
    // RefCells: `nextAsync` holds the engine across an await (a GPU readback) while `abort`
    // must still work; a second concurrent call gets a typed "busy" error.
    engine: RefCell<Engine>,
    generation: RefCell<Option<Generation>>,
    abort: RefCell<Option<AbortHandle>>,
}

fn busy() -> JsValue {
    js_error("busy", "the engine is already running a step (await the previous nextAsync first)")
}

/// What `start` takes: a conversation (rendered with the model's chat template) or a raw prompt
/// (used verbatim), and the generation parameters.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StartRequest {
    messages: Option<Vec<Message>>,
    prompt: Option<String>,
    params: ParamsDto,
    /// Score the prompt's last `measureTail` tokens during the prefill (the router's prompt
    /// signal; read with `promptStats()` after the first step).
    measure_tail: Option<u32>,
}

/// Generation parameters as JS passes them (`temperature` 0 = greedy).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ParamsDto {
    max_tokens: u32,
    temperature: f32,
    top_k: u32,
    top_p: f32,
    seed: u32,
    #[serde(default)]
    stop: Vec<String>,
}

impl From<ParamsDto> for GenerateParams {
    fn from(p: ParamsDto) -> Self {
        GenerateParams {
            sampling: SamplingParams { temperature: p.temperature, top_k: p.top_k as usize, top_p: p.top_p, seed: p.seed as u64, ..Default::default() },
            max_tokens: p.max_tokens as usize,
            stop: p.stop,
        }
    }
}

/// What `start` returns: the prompt's size and how much of it the KV cache already held.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Started {
    prompt_tokens: u32,
    /// Prompt tokens reused from the KV cache (the prefill runs only the rest).
    cached_tokens: u32,
    /// Oldest turns left out so the conversation fits the context window.
    dropped_messages: u32,
}

/// One step's chunk: `{ token, text, finish, stats }` (token and stats null on the final flush).
#[derive(Serialize)]
struct ChunkDto<'a> {
    token: Option<u32>,
    text: &'a str,
    finish: Option<&'static str>,
    /// The router's per-token signal: `{ logprob, entropy, top1 }`.
    stats: Option<TokenStats>,
}

/// The prompt signal after a measured prefill.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PromptStatsDto {
    tokens: u32,
    scored: u32,
    mean_nll: f32,
    max_nll: f32,
}

/// A Rust value as a plain JS value (`null` for `None`, objects for structs).
fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| js_error("serialize", &e.to_string()))
}

fn chunk_value(chunk: &Chunk) -> Result<JsValue, JsValue> {
    to_js(&ChunkDto { token: chunk.token, text: &chunk.text, finish: chunk.finish.map(|f| f.as_str()), stats: chunk.stats })
}

#[wasm_bindgen]
impl TutorEngine {
    /// Load a model from its shards (an array of `Uint8Array`, in order) onto the CPU.
    #[wasm_bindgen(constructor)]
    pub fn new(shards: Array, max_context: Option<u32>) -> Result<TutorEngine, JsValue> {
        let mut src = JsShards::new(&shards)?;
        let engine = Engine::load(&mut src, max_context.map(|c| c as usize)).map_err(engine_error)?;
        Ok(Self::wrap(engine))
    }

    /// Load a model from its shards onto `backend`: "auto" (WebGPU when an adapter exists and
    /// passes a self-test, else the CPU — `cpuReason` says why), "gpu" or "cpu". The shards are
    /// kept, so a GPU lost mid-answer is replaced by the CPU and the answer goes on.
    pub async fn create(shards: Array, max_context: Option<u32>, backend: Option<String>) -> Result<TutorEngine, JsValue> {
        let choice = match backend.as_deref().unwrap_or("auto") {
            "auto" => BackendChoice::Auto,
            "gpu" | "webgpu" => BackendChoice::Gpu,
            "cpu" => BackendChoice::Cpu,
            other => return Err(js_error("invalid_input", &format!("backend must be auto, gpu or cpu, not {other:?}"))),
        };
        let src = JsShards::new(&shards)?;
        let engine = Engine::load_async(Box::new(src), max_context.map(|c| c as usize), choice).await.map_err(engine_error)?;
        Ok(Self::wrap(engine))
    }

    fn wrap(engine: Engine) -> Self {
        Self { engine: RefCell::new(engine), generation: RefCell::new(None), abort: RefCell::new(None) }
    }

    /// Start a generation (replacing any running one) from a request value:
    /// `{ messages?: {role, content}[], prompt?: string, params: { maxTokens, temperature, topK,
    /// topP, seed, stop }, measureTail?: number }`. Messages are rendered with the model's chat
    /// template (the answer ends at its end-of-turn token; the oldest turns are dropped when the
    /// conversation does not fit); a prompt is used verbatim. Either way the KV cache's common
    /// prefix with the new prompt is reused. Returns `{ promptTokens, cachedTokens,
    /// droppedMessages }`.
    pub fn start(&self, request: JsValue) -> Result<JsValue, JsValue> {
        let req: StartRequest = serde_wasm_bindgen::from_value(request).map_err(|e| js_error("invalid_input", &format!("start request: {e}")))?;
        let params = GenerateParams::from(req.params);
        let mut engine = self.engine.try_borrow_mut().map_err(|_| busy())?;
        let g = match (req.messages, req.prompt) {
            (Some(messages), None) => engine.chat(&messages, params),
            (None, Some(prompt)) => engine.generate(&prompt, params),
            _ => return Err(js_error("invalid_input", "start request needs exactly one of messages or prompt")),
        }
        .map_err(engine_error)?;
        let g = match req.measure_tail {
            Some(tail) => g.with_prompt_stats(tail as usize),
            None => g,
        };
        let started = Started { prompt_tokens: g.prompt_tokens() as u32, cached_tokens: g.cached_tokens() as u32, dropped_messages: g.dropped_messages() as u32 };
        *self.abort.borrow_mut() = Some(g.abort_handle());
        *self.generation.try_borrow_mut().map_err(|_| busy())? = Some(g);
        to_js(&started)
    }

    /// One step: `{ token, text, finish, stats }`, or `null` when the generation is over. CPU engines
    /// only (a GPU step must await its readback: use `nextAsync`).
    pub fn next(&self) -> Result<JsValue, JsValue> {
        let mut engine = self.engine.try_borrow_mut().map_err(|_| busy())?;
        let mut slot = self.generation.try_borrow_mut().map_err(|_| busy())?;
        let Some(g) = slot.as_mut() else { return Ok(JsValue::NULL) };
        let Some(chunk) = g.next(&mut engine).map_err(engine_error)? else {
            *slot = None;
            return Ok(JsValue::NULL);
        };
        chunk_value(&chunk)
    }

    /// `{ tokens, scored, meanNll, maxNll }` once the prefill of a generation started with
    /// `measureTail` has run, else null.
    #[wasm_bindgen(js_name = promptStats)]
    pub fn prompt_stats(&self) -> Result<JsValue, JsValue> {
        let slot = self.generation.try_borrow().map_err(|_| busy())?;
        let stats = slot.as_ref().and_then(|g| g.prompt_stats().copied());
        to_js(&stats.map(|p| PromptStatsDto { tokens: p.tokens as u32, scored: p.scored as u32, mean_nll: p.mean_nll(), max_nll: p.max_nll }))
    }

    /// One step, on any backend: resolves to `{ token, text, finish, stats }`, or `null` when the
    /// generation is over.
    #[wasm_bindgen(js_name = nextAsync)]
    #[allow(clippy::await_holding_refcell_ref)]
    pub async fn next_async(&self) -> Result<JsValue, JsValue> {
        let mut engine = self.engine.try_borrow_mut().map_err(|_| busy())?;
        let mut slot = self.generation.try_borrow_mut().map_err(|_| busy())?;
        let Some(g) = slot.as_mut() else { return Ok(JsValue::NULL) };
        let Some(chunk) = g.next_async(&mut engine).await.map_err(engine_error)? else {
            *slot = None;
            return Ok(JsValue::NULL);
        };
        chunk_value(&chunk)
    }

    /// Stop the running generation; the next step returns the final chunk.
    pub fn abort(&self) {
        if let Some(a) = self.abort.borrow().as_ref() {
            a.abort();
        }
    }

    /// Token ids of `text` (with BOS when the model wants one).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, JsValue> {
        let engine = self.engine.try_borrow().map_err(|_| busy())?;
        engine.tokenizer.encode(text, engine.tokenizer.add_bos()).map_err(|e| engine_error(e.into()))
    }

    /// Number of tokens of `text` alone (no BOS): a question's length for the router.
    #[wasm_bindgen(js_name = countTokens)]
    pub fn count_tokens(&self, text: &str) -> Result<u32, JsValue> {
        let engine = self.engine.try_borrow().map_err(|_| busy())?;
        engine.tokenizer.encode(text, false).map(|ids| ids.len() as u32).map_err(|e| engine_error(e.into()))
    }

    /// Tokens generated so far by the running generation (0 when none runs).
    #[wasm_bindgen(getter, js_name = generatedTokens)]
    pub fn generated_tokens(&self) -> Result<u32, JsValue> {
        let slot = self.generation.try_borrow().map_err(|_| busy())?;
        Ok(slot.as_ref().map_or(0, |g| g.generated_tokens() as u32))
    }

    #[wasm_bindgen(getter)]
    pub fn architecture(&self) -> Result<String, JsValue> {
        let engine = self.engine.try_borrow().map_err(|_| busy())?;
        Ok(format!("{:?}", engine.model.config.arch).to_lowercase())
    }

    /// "gpu" or "cpu": where the forward pass runs now.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> Result<String, JsValue> {
        Ok(self.engine.try_borrow().map_err(|_| busy())?.backend().to_string())
    }

    /// Why the engine runs on the CPU although the GPU was wanted (no adapter, failed
    /// self-test, lost device), or `undefined`.
    #[wasm_bindgen(getter, js_name = cpuReason)]
    pub fn cpu_reason(&self) -> Result<Option<String>, JsValue> {
        Ok(self.engine.try_borrow().map_err(|_| busy())?.cpu_reason.clone())
    }
}
