//! The OpenAI chat-completions wire format, as far as escalation needs it (pure).

use serde::{Deserialize, Serialize};

use super::error::EscalateError;
use crate::stream::FinishReason;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: "user".into(), content: content.into() }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: "system".into(), content: content.into() }
    }
}

/// A streamed chat-completion request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatRequest {
    /// Empty: the gateway's default model.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    pub stream: bool,
}

impl ChatRequest {
    pub fn new(messages: Vec<ChatMessage>, max_tokens: u32) -> Self {
        Self { model: String::new(), messages, max_tokens, temperature: None, top_p: None, seed: None, stop: Vec::new(), stream: true }
    }

    pub fn to_json(&self) -> Result<Vec<u8>, EscalateError> {
        serde_json::to_vec(self).map_err(|e| EscalateError::InvalidRequest(e.to_string()))
    }
}

/// One decoded stream event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// Text (possibly empty, e.g. the role-only first chunk) and maybe the finish reason.
    Delta { text: String, finish: Option<FinishReason> },
    /// `data: [DONE]`.
    Done,
}

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    choices: Vec<WireChoice>,
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    delta: Option<WireDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireDelta {
    #[serde(default)]
    content: Option<String>,
}

/// `{"error": {"message", "type"}}` — the body of an HTTP error and of an in-stream error event.
#[derive(Debug, Deserialize)]
pub struct WireError {
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: String,
}

#[derive(Deserialize)]
struct WireErrorBody {
    error: WireError,
}

/// Map an OpenAI finish reason onto ours.
pub fn finish_reason(s: &str) -> FinishReason {
    match s {
        "length" => FinishReason::Length,
        "context_full" => FinishReason::ContextFull,
        "aborted" => FinishReason::Aborted,
        _ => FinishReason::Eos,
    }
}

/// Decode the data of one SSE event of a chat-completion stream.
pub fn decode_event(data: &str) -> Result<StreamEvent, EscalateError> {
    if data.trim() == "[DONE]" {
        return Ok(StreamEvent::Done);
    }
    let c: WireChunk = serde_json::from_str(data).map_err(|e| EscalateError::Malformed(format!("bad chunk JSON ({e})")))?;
    if let Some(err) = c.error {
        return Err(EscalateError::Upstream { kind: err.kind, message: err.message });
    }
    let Some(choice) = c.choices.into_iter().next() else {
        // Usage-only chunks (stream_options.include_usage) carry no choice.
        return Ok(StreamEvent::Delta { text: String::new(), finish: None });
    };
    let text = choice.delta.and_then(|d| d.content).unwrap_or_default();
    Ok(StreamEvent::Delta { text, finish: choice.finish_reason.as_deref().map(finish_reason) })
}

/// Decode an HTTP error body; anything else becomes a short excerpt of the body.
pub fn decode_error_body(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<WireErrorBody>(body) {
        Ok(b) => (b.error.kind, b.error.message),
        Err(_) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            ("unknown".into(), text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_cpp_server_sample_decodes() {
        let role = r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"object":"chat.completion.chunk"}"#;
        assert_eq!(decode_event(role).unwrap(), StreamEvent::Delta { text: String::new(), finish: None });
        let word = r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":" capital"}}]}"#;
        assert_eq!(decode_event(word).unwrap(), StreamEvent::Delta { text: " capital".into(), finish: None });
        let last = r#"{"choices":[{"finish_reason":"length","index":0,"delta":{}}],"timings":{}}"#;
        assert_eq!(decode_event(last).unwrap(), StreamEvent::Delta { text: String::new(), finish: Some(FinishReason::Length) });
        assert_eq!(decode_event("[DONE]").unwrap(), StreamEvent::Done);
    }

    #[test]
    fn errors_are_typed() {
        let e = decode_event(r#"{"error":{"message":"upstream cut","type":"upstream_error"}}"#).unwrap_err();
        assert_eq!(e, EscalateError::Upstream { kind: "upstream_error".into(), message: "upstream cut".into() });
        assert_eq!(decode_event("{not json").unwrap_err().kind(), "malformed");
        let (k, m) = decode_error_body(br#"{"error":{"message":"slow down","type":"rate_limited"}}"#);
        assert_eq!((k.as_str(), m.as_str()), ("rate_limited", "slow down"));
        assert_eq!(decode_error_body(b"<html>").0, "unknown");
    }

    #[test]
    fn request_json_shape() {
        let mut r = ChatRequest::new(vec![ChatMessage::user("2+2?")], 16);
        r.temperature = Some(0.0);
        let v: serde_json::Value = serde_json::from_slice(&r.to_json().unwrap()).unwrap();
        assert_eq!(v["messages"][0]["role"], "user");
        assert_eq!(v["stream"], true);
        assert_eq!(v["max_tokens"], 16);
        assert!(v.get("model").is_none() && v.get("top_p").is_none());
    }
}
