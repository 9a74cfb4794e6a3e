//! The OpenAI chat-completions request and response shapes and the normalization used for
//! answer-cache keys. (The embedded engine renders prompts with the model's own chat template.)

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::GatewayError;

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Content,
}

/// Message content: a string, or OpenAI's array of parts (only `text` parts are used).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

impl Default for Content {
    fn default() -> Self {
        Self::Text(String::new())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Part {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub text: String,
}

impl Content {
    pub fn text(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Parts(p) => p.iter().filter(|p| p.kind == "text").map(|p| p.text.as_str()).collect::<Vec<_>>().join("\n"),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

/// The fields the gateway reads. The raw JSON is kept as well, so upstreams get every field
/// the client sent.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default, alias = "max_completion_tokens")]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub top_k: Option<u64>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub stop: Option<Stop>,
}

impl ChatRequest {
    pub fn parse(body: &[u8]) -> Result<(Self, serde_json::Value), GatewayError> {
        let raw: serde_json::Value = serde_json::from_slice(body).map_err(|e| GatewayError::InvalidRequest(format!("body is not JSON: {e}")))?;
        let req: Self = serde_json::from_value(raw.clone()).map_err(|e| GatewayError::InvalidRequest(e.to_string()))?;
        if req.messages.is_empty() {
            return Err(GatewayError::InvalidRequest("messages is empty".into()));
        }
        for m in &req.messages {
            if !matches!(m.role.as_str(), "system" | "developer" | "user" | "assistant") {
                return Err(GatewayError::InvalidRequest(format!("unsupported message role {:?}", m.role)));
            }
        }
        if let Some(t) = req.temperature {
            if !(0.0..=2.0).contains(&t) {
                return Err(GatewayError::InvalidRequest(format!("temperature {t} is outside [0, 2]")));
            }
        }
        Ok((req, raw))
    }

    pub fn stops(&self) -> Vec<String> {
        match &self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
        }
    }

    /// The conversation as the engine's chat template takes it: OpenAI's `developer` role is
    /// `system` (as llama.cpp maps it), content parts joined with "\n".
    pub fn engine_messages(&self) -> Vec<tutor_runtime::template::Message> {
        let role = |r: &str| if r == "developer" { "system" } else { r }.to_string();
        self.messages.iter().map(|m| tutor_runtime::template::Message { role: role(&m.role), content: m.content.text() }).collect()
    }

    /// Prompt size in bytes (for the token estimate when no tokenizer is at hand).
    pub fn prompt_bytes(&self) -> usize {
        self.messages.iter().map(|m| m.content.text().len() + m.role.len() + 4).sum()
    }

    /// The answer-cache key: normalized conversation (case-folded, whitespace collapsed) plus
    /// the model and every setting that changes the answer.
    pub fn cache_key(&self, model: &str, max_tokens: u32) -> String {
        let mut h = Sha256::new();
        h.update(b"tutor-gateway-cache-v1\0");
        h.update(model.as_bytes());
        h.update([0]);
        for m in &self.messages {
            h.update(m.role.as_bytes());
            h.update([0]);
            h.update(normalize(&m.content.text()).as_bytes());
            h.update([0]);
        }
        let settings = format!(
            "{max_tokens}|{:?}|{:?}|{:?}|{:?}|{:?}",
            self.temperature, self.top_p, self.top_k, self.seed, self.stops()
        );
        h.update(settings.as_bytes());
        let d = h.finalize();
        d.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Case-folded, whitespace-collapsed, trimmed text.
pub fn normalize(s: &str) -> String {
    s.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ")
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

pub fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// One `chat.completion.chunk` (the llama.cpp server's shape).
pub fn chunk_json(id: &str, model: &str, created: u64, content: Option<&str>, role: bool, finish: Option<&str>) -> String {
    let mut delta = serde_json::Map::new();
    if role {
        delta.insert("role".into(), "assistant".into());
    }
    if let Some(c) = content {
        delta.insert("content".into(), c.into());
    } else if role {
        delta.insert("content".into(), serde_json::Value::Null);
    }
    serde_json::json!({
        "choices": [{ "finish_reason": finish, "index": 0, "delta": delta }],
        "created": created, "id": id, "model": model, "object": "chat.completion.chunk",
    })
    .to_string()
}

/// A whole `chat.completion`.
pub fn completion_json(id: &str, model: &str, created: u64, text: &str, finish: &str, usage: Usage) -> serde_json::Value {
    serde_json::json!({
        "choices": [{ "finish_reason": finish, "index": 0, "message": { "role": "assistant", "content": text } }],
        "created": created, "id": id, "model": model, "object": "chat.completion",
        "usage": { "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                   "total_tokens": usage.prompt_tokens + usage.completion_tokens },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_messages_map_developer_and_join_parts() {
        let (r, _) = ChatRequest::parse(br#"{"messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","text":""},{"type":"text","text":"b"}]}]}"#).unwrap();
        let m = r.engine_messages();
        assert_eq!((m[0].role.as_str(), m[0].content.as_str()), ("system", "Be brief."));
        assert_eq!((m[1].role.as_str(), m[1].content.as_str()), ("user", "a\nb"));
    }

    #[test]
    fn cache_key_normalizes_question_but_not_settings() {
        let parse = |s: &str| ChatRequest::parse(s.as_bytes()).unwrap().0;
        let a = parse(r#"{"messages":[{"role":"user","content":"What is  Photosynthesis?"}],"temperature":0}"#);
        let b = parse(r#"{"messages":[{"role":"user","content":"  what is photosynthesis? "}],"temperature":0}"#);
        let c = parse(r#"{"messages":[{"role":"user","content":"what is photosynthesis?"}],"temperature":0.7}"#);
        assert_eq!(a.cache_key("m", 64), b.cache_key("m", 64));
        assert_ne!(a.cache_key("m", 64), c.cache_key("m", 64));
        assert_ne!(a.cache_key("m", 64), a.cache_key("m", 65));
        assert_ne!(a.cache_key("m", 64), a.cache_key("other", 64));
    }

    #[test]
    fn bad_requests() {
        for body in [&b"{"[..], br#"{"messages":[]}"#, br#"{"messages":[{"role":"tool","content":"x"}]}"#, br#"{"messages":[{"role":"user","content":"x"}],"temperature":9}"#] {
            assert!(matches!(ChatRequest::parse(body), Err(GatewayError::InvalidRequest(_))), "{}", String::from_utf8_lossy(body));
        }
        let (r, _) = ChatRequest::parse(br#"{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stop":"x"}"#).unwrap();
        assert_eq!(r.messages[0].content.text(), "hi");
        assert_eq!(r.stops(), vec!["x"]);
    }
}
