//! Template stage: a conversation (chat messages) → the prompt text the model was trained on.
//!
//! A model that carries `tokenizer.chat_template` in its GGUF is prompted with that Jinja
//! template, rendered by `minijinja` exactly as llama.cpp renders it ([`jinja`]; held to
//! llama.cpp's own renderings by crate/tests/native/templates.rs). A model without
//! one (a base model such as Gemma 3 270M) gets the plain tutor framing ([`plain`]); that choice
//! is made here and nowhere else.

mod jinja;
mod plain;

use serde::{Deserialize, Serialize};

use crate::load::gguf::Gguf;

pub use plain::{frame, PLAIN_FRAMING, PLAIN_STOP};

/// The GGUF key holding the model's Jinja chat template.
pub const KEY_CHAT_TEMPLATE: &str = "tokenizer.chat_template";

/// One chat message (OpenAI's / Hugging Face's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Self {
        Self { role: role.into(), content: content.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{KEY_CHAT_TEMPLATE} does not parse: {0}")]
    Syntax(String),
    #[error("the chat template failed to render: {0}")]
    Render(String),
    #[error("the conversation has no messages")]
    Empty,
    #[error("unsupported message role {0:?} (expected system, user or assistant)")]
    Role(String),
}

/// What a rendering depends on besides the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// End with an open assistant turn (`add_generation_prompt`, defined only when true).
    pub add_generation_prompt: bool,
    /// Today, for `strftime_now`, `date_string` and `datetime` (llama.cpp: the local date).
    pub now: chrono::NaiveDate,
    /// The template's `enable_thinking` variable. llama-server decides it per template (true
    /// where its parser recognises a reasoning format); ours is the caller's choice.
    pub enable_thinking: bool,
    /// llama-server's default template kwarg `preserve_reasoning` (true): earlier turns keep
    /// their (empty) reasoning blocks.
    pub preserve_reasoning: bool,
}

impl Default for RenderOptions {
    /// No generation prompt, today's local date, `enable_thinking` true (llama-server's default).
    fn default() -> Self {
        Self { add_generation_prompt: false, now: chrono::Local::now().date_naive(), enable_thinking: true, preserve_reasoning: true }
    }
}

/// How a model's conversations become prompt text.
pub enum ChatTemplate {
    /// The model's own Jinja template.
    Jinja(jinja::Jinja),
    /// No template in the file: the plain tutor framing for a base model.
    Plain,
}

impl ChatTemplate {
    /// The template the GGUF carries, with the BOS / EOS texts its `bos_token` / `eos_token`
    /// variables stand for; [`ChatTemplate::Plain`] when it carries none.
    pub fn from_gguf(g: &Gguf, bos: &str, eos: &str) -> Result<Self, TemplateError> {
        match g.get_str(KEY_CHAT_TEMPLATE) {
            Ok(src) if !src.trim().is_empty() => Ok(Self::Jinja(jinja::Jinja::new(src, bos, eos)?)),
            _ => Ok(Self::Plain),
        }
    }

    /// A Jinja template given as source text.
    pub fn jinja(source: &str, bos: &str, eos: &str) -> Result<Self, TemplateError> {
        Ok(Self::Jinja(jinja::Jinja::new(source, bos, eos)?))
    }

    /// True when the prompt's turns are the model's own (a chat template), false for the plain
    /// framing.
    pub fn is_chat(&self) -> bool {
        matches!(self, Self::Jinja(_))
    }

    /// The prompt for `messages`, ending with an open assistant turn when
    /// `add_generation_prompt`. The text may start with the template's BOS text: tokenize it
    /// with [`ChatTemplate::strip_bos`] applied when the tokenizer adds BOS itself.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String, TemplateError> {
        self.render_with(messages, &RenderOptions { add_generation_prompt, ..RenderOptions::default() })
    }

    /// [`ChatTemplate::render`] with every option given.
    pub fn render_with(&self, messages: &[Message], opts: &RenderOptions) -> Result<String, TemplateError> {
        if messages.is_empty() {
            return Err(TemplateError::Empty);
        }
        if let Some(m) = messages.iter().find(|m| !matches!(m.role.as_str(), "system" | "user" | "assistant")) {
            return Err(TemplateError::Role(m.role.clone()));
        }
        match self {
            Self::Jinja(j) => j.render(messages, opts),
            Self::Plain => Ok(plain::render(messages)),
        }
    }

    /// Strings that end a turn besides the model's end-of-turn tokens: the plain framing's next
    /// "Student:" line; none for a chat template (its turns end with a token).
    pub fn stop_strings(&self) -> Vec<String> {
        match self {
            Self::Jinja(_) => Vec::new(),
            Self::Plain => PLAIN_STOP.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Whether the template reads a system message (llama.cpp's `supports_system_role`); the
    /// plain framing does.
    pub fn supports_system_role(&self) -> bool {
        match self {
            Self::Jinja(j) => j.supports_system_role(),
            Self::Plain => true,
        }
    }

    /// `text` without a leading BOS text, as llama.cpp strips it when the tokenizer adds BOS
    /// (so a rendered prompt never gets BOS twice).
    pub fn strip_bos<'a>(&self, text: &'a str) -> &'a str {
        match self {
            Self::Jinja(j) if !j.bos().is_empty() => text.strip_prefix(j.bos()).unwrap_or(text),
            _ => text,
        }
    }
}
