//! Stream stage: the engine (model + tokenizer) and pull-based generation, one token per call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::forward::model::Model;
use crate::forward::ForwardError;
use crate::load::gguf::{Gguf, GgufError};
use crate::load::shards::{ShardError, ShardSource};
use crate::sample::{Sampler, SamplingParams};
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
    #[error("the prompt is {tokens} tokens, more than the context limit of {limit}")]
    PromptTooLong { tokens: usize, limit: usize },
    #[error("generation already finished ({0:?})")]
    Finished(FinishReason),
}

/// A loaded model with its tokenizer.
pub struct Engine {
    pub model: Model,
    pub tokenizer: Tokenizer,
}

impl Engine {
    /// Parse the GGUF header, build the tokenizer, then load weights tensor by tensor.
    pub fn load(src: &mut dyn ShardSource, max_context: Option<usize>) -> Result<Self, EngineError> {
        let mut g = Gguf::read(src)?;
        let tokenizer = Tokenizer::from_gguf(&g)?;
        // The vocab arrays (~30 MB for a 262k vocab) are no longer needed: free them before
        // the weights arrive, which keeps peak memory down.
        g.metadata.retain(|k, _| !k.starts_with("tokenizer.ggml."));
        let model = Model::load(&g, src, max_context)?;
        Ok(Self { model, tokenizer })
    }

    /// Start generating a continuation of `prompt` (a fresh context: the KV cache is reset).
    /// The prompt is tokenized here; the prefill runs on the first `next` call.
    pub fn generate(&mut self, prompt: &str, params: GenerateParams) -> Result<Generation, EngineError> {
        let ids = self.tokenizer.encode(prompt, self.tokenizer.add_bos())?;
        Generation::new(self, ids, params)
    }
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
    /// Ids not yet run through the model (the prompt at first, then the last sampled token).
    pending: Vec<u32>,
    /// Text decoded but not yet emitted (could be the start of a stop string).
    held: String,
    finished: Option<FinishReason>,
    done: bool,
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
        engine.model.reset();
        Ok(Self {
            sampler: Sampler::new(params.sampling.clone()),
            params,
            detok: Detokenizer::new(),
            abort: AbortHandle::default(),
            history: prompt_ids.clone(),
            prompt_len: prompt_ids.len(),
            pending: prompt_ids,
            held: String::new(),
            finished: None,
            done: false,
        })
    }

    pub fn abort_handle(&self) -> AbortHandle {
        self.abort.clone()
    }

    pub fn prompt_tokens(&self) -> usize {
        self.prompt_len
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
    /// Returns `Ok(None)` once the final chunk has been returned.
    pub fn next(&mut self, engine: &mut Engine) -> Result<Option<Chunk>, EngineError> {
        if self.done {
            return Ok(None);
        }
        if let Some(reason) = self.stop_reason(engine) {
            return Ok(Some(self.finish(engine, reason)?));
        }
        let mut logits = engine.model.forward(&self.pending)?;
        let token = self.sampler.sample(&mut logits, &self.history);
        self.history.push(token);
        self.pending = vec![token];
        if engine.tokenizer.stop_ids().contains(&token) {
            let mut chunk = self.finish(engine, FinishReason::Eos)?;
            chunk.token = Some(token);
            return Ok(Some(chunk));
        }
        self.held.push_str(&self.detok.push(&engine.tokenizer, token)?);
        if let Some(at) = self.params.stop.iter().filter(|s| !s.is_empty()).filter_map(|s| self.held.find(s.as_str())).min() {
            self.held.truncate(at);
            let mut chunk = self.finish(engine, FinishReason::StopString)?;
            chunk.token = Some(token);
            return Ok(Some(chunk));
        }
        let text = self.take_safe_text();
        Ok(Some(Chunk { token: Some(token), text, finish: None, source: ChunkSource::Local }))
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
        Ok(Chunk { token: None, text: std::mem::take(&mut self.held), finish: Some(reason), source: ChunkSource::Local })
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
