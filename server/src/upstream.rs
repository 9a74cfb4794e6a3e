//! OpenAI-compatible upstreams (vLLM, TGI, llama.cpp's llama-server, hosted APIs), tried in the
//! configured order. Failover happens before the answer starts: connection failure, timeout
//! before the response head, 429 or 5xx. Once bytes flow they are streamed straight through
//! (each upstream event forwarded verbatim); a stream that breaks ends with an error event.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tutor_runtime::escalate::sse::{SseError, SseParser};

use crate::answer::{Answer, Piece};
use crate::chat::Usage;
use crate::config::UpstreamConfig;
use crate::error::GatewayError;

/// Largest non-streamed upstream body accepted.
const MAX_BODY: usize = 8 << 20;

pub struct Upstream {
    pub cfg: UpstreamConfig,
    key: Option<String>,
    client: reqwest::Client,
}

pub struct Upstreams {
    pub list: Vec<Upstream>,
}

/// A finished non-streamed answer.
pub struct Completed {
    pub source: String,
    pub json: serde_json::Value,
    pub text: String,
    pub finish: String,
    pub usage: Option<Usage>,
}

impl Upstreams {
    pub fn new(cfgs: &[UpstreamConfig]) -> Result<Self, GatewayError> {
        let mut list = Vec::new();
        for c in cfgs {
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_millis(c.connect_timeout_ms))
                .pool_idle_timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| GatewayError::Internal(format!("http client for {}: {e}", c.name)))?;
            let key = c.api_key_env.as_deref().and_then(|v| std::env::var(v).ok()).filter(|k| !k.is_empty());
            list.push(Upstream { cfg: c.clone(), key, client });
        }
        Ok(Self { list })
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Send to the first upstream that answers; returns the upstream's index and its response.
    async fn send(&self, body: &serde_json::Value, stream: bool) -> Result<(usize, reqwest::Response), GatewayError> {
        let mut failures = Vec::new();
        let mut timed_out = false;
        for (i, u) in self.list.iter().enumerate() {
            let mut b = body.clone();
            if let Some(obj) = b.as_object_mut() {
                obj.insert("stream".into(), stream.into());
                if let Some(m) = &u.cfg.model {
                    obj.insert("model".into(), m.clone().into());
                }
                if stream && u.cfg.include_usage {
                    obj.insert("stream_options".into(), serde_json::json!({ "include_usage": true }));
                } else {
                    obj.remove("stream_options");
                }
            }
            let url = format!("{}/chat/completions", u.cfg.url.trim_end_matches('/'));
            let payload = serde_json::to_vec(&b).map_err(|e| GatewayError::Internal(format!("encoding the upstream request: {e}")))?;
            let mut req = u.client.post(&url).header(reqwest::header::CONTENT_TYPE, "application/json").body(payload);
            if let Some(k) = &u.key {
                req = req.bearer_auth(k);
            }
            let first_byte = Duration::from_millis(u.cfg.first_byte_timeout_ms);
            match tokio::time::timeout(first_byte, req.send()).await {
                Err(_) => {
                    timed_out = true;
                    failures.push(format!("{}: no response within {first_byte:?}", u.cfg.name));
                }
                Ok(Err(e)) => failures.push(format!("{}: {}", u.cfg.name, describe(&e))),
                Ok(Ok(resp)) => {
                    let status = resp.status().as_u16();
                    if status == 200 {
                        return Ok((i, resp));
                    }
                    let text = read_limited(resp, 4096, first_byte).await.unwrap_or_default();
                    let detail = upstream_message(&text);
                    if matches!(status, 400 | 404 | 422) {
                        return Err(GatewayError::InvalidRequest(format!("upstream {} rejected the request: {detail}", u.cfg.name)));
                    }
                    failures.push(format!("{}: HTTP {status}: {detail}", u.cfg.name));
                }
            }
        }
        let all = failures.join("; ");
        Err(if timed_out { GatewayError::UpstreamTimeout(all) } else { GatewayError::UpstreamUnavailable(all) })
    }

    /// Start a streamed answer.
    pub async fn stream(&self, body: &serde_json::Value, model: &str) -> Result<Answer, GatewayError> {
        let (i, resp) = self.send(body, true).await?;
        let u = &self.list[i];
        let (tx, rx) = mpsc::channel(64);
        let idle = Duration::from_millis(u.cfg.idle_timeout_ms);
        let name = u.cfg.name.clone();
        tokio::spawn(pump(resp, tx, idle, name.clone()));
        Ok(Answer { model: u.cfg.model.clone().unwrap_or_else(|| model.to_string()), source: name, prompt_tokens: None, rx })
    }

    /// A whole (non-streamed) answer.
    pub async fn complete(&self, body: &serde_json::Value) -> Result<Completed, GatewayError> {
        let (i, resp) = self.send(body, false).await?;
        let u = &self.list[i];
        let limit = Duration::from_millis(u.cfg.first_byte_timeout_ms.saturating_add(u.cfg.idle_timeout_ms));
        let bytes = read_limited(resp, MAX_BODY, limit).await.map_err(|e| match e {
            ReadError::Timeout => GatewayError::UpstreamTimeout(format!("{}: body not complete within {limit:?}", u.cfg.name)),
            ReadError::Other(m) => GatewayError::Upstream(format!("{}: {m}", u.cfg.name)),
        })?;
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| GatewayError::Upstream(format!("{} returned malformed JSON: {e}", u.cfg.name)))?;
        let choice = &json["choices"][0];
        let Some(text) = choice["message"]["content"].as_str().map(String::from) else {
            return Err(GatewayError::Upstream(format!("{} returned no choices[0].message.content", u.cfg.name)));
        };
        let finish = choice["finish_reason"].as_str().unwrap_or("stop").to_string();
        let usage = usage_of(&json);
        Ok(Completed { source: u.cfg.name.clone(), json, text, finish, usage })
    }
}

fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn upstream_message(body: &[u8]) -> String {
    let v: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    match v.as_ref().and_then(|v| v["error"]["message"].as_str().or_else(|| v["error"].as_str())) {
        Some(m) => m.to_string(),
        None => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

enum ReadError {
    Timeout,
    Other(String),
}

async fn read_limited(resp: reqwest::Response, limit: usize, within: Duration) -> Result<Vec<u8>, ReadError> {
    let read = async {
        let mut out = Vec::new();
        let mut s = resp.bytes_stream();
        while let Some(b) = s.next().await {
            let b = b.map_err(|e| ReadError::Other(describe(&e)))?;
            if out.len() + b.len() > limit {
                return Err(ReadError::Other(format!("body larger than {limit} bytes")));
            }
            out.extend_from_slice(&b);
        }
        Ok(out)
    };
    tokio::time::timeout(within, read).await.unwrap_or(Err(ReadError::Timeout))
}

/// `usage` (OpenAI, vLLM, llama.cpp with include_usage) or llama.cpp's `timings`.
fn usage_of(v: &serde_json::Value) -> Option<Usage> {
    let u = &v["usage"];
    if let (Some(p), Some(c)) = (u["prompt_tokens"].as_u64(), u["completion_tokens"].as_u64()) {
        return Some(Usage { prompt_tokens: p, completion_tokens: c });
    }
    let t = &v["timings"];
    match (t["prompt_n"].as_u64(), t["predicted_n"].as_u64()) {
        (Some(p), Some(c)) => Some(Usage { prompt_tokens: p + t["cache_n"].as_u64().unwrap_or(0), completion_tokens: c }),
        _ => None,
    }
}

/// Read the upstream's SSE, forward each event, end with Finish or Error.
async fn pump(resp: reqwest::Response, tx: mpsc::Sender<Piece>, idle: Duration, name: String) {
    let mut body = resp.bytes_stream();
    let mut parser = SseParser::default();
    let mut finish: Option<String> = None;
    let mut usage: Option<Usage> = None;
    let mut deltas: u64 = 0;
    loop {
        while let Some(ev) = parser.next_event() {
            let ev = match ev {
                Ok(ev) => ev,
                Err(SseError::TooLarge { limit }) => {
                    let _ = tx.send(Piece::Error(GatewayError::Upstream(format!("{name} sent an event over {limit} bytes")))).await;
                    return;
                }
                Err(SseError::NotUtf8) => {
                    let _ = tx.send(Piece::Error(GatewayError::Upstream(format!("{name} sent non-UTF-8 data")))).await;
                    return;
                }
            };
            if ev.data.trim() == "[DONE]" {
                let usage = usage.unwrap_or(Usage { prompt_tokens: 0, completion_tokens: deltas });
                let _ = tx.send(Piece::Finish { reason: finish.unwrap_or_else(|| "stop".into()), usage, raw: None }).await;
                return;
            }
            let v: serde_json::Value = match serde_json::from_str(&ev.data) {
                Ok(v) => v,
                Err(e) => {
                    let _ = tx.send(Piece::Error(GatewayError::Upstream(format!("{name} sent malformed JSON in its stream: {e}")))).await;
                    return;
                }
            };
            if let Some(err) = v.get("error") {
                let m = err["message"].as_str().map(String::from).unwrap_or_else(|| err.to_string());
                let _ = tx.send(Piece::Error(GatewayError::Upstream(format!("{name}: {m}")))).await;
                return;
            }
            let choice = &v["choices"][0];
            let text = choice["delta"]["content"].as_str().unwrap_or("").to_string();
            if !text.is_empty() {
                deltas += 1;
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                finish = Some(f.to_string());
            }
            if let Some(u) = usage_of(&v) {
                usage = Some(u);
            }
            if tx.send(Piece::Delta { text, raw: Some(ev.data) }).await.is_err() {
                return; // the client left: dropping the response closes the upstream connection
            }
        }
        match tokio::time::timeout(idle, body.next()).await {
            Err(_) => {
                let _ = tx.send(Piece::Error(GatewayError::UpstreamTimeout(format!("{name} sent nothing for {idle:?} mid-answer")))).await;
                return;
            }
            Ok(None) => {
                let _ = tx.send(Piece::Error(GatewayError::Upstream(format!("{name} closed the stream mid-answer")))).await;
                return;
            }
            Ok(Some(Err(e))) => {
                let _ = tx.send(Piece::Error(GatewayError::Upstream(format!("{name} stream broke mid-answer: {}", describe(&e))))).await;
                return;
            }
            Ok(Some(Ok(bytes))) => parser.push(&bytes),
        }
    }
}
