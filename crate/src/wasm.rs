//! The wasm-bindgen surface: load from shard bytes held by JS, generate as a pull stream.
//!
//! Shards stay JS `Uint8Array`s; the loader copies one byte range (the header, then one tensor)
//! into wasm memory at a time, so the whole GGUF never crosses the boundary as one buffer.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::load::shards::{pieces, shard_starts, ShardError, ShardSource};
use crate::sample::SamplingParams;
use crate::stream::{EngineError, Engine, GenerateParams, Generation};

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
        EngineError::Forward(_) => "forward",
        EngineError::PromptTooLong { .. } => "prompt_too_long",
        EngineError::Finished(_) => "finished",
    };
    js_error(kind, &e.to_string())
}

#[wasm_bindgen]
pub struct TutorEngine {
    engine: Engine,
    generation: Option<Generation>,
}

#[wasm_bindgen]
impl TutorEngine {
    /// Load a model from its shards (an array of `Uint8Array`, in order).
    #[wasm_bindgen(constructor)]
    pub fn new(shards: Array, max_context: Option<u32>) -> Result<TutorEngine, JsValue> {
        let mut src = JsShards::new(&shards)?;
        let engine = Engine::load(&mut src, max_context.map(|c| c as usize)).map_err(engine_error)?;
        Ok(Self { engine, generation: None })
    }

    /// Start a generation (replacing any running one). `temperature` 0 = greedy.
    #[allow(clippy::too_many_arguments)]
    pub fn start(&mut self, prompt: &str, max_tokens: u32, temperature: f32, top_k: u32, top_p: f32, seed: u32, stop: Vec<String>) -> Result<u32, JsValue> {
        let params = GenerateParams {
            sampling: SamplingParams { temperature, top_k: top_k as usize, top_p, seed: seed as u64, ..Default::default() },
            max_tokens: max_tokens as usize,
            stop,
        };
        let g = self.engine.generate(prompt, params).map_err(engine_error)?;
        let n = g.prompt_tokens() as u32;
        self.generation = Some(g);
        Ok(n)
    }

    /// One step: `{ token, text, finish }`, or `null` when the generation is over.
    pub fn next(&mut self) -> Result<JsValue, JsValue> {
        let Some(g) = self.generation.as_mut() else { return Ok(JsValue::NULL) };
        let Some(chunk) = g.next(&mut self.engine).map_err(engine_error)? else {
            self.generation = None;
            return Ok(JsValue::NULL);
        };
        let o = Object::new();
        let token = chunk.token.map_or(JsValue::NULL, |t| JsValue::from(t));
        let finish = chunk.finish.map_or(JsValue::NULL, |f| JsValue::from(f.as_str()));
        Reflect::set(&o, &"token".into(), &token)?;
        Reflect::set(&o, &"text".into(), &chunk.text.into())?;
        Reflect::set(&o, &"finish".into(), &finish)?;
        Ok(o.into())
    }

    /// Stop the running generation; the next `next()` returns the final chunk.
    pub fn abort(&mut self) {
        if let Some(g) = &self.generation {
            g.abort_handle().abort();
        }
    }

    /// Token ids of `text` (with BOS when the model wants one).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, JsValue> {
        self.engine.tokenizer.encode(text, self.engine.tokenizer.add_bos()).map_err(|e| engine_error(e.into()))
    }

    /// Which forward backend runs this engine: `"cpu"` (the GPU path is not wired in yet).
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        "cpu".to_string()
    }

    /// Tokens generated so far by the running generation (0 when none runs).
    #[wasm_bindgen(getter, js_name = generatedTokens)]
    pub fn generated_tokens(&self) -> u32 {
        self.generation.as_ref().map_or(0, |g| g.generated_tokens() as u32)
    }

    #[wasm_bindgen(getter)]
    pub fn architecture(&self) -> String {
        format!("{:?}", self.engine.model.config.arch).to_lowercase()
    }
}
