//! Stream stage: the engine (model + tokenizer) and pull-based generation, one token per call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::forward::gpu::probe;
use crate::forward::model::{block_on, Model};
use crate::forward::ForwardError;
use crate::load::gguf::{Gguf, GgufError};
use crate::load::shards::{ShardError, ShardSource};
use crate::route::signals::{token_stats, top_token_stats, PromptStats, TokenStats};
use crate::sample::{Sampler, SamplingParams};
use crate::template::{ChatTemplate, Message, TemplateError};
use crate::tokenize::{Detokenizer, TokenizeError, Tokenizer};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Tokenize(#[from] TokenizeError),
    #[error(transparent)]
    Forward(#[from] ForwardError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("the prompt is {tokens} tokens, more than the context limit of {limit}")]
    PromptTooLong { tokens: usize, limit: usize },
    #[error("generation already finished ({0:?})")]
    Finished(FinishReason),
}

/// Where the forward pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// The GPU when a hardware adapter exists and passes the self-test, else the CPU (with
    /// the reason). Software adapters (llvmpipe, SwiftShader) are skipped: slower than the CPU.
    #[default]
    Auto,
    Cpu,
    /// The GPU (software adapters included) or an error.
    Gpu,
}

/// The shards an engine keeps, to reload the weights onto the CPU if the GPU is lost.
#[cfg(not(target_arch = "wasm32"))]
pub type OwnedSource = Box<dyn ShardSource + Send>;
/// The shards an engine keeps, to reload the weights onto the CPU if the GPU is lost.
#[cfg(target_arch = "wasm32")]
pub type OwnedSource = Box<dyn ShardSource>;

/// A loaded model with its tokenizer and chat template.
pub struct Engine {
    pub model: Model,
    pub tokenizer: Tokenizer,
    /// How conversations become prompts for this model (its own template, or the plain framing).
    pub template: ChatTemplate,
    /// The ids whose keys and values the model's KV cache holds, in order: the next prompt
    /// reuses its longest common prefix with them.
    kv_tokens: Vec<u32>,
    /// Kept by [`Engine::load_async`] for the CPU fallback.
    source: Option<OwnedSource>,
    max_context: Option<usize>,
    /// Why the engine runs on the CPU when the GPU was wanted (no adapter, failed self-test,
    /// lost device); `None` on the GPU, or when the CPU was asked for.
    pub cpu_reason: Option<String>,
}

impl Engine {
    /// Parse the GGUF header, build the tokenizer, then load weights onto the CPU tensor by tensor.
    pub fn load(src: &mut dyn ShardSource, max_context: Option<usize>) -> Result<Self, EngineError> {
        let mut g = Gguf::read(src)?;
        let (tokenizer, template) = text_stages(&g)?;
        strip_vocab(&mut g);
        let model = Model::load(&g, src, max_context)?;
        Ok(Self { model, tokenizer, template, kv_tokens: Vec::new(), source: None, max_context, cpu_reason: None })
    }

    /// Load onto the backend `choice` picks. On the GPU the engine keeps `src`, so that a GPU
    /// lost mid-answer can be replaced by the CPU without losing the answer.
    pub async fn load_async(mut src: OwnedSource, max_context: Option<usize>, choice: BackendChoice) -> Result<Self, EngineError> {
        let mut lean = Gguf::read(&mut *src)?;
        let (tokenizer, template) = text_stages(&lean)?;
        strip_vocab(&mut lean);
        let mut cpu_reason = None;
        let model = match choice {
            BackendChoice::Cpu => Model::load(&lean, &mut *src, max_context)?,
            BackendChoice::Gpu | BackendChoice::Auto => {
                let gpu = match probe::open(choice == BackendChoice::Gpu).await {
                    Ok(ctx) => Model::load_gpu(&lean, &mut *src, max_context, ctx),
                    Err(e) => Err(ForwardError::Gpu(e)),
                };
                match gpu {
                    Ok(m) => m,
                    Err(e) if choice == BackendChoice::Auto => {
                        cpu_reason = Some(e.to_string());
                        Model::load(&lean, &mut *src, max_context)?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        // Only a GPU engine keeps the shards (to fall back); a CPU one would hold the model twice.
        let source = (model.backend() == "gpu").then_some(src);
        Ok(Self { model, tokenizer, template, kv_tokens: Vec::new(), source, max_context, cpu_reason })
    }

    /// Blocking [`Engine::load_async`] (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_with(src: OwnedSource, max_context: Option<usize>, choice: BackendChoice) -> Result<Self, EngineError> {
        pollster::block_on(Self::load_async(src, max_context, choice))
    }

    /// "cpu" or "gpu".
    pub fn backend(&self) -> &'static str {
        self.model.backend()
    }

    /// Replace a failed GPU model by the CPU one, reloaded from the kept shards. `false` when
    /// the engine kept no shards (loaded with [`Engine::load`]: it never ran on a GPU).
    fn fall_back_to_cpu(&mut self, why: &ForwardError) -> Result<bool, EngineError> {
        let Some(src) = self.source.as_mut() else { return Ok(false) };
        let mut lean = Gguf::read(&mut **src)?;
        strip_vocab(&mut lean);
        self.model = Model::load(&lean, &mut **src, self.max_context)?;
        self.kv_tokens.clear();
        self.cpu_reason = Some(format!("the GPU failed mid-answer ({why}); continued on the CPU"));
        Ok(true)
    }

    /// Start generating a continuation of `prompt`, used verbatim (BOS added when the model
    /// wants one). The prompt is tokenized here; the prefill runs on the first `next` call and
    /// covers only what the KV cache does not already hold.
    pub fn generate(&mut self, prompt: &str, params: GenerateParams) -> Result<Generation, EngineError> {
        let ids = self.tokenizer.encode(prompt, self.tokenizer.add_bos())?;
        Generation::new(self, ids, params)
    }

    /// Start the assistant's answer to `messages`, rendered with the model's chat template.
    /// Generation ends at the model's end-of-turn token (or the plain framing's next turn).
    /// When the conversation and `max_tokens` do not fit the context window, the oldest turns
    /// after the system messages are dropped (the generation says how many).
    pub fn chat(&mut self, messages: &[Message], mut params: GenerateParams) -> Result<Generation, EngineError> {
        let limit = self.model.max_context();
        let mut kept = messages.to_vec();
        let mut dropped = 0;
        let ids = loop {
            let ids = self.encode_chat(&kept)?;
            if ids.len() + params.max_tokens.min(limit / 2) < limit {
                break ids;
            }
            // The oldest message after the system ones goes, but never the last one.
            let first = kept.iter().position(|m| m.role != "system");
            match first {
                Some(i) if i + 1 < kept.len() => {
                    kept.remove(i);
                    dropped += 1;
                }
                _ => break ids,
            }
        };
        params.stop.extend(self.template.stop_strings());
        let mut g = Generation::new(self, ids, params)?;
        g.dropped_messages = dropped;
        Ok(g)
    }

    /// The prompt ids of `messages`: rendered, then tokenized with BOS added once.
    pub fn encode_chat(&self, messages: &[Message]) -> Result<Vec<u32>, EngineError> {
        let text = self.template.render(messages, true)?;
        let add_bos = self.tokenizer.add_bos();
        let text = if add_bos { self.template.strip_bos(&text) } else { &text };
        Ok(self.tokenizer.encode(text, add_bos)?)
    }

    /// The prompt of a one-question conversation with `{question}` standing for the question:
    /// what a route policy calibrated on this model records as its `framing`.
    pub fn framing(&self) -> Result<String, EngineError> {
        let text = self.template.render(&[Message::new("user", "{question}")], true)?;
        Ok(if self.tokenizer.add_bos() { self.template.strip_bos(&text).to_string() } else { text })
    }

    /// Forget the KV cache (the next prompt is prefilled whole).
    pub fn reset(&mut self) {
        self.model.reset();
        self.kv_tokens.clear();
    }

    /// Keep the cache's longest common prefix with `ids`, leaving at least the last id to run
    /// (its logits pick the first token). Returns how many ids the cache already holds.
    fn reuse_prefix(&mut self, ids: &[u32]) -> usize {
        if self.model.pos() != self.kv_tokens.len() {
            // The model was run directly (not through a Generation): the ids are unknown.
            self.reset();
        }
        let common = self.kv_tokens.iter().zip(ids).take_while(|(a, b)| a == b).count();
        let keep = common.min(ids.len().saturating_sub(1));
        self.model.truncate(keep);
        self.kv_tokens.truncate(keep);
        keep
    }
}

/// The tokenizer and the chat template of a GGUF (the template's `bos_token` / `eos_token` are
/// the vocab's texts of those ids).
fn text_stages(g: &Gguf) -> Result<(Tokenizer, ChatTemplate), EngineError> {
    let tokenizer = Tokenizer::from_gguf(g)?;
    let text = |id: Option<u32>| id.and_then(|i| tokenizer.id_to_piece(i)).unwrap_or("").to_string();
    let template = ChatTemplate::from_gguf(g, &text(tokenizer.bos_id()), &text(tokenizer.eos_id()))?;
    Ok((tokenizer, template))
}

/// Drops the vocab arrays (~30 MB for a 262k vocab) once the tokenizer is built: the weights
/// do not need them, and freeing them before the weights arrive keeps peak memory down.
fn strip_vocab(g: &mut Gguf) {
    g.metadata.retain(|k, _| !k.starts_with("tokenizer.ggml."));
}

#[derive(Debug, Clone)]
pub struct GenerateParams {
    pub sampling: SamplingParams,
    pub max_tokens: usize,
    /// Generation ends before any of these strings; the stop string itself is not emitted.
    pub stop: Vec<String>,
}

impl Default for GenerateParams {
    fn default() -> Self {
        Self { sampling: SamplingParams::default(), max_tokens: 256, stop: Vec::new() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model produced an end-of-sequence / end-of-turn token.
    Eos,
    /// A stop string appeared.
    StopString,
    /// `max_tokens` reached.
    Length,
    /// The context window is full.
    ContextFull,
    /// [`AbortHandle::abort`] was called.
    Aborted,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eos | Self::StopString => "stop",
            Self::Length => "length",
            Self::ContextFull => "context_full",
            Self::Aborted => "aborted",
        }
    }
}

/// Stops a generation from another thread (or a JS callback); takes effect at the next step.
#[derive(Clone, Default)]
pub struct AbortHandle(Arc<AtomicBool>);

impl AbortHandle {
    pub fn abort(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_aborted(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What one step produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// The sampled token (None for the final chunk that only flushes held-back text).
    pub token: Option<u32>,
    /// Text that is now safe to show (may be empty: half a UTF-8 character or a possible stop-string prefix is held back).
    pub text: String,
    /// Set on the last chunk.
    pub finish: Option<FinishReason>,
    /// The model's confidence in `token` (from the raw logits, before penalties): the router's
    /// per-token signal. None when `token` is None.
    pub stats: Option<TokenStats>,
    /// Where the text came from: the local model or the gateway (escalated).
    pub source: ChunkSource,
}

/// Which model produced a [`Chunk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChunkSource {
    #[default]
    Local,
    /// Streamed from the gateway by [`crate::escalate`].
    Escalated,
}

/// A running generation. Call [`Generation::next`] until it returns `Ok(None)`.
pub struct Generation {
    params: GenerateParams,
    sampler: Sampler,
    detok: Detokenizer,
    abort: AbortHandle,
    /// Prompt + generated ids.
    history: Vec<u32>,
    prompt_len: usize,
    /// Prompt ids whose KV entries were already cached (not prefilled again).
    cached: usize,
    /// Messages dropped from the start of the conversation to fit the context window.
    dropped_messages: usize,
    /// Ids not yet run through the model (the prompt at first, then the last sampled token).
    pending: Vec<u32>,
    /// Text decoded but not yet emitted (could be the start of a stop string).
    held: String,
    finished: Option<FinishReason>,
    done: bool,
    /// Score the prompt's last tokens during the prefill (see `with_prompt_stats`).
    want_prompt_stats: Option<usize>,
    prompt_stats: Option<PromptStats>,
}

impl Generation {
    pub fn new(engine: &mut Engine, prompt_ids: Vec<u32>, params: GenerateParams) -> Result<Self, EngineError> {
        let limit = engine.model.max_context();
        if prompt_ids.len() >= limit {
            return Err(EngineError::PromptTooLong { tokens: prompt_ids.len(), limit });
        }
        if prompt_ids.is_empty() {
            return Err(ForwardError::EmptyInput.into());
        }
        let cached = engine.reuse_prefix(&prompt_ids);
        Ok(Self {
            sampler: Sampler::new(params.sampling.clone()),
            params,
            detok: Detokenizer::new(),
            abort: AbortHandle::default(),
            history: prompt_ids.clone(),
            prompt_len: prompt_ids.len(),
            cached,
            dropped_messages: 0,
            pending: prompt_ids[cached..].to_vec(),
            held: String::new(),
            finished: None,
            done: false,
            want_prompt_stats: None,
            prompt_stats: None,
        })
    }

    /// Also measure how surprising the end of the prompt is (the router's prompt-perplexity
    /// signal): the prefill runs the output head for the last `tail` + 1 positions too, and
    /// scores the prompt's last `tail` tokens (the policy's `prompt_tail`; the student's question
    /// ends the prompt). Read it with `prompt_stats` after the first `next`.
    pub fn with_prompt_stats(mut self, tail: usize) -> Self {
        self.want_prompt_stats = Some(tail);
        self
    }

    /// The prompt's negative log-likelihood under the model, once the prefill has run.
    pub fn prompt_stats(&self) -> Option<&PromptStats> {
        self.prompt_stats.as_ref()
    }

    pub fn abort_handle(&self) -> AbortHandle {
        self.abort.clone()
    }

    pub fn prompt_tokens(&self) -> usize {
        self.prompt_len
    }

    /// Prompt tokens taken from the KV cache (the prefill ran only the rest).
    pub fn cached_tokens(&self) -> usize {
        self.cached
    }

    /// Messages dropped from the start of the conversation to fit the context window.
    pub fn dropped_messages(&self) -> usize {
        self.dropped_messages
    }

    pub fn generated_tokens(&self) -> usize {
        self.history.len() - self.prompt_len
    }

    /// All tokens so far (prompt, then generated).
    pub fn tokens(&self) -> &[u32] {
        &self.history
    }

    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finished
    }

    /// Run one step: the prefill plus first token on the first call, one decode step after.
    /// Returns `Ok(None)` once the final chunk has been returned. (Blocks natively; in the
    /// browser a GPU engine needs [`Generation::next_async`].)
    pub fn next(&mut self, engine: &mut Engine) -> Result<Option<Chunk>, EngineError> {
        block_on(self.next_async(engine))
    }

    /// [`Generation::next`], awaiting the GPU's readback instead of blocking on it.
    pub async fn next_async(&mut self, engine: &mut Engine) -> Result<Option<Chunk>, EngineError> {
        if self.done {
            return Ok(None);
        }
        if let Some(reason) = self.stop_reason(engine) {
            return Ok(Some(self.finish(engine, reason)?));
        }
        let (token, stats) = self.step(engine).await?;
        let stats = Some(stats);
        self.history.push(token);
        self.pending = vec![token];
        if engine.tokenizer.stop_ids().contains(&token) {
            let mut chunk = self.finish(engine, FinishReason::Eos)?;
            chunk.token = Some(token);
            chunk.stats = stats;
            return Ok(Some(chunk));
        }
        self.held.push_str(&self.detok.push(&engine.tokenizer, token)?);
        if let Some(at) = self.params.stop.iter().filter(|s| !s.is_empty()).filter_map(|s| self.held.find(s.as_str())).min() {
            self.held.truncate(at);
            let mut chunk = self.finish(engine, FinishReason::StopString)?;
            chunk.token = Some(token);
            chunk.stats = stats;
            return Ok(Some(chunk));
        }
        let text = self.take_safe_text();
        Ok(Some(Chunk { token: Some(token), text, finish: None, stats, source: ChunkSource::Local }))
    }

    /// Runs the pending tokens and samples the next one (with the router's confidence stats).
    /// If the GPU fails, the engine reloads onto the CPU, replays every token so far, and the
    /// answer goes on.
    async fn step(&mut self, engine: &mut Engine) -> Result<(u32, TokenStats), EngineError> {
        match self.sample(engine).await {
            Err(EngineError::Forward(e @ ForwardError::Gpu(_))) if engine.backend() == "gpu" => {
                if !engine.fall_back_to_cpu(&e)? {
                    return Err(e.into());
                }
                self.pending = self.history.clone();
                self.cached = 0;
                self.sample(engine).await
            }
            r => r,
        }
    }

    /// Runs the pending ids (the KV cache then holds them) and samples.
    async fn sample(&mut self, engine: &mut Engine) -> Result<(u32, TokenStats), EngineError> {
        if let (Some(tail), None) = (self.want_prompt_stats, &self.prompt_stats) {
            self.uncache_tail(engine, tail + 1);
        }
        let pending = self.pending.clone();
        let r = self.run(engine).await;
        if r.is_ok() {
            engine.kv_tokens.extend_from_slice(&pending);
        }
        r
    }

    /// Make the prefill run at least the prompt's last `n` ids (the prompt signal scores them):
    /// give back cached ids when the cache covered more.
    fn uncache_tail(&mut self, engine: &mut Engine, n: usize) {
        let back = n.saturating_sub(self.pending.len()).min(self.cached);
        if back > 0 {
            self.cached -= back;
            engine.model.truncate(self.cached);
            engine.kv_tokens.truncate(self.cached);
            self.pending = self.history[self.cached..self.prompt_len].to_vec();
        }
    }

    async fn run(&mut self, engine: &mut Engine) -> Result<(u32, TokenStats), EngineError> {
        if let (Some(tail), None) = (self.want_prompt_stats, &self.prompt_stats) {
            let vocab = engine.model.config.vocab_size;
            let rows = engine.model.forward_tail_async(&self.pending, tail + 1).await?;
            let ps = PromptStats::of_tail(&self.pending, &rows, vocab);
            self.prompt_stats = Some(ps);
            let mut logits = rows[rows.len() - vocab..].to_vec();
            return Ok(self.sample_logits(&mut logits));
        }
        // On the GPU, read back only the best logits when they decide the token.
        if engine.backend() == "gpu" {
            if let Some(k) = self.sampler.top_k_needed() {
                let top = engine.model.forward_top_async(&self.pending, k).await?;
                let token = self.sampler.sample_top(&top);
                return Ok((token, top_token_stats(&top, token)));
            }
        }
        let mut logits = engine.model.forward_async(&self.pending).await?;
        Ok(self.sample_logits(&mut logits))
    }

    /// The sampler applies penalties in place: the router's stats come from the raw logits.
    fn sample_logits(&mut self, logits: &mut [f32]) -> (u32, TokenStats) {
        let raw = logits.to_vec();
        let token = self.sampler.sample(logits, &self.history);
        (token, token_stats(&raw, token))
    }

    fn stop_reason(&self, engine: &Engine) -> Option<FinishReason> {
        if self.abort.is_aborted() {
            Some(FinishReason::Aborted)
        } else if self.generated_tokens() >= self.params.max_tokens {
            Some(FinishReason::Length)
        } else if engine.model.pos() + self.pending.len() > engine.model.max_context() {
            Some(FinishReason::ContextFull)
        } else {
            None
        }
    }

    /// Emit held text except a tail that could still grow into a stop string.
    fn take_safe_text(&mut self) -> String {
        let keep = self
            .params
            .stop
            .iter()
            .map(|s| longest_suffix_prefix(&self.held, s))
            .max()
            .unwrap_or(0);
        let cut = self.held.len() - keep;
        let rest = self.held.split_off(cut);
        std::mem::replace(&mut self.held, rest)
    }

    fn finish(&mut self, engine: &Engine, reason: FinishReason) -> Result<Chunk, EngineError> {
        if reason != FinishReason::StopString {
            self.held.push_str(&self.detok.finish(&engine.tokenizer)?);
        }
        self.finished = Some(reason);
        self.done = true;
        Ok(Chunk { token: None, text: std::mem::take(&mut self.held), finish: Some(reason), stats: None, source: ChunkSource::Local })
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `stop` (on char boundaries).
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    let max = stop.len().saturating_sub(1).min(text.len());
    (1..=max)
        .rev()
        .find(|&n| text.is_char_boundary(text.len() - n) && stop.is_char_boundary(n) && text.ends_with(&stop[..n]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::longest_suffix_prefix;

    #[test]
    fn held_back_tail() {
        assert_eq!(longest_suffix_prefix("hello wor", "world"), 3);
        assert_eq!(longest_suffix_prefix("hello", "world"), 0);
        assert_eq!(longest_suffix_prefix("ab\n", "\n\n"), 1);
        assert_eq!(longest_suffix_prefix("añ", "ñx"), 2);
    }
}
