//! The escalation client: sends a chat request to the gateway (retrying connection failures
//! with backoff) and turns the SSE answer into the same [`Chunk`]s local generation yields.

use super::chat::{decode_error_body, decode_event, ChatRequest, StreamEvent};
use super::error::{EscalateError, TimeoutPhase, TransportError};
use super::retry::{status_retryable, transport_retryable, Backoff};
use super::sse::{SseError, SseParser};
use super::transport::{BodyReader, HttpRequest, Transport};
use crate::stream::{AbortHandle, Chunk, ChunkSource, FinishReason};

/// Largest error body read from a failed response.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The gateway's base URL, e.g. `http://127.0.0.1:8080` (the path is appended).
    pub base_url: String,
    /// A signed client token, sent as `Authorization: Bearer ...`.
    pub token: Option<String>,
    pub backoff: Backoff,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self { base_url: base_url.into(), token: None, backoff: Backoff::default() }
    }

    pub fn endpoint(&self) -> String {
        format!("{}/v1/chat/completions", self.base_url.trim_end_matches('/'))
    }
}

pub struct EscalationClient<T: Transport> {
    transport: T,
    config: ClientConfig,
}

impl<T: Transport> EscalationClient<T> {
    pub fn new(transport: T, config: ClientConfig) -> Self {
        Self { transport, config }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Send `req` (always as a stream) and return the answer stream once the gateway answered 200.
    /// Connection failures and 429/502/503/504 are retried with backoff; other failures are
    /// returned at once as typed errors.
    pub fn start(&mut self, req: &ChatRequest, abort: AbortHandle) -> Result<Escalation, EscalateError> {
        let mut req = req.clone();
        req.stream = true;
        let body = req.to_json()?;
        let url = self.config.endpoint();
        let mut headers = vec![("content-type", "application/json".to_string()), ("accept", "text/event-stream".to_string())];
        if let Some(t) = &self.config.token {
            headers.push(("authorization", format!("Bearer {t}")));
        }
        let http = HttpRequest { url: &url, headers, body: &body };
        let mut attempt: u32 = 0;
        loop {
            if abort.is_aborted() {
                return Ok(Escalation::finished(abort));
            }
            attempt += 1;
            let retry_delay = |t: &mut T, hint: Option<u64>| {
                let unit = t.random_unit();
                self.config.backoff.delay_with_hint(attempt, unit, hint)
            };
            match self.transport.post(&http) {
                Ok(resp) if resp.status == 200 => {
                    return Ok(Escalation::new(resp.body, abort, url.clone(), self.transport.timeouts().idle));
                }
                Ok(mut resp) => {
                    let err_body = read_limited(resp.body.as_mut(), ERROR_BODY_LIMIT);
                    let (kind, message) = decode_error_body(&err_body);
                    if status_retryable(resp.status) {
                        if let Some(d) = retry_delay(&mut self.transport, resp.retry_after_s) {
                            self.transport.sleep(d);
                            continue;
                        }
                    }
                    return Err(EscalateError::Status { status: resp.status, kind, message, retry_after_s: resp.retry_after_s });
                }
                Err(e) => {
                    if transport_retryable(&e) {
                        if let Some(d) = retry_delay(&mut self.transport, None) {
                            self.transport.sleep(d);
                            continue;
                        }
                    }
                    return Err(self.map_transport(e, attempt, &url));
                }
            }
        }
    }

    fn map_transport(&self, e: TransportError, attempts: u32, url: &str) -> EscalateError {
        let t = self.transport.timeouts();
        match e {
            TransportError::Timeout(phase) => {
                let after = match phase {
                    TimeoutPhase::Connect => t.connect,
                    TimeoutPhase::Response => t.response,
                    TimeoutPhase::Idle => t.idle,
                };
                if phase == TimeoutPhase::Connect {
                    EscalateError::Unreachable { url: url.to_string(), attempts, last: format!("connect timed out after {after:?}") }
                } else {
                    EscalateError::Timeout { url: url.to_string(), phase, after }
                }
            }
            TransportError::Connect(m) => EscalateError::Unreachable { url: url.to_string(), attempts, last: m },
            TransportError::Io(m) => EscalateError::ConnectionLost { received_chars: 0, detail: m },
        }
    }
}

fn read_limited(body: &mut dyn BodyReader, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < limit {
        match body.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// An answer arriving from the gateway. Call [`Escalation::next`] until it returns `Ok(None)`,
/// exactly like [`crate::stream::Generation::next`].
pub struct Escalation {
    body: Option<Box<dyn BodyReader>>,
    parser: SseParser,
    abort: AbortHandle,
    received_chars: usize,
    finish: Option<FinishReason>,
    done: bool,
    buf: Vec<u8>,
    url: String,
    idle: std::time::Duration,
}

impl Escalation {
    fn new(body: Box<dyn BodyReader>, abort: AbortHandle, url: String, idle: std::time::Duration) -> Self {
        let buf = vec![0; 16 * 1024];
        Self { body: Some(body), parser: SseParser::default(), abort, received_chars: 0, finish: None, done: false, buf, url, idle }
    }

    fn finished(abort: AbortHandle) -> Self {
        let mut s = Self::new(Box::new(Empty), abort, String::new(), std::time::Duration::ZERO);
        s.body = None;
        s
    }

    pub fn abort_handle(&self) -> AbortHandle {
        self.abort.clone()
    }

    /// Characters of answer text received so far.
    pub fn received_chars(&self) -> usize {
        self.received_chars
    }

    /// The next chunk of the answer; the last one carries the finish reason.
    pub fn next(&mut self) -> Result<Option<Chunk>, EscalateError> {
        if self.done {
            return Ok(None);
        }
        loop {
            if self.abort.is_aborted() || self.body.is_none() {
                self.body = None; // drops the connection: the gateway stops generating
                return Ok(Some(self.end(FinishReason::Aborted)));
            }
            match self.parser.next_event() {
                Some(Ok(ev)) => match decode_event(&ev.data) {
                    Ok(StreamEvent::Done) => {
                        let f = self.finish.unwrap_or(FinishReason::Eos);
                        return Ok(Some(self.end(f)));
                    }
                    Ok(StreamEvent::Delta { text, finish }) => {
                        if finish.is_some() {
                            self.finish = finish;
                        }
                        if !text.is_empty() {
                            self.received_chars += text.chars().count();
                            return Ok(Some(Chunk { token: None, text, finish: None, stats: None, source: ChunkSource::Escalated }));
                        }
                    }
                    Err(e) => return Err(self.fail(e)),
                },
                Some(Err(SseError::TooLarge { limit })) => return Err(self.fail(EscalateError::Malformed(format!("an SSE event exceeded {limit} bytes")))),
                Some(Err(SseError::NotUtf8)) => return Err(self.fail(EscalateError::Malformed("SSE data is not UTF-8".into()))),
                None => {
                    let Some(body) = self.body.as_mut() else { continue };
                    match body.read(&mut self.buf) {
                        Ok(0) => {
                            // Some servers close right after the finish chunk without [DONE].
                            if let Some(f) = self.finish {
                                return Ok(Some(self.end(f)));
                            }
                            return Err(self.fail(EscalateError::Truncated { received_chars: self.received_chars }));
                        }
                        Ok(n) => self.parser.push(&self.buf[..n]),
                        Err(TransportError::Timeout(phase)) => {
                            let e = EscalateError::Timeout { url: self.url.clone(), phase, after: self.idle };
                            return Err(self.fail(e));
                        }
                        Err(e) => {
                            let e = EscalateError::ConnectionLost { received_chars: self.received_chars, detail: e.to_string() };
                            return Err(self.fail(e));
                        }
                    }
                }
            }
        }
    }

    fn end(&mut self, reason: FinishReason) -> Chunk {
        self.done = true;
        self.body = None;
        Chunk { token: None, text: String::new(), finish: Some(reason), stats: None, source: ChunkSource::Escalated }
    }

    fn fail(&mut self, e: EscalateError) -> EscalateError {
        self.done = true;
        self.body = None;
        e
    }
}

struct Empty;

impl BodyReader for Empty {
    fn read(&mut self, _buf: &mut [u8]) -> Result<usize, TransportError> {
        Ok(0)
    }
}
