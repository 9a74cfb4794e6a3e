//! `POST /v1/chat/completions`: client identity and limits, the answer cache, then the
//! embedded engine or the upstreams; streamed as SSE (`data: {json}` ... `data: [DONE]`) or
//! returned whole.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::answer::{Answer, Piece};
use crate::cache::CachedAnswer;
use crate::chat::{chunk_json, completion_json, now_s, ChatRequest, Usage};
use crate::error::GatewayError;
use crate::limit::Slot;
use crate::AppState;

/// What one request is, for logs and accounting (never the question text unless enabled).
struct Ctx {
    id: String,
    client: String,
    t0: Instant,
    prompt_estimate: u64,
    cache_key: Option<String>,
    question: Option<String>,
}

pub async fn completions(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let t0 = Instant::now();
    let id = format!("chatcmpl-{:016x}", app.next_id());
    let resp = match handle(&app, peer, &headers, body, id.clone(), t0).await {
        Ok(r) => r,
        Err(e) => {
            let reason = match &e {
                GatewayError::BodyTooLarge { .. } => Some("body_size"),
                GatewayError::PromptTooLong { .. } => Some("prompt_tokens"),
                GatewayError::MaxTokens { .. } => Some("max_tokens"),
                GatewayError::Unauthorized(_) => Some("token"),
                GatewayError::RateLimited { .. } => Some("rate"),
                GatewayError::TooManyStreams { .. } => Some("concurrency"),
                GatewayError::Busy => Some("queue"),
                _ => None,
            };
            if let Some(r) = reason {
                app.metrics.add("tutor_gateway_rejected_total", &[("reason", r)], 1.0);
            }
            app.log(&format!("{id} error status={} kind={} ms={}", e.status().as_u16(), e.kind(), t0.elapsed().as_millis()));
            e.into_response()
        }
    };
    let status = resp.status().as_u16().to_string();
    app.metrics.add("tutor_gateway_requests_total", &[("route", "/v1/chat/completions"), ("status", &status)], 1.0);
    let mut resp = resp;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

fn client_id(app: &AppState, peer: SocketAddr, headers: &HeaderMap) -> Result<String, GatewayError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    match &app.secret {
        Some(secret) => {
            let token = bearer.ok_or_else(|| GatewayError::Unauthorized(crate::auth::TokenError::Missing.to_string()))?;
            crate::auth::verify(secret, token, now_s()).map(|c| format!("token:{c}")).map_err(|e| GatewayError::Unauthorized(e.to_string()))
        }
        None => Ok(format!("ip:{}", peer.ip())),
    }
}

/// A short, non-reversible label of the client for logs.
fn pseudonym(client: &str) -> String {
    let d = Sha256::digest(client.as_bytes());
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

async fn handle(
    app: &Arc<AppState>,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    id: String,
    t0: Instant,
) -> Result<Response, GatewayError> {
    let limits = &app.cfg.limits;
    let client = client_id(app, peer, headers)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            GatewayError::BodyTooLarge { limit: limits.max_body_bytes }
        } else {
            GatewayError::InvalidRequest(e.body_text())
        }
    })?;
    let slot = app.limiter.admit(&client).await?;
    let (req, raw) = ChatRequest::parse(&body)?;
    let max_tokens = match req.max_tokens {
        Some(m) if m > limits.max_tokens as u64 => return Err(GatewayError::MaxTokens { requested: m, limit: limits.max_tokens }),
        Some(0) => return Err(GatewayError::InvalidRequest("max_tokens must be at least 1".into())),
        Some(m) => m as u32,
        None => limits.max_tokens,
    };
    // Without a tokenizer at hand (upstreams), estimate 1 token per 4 bytes of UTF-8 (over-counts
    // non-Latin scripts, never under-counts much); the embedded engine counts exactly.
    let prompt_estimate = (req.prompt_bytes() as u64).div_ceil(4);
    if app.embedded.is_none() && prompt_estimate > limits.max_prompt_tokens as u64 {
        return Err(GatewayError::PromptTooLong { tokens: prompt_estimate as usize, limit: limits.max_prompt_tokens });
    }
    let model = req.model.clone().filter(|m| !m.is_empty()).unwrap_or_else(|| app.default_model());
    let cache_key = app.cache.enabled().then(|| req.cache_key(&model, max_tokens));
    let question = app.cfg.log_questions.then(|| req.messages.last().map(|m| m.content.text()).unwrap_or_default());
    let ctx = Ctx { id, client, t0, prompt_estimate, cache_key, question };

    if let Some(key) = &ctx.cache_key {
        if let Some(hit) = app.cache.get(key).await {
            app.metrics.add("tutor_gateway_cache_total", &[("result", "hit")], 1.0);
            app.log_request(&ctx, 200, "cache", hit.usage, true);
            return Ok(cached_response(&ctx, hit, req.stream));
        }
        app.metrics.add("tutor_gateway_cache_total", &[("result", "miss")], 1.0);
    }

    let mut body_json = raw;
    if let Some(o) = body_json.as_object_mut() {
        o.insert("max_tokens".into(), max_tokens.into());
        o.remove("max_completion_tokens");
    }

    if !req.stream && !app.upstreams.is_empty() {
        let done = app.upstreams.complete(&body_json).await?;
        app.metrics.observe_ttfb(t0.elapsed().as_secs_f64());
        let usage = done.usage.unwrap_or(Usage { prompt_tokens: ctx.prompt_estimate, completion_tokens: (done.text.len() as u64).div_ceil(4) });
        app.account(&done.source, usage, "ok");
        if let Some(key) = &ctx.cache_key {
            if matches!(done.finish.as_str(), "stop" | "length") && !done.text.is_empty() {
                let answer = CachedAnswer { model: model.clone(), text: done.text.clone(), finish: done.finish.clone(), usage };
                app.cache.put(key, answer).await;
            }
        }
        app.log_request(&ctx, 200, &done.source, usage, false);
        drop(slot);
        let mut r = axum::Json(done.json).into_response();
        r.headers_mut().insert("x-tutor-cache", HeaderValue::from_static("miss"));
        return Ok(r);
    }

    let mut answer = if app.upstreams.is_empty() {
        let embedded = app.embedded.as_ref().ok_or_else(|| GatewayError::Internal("no upstream and no embedded engine".into()))?;
        let params = crate::embedded::params(req.temperature, req.top_p, req.top_k, req.seed, max_tokens, req.stops());
        let rx = embedded.submit(req.engine_messages(), params, limits.max_prompt_tokens)?;
        Answer { model: embedded.name.clone(), source: "embedded".into(), prompt_tokens: None, rx }
    } else {
        app.upstreams.stream(&body_json, &model).await?
    };

    // Wait for the first piece, so a failure before any text is a proper HTTP error.
    let first = match answer.rx.recv().await {
        Some(Piece::Error(e)) => {
            app.account(&answer.source, Usage::default(), "error");
            return Err(e);
        }
        Some(p) => p,
        None => return Err(GatewayError::Internal("the answer ended before it began".into())),
    };
    app.metrics.observe_ttfb(t0.elapsed().as_secs_f64());

    if req.stream {
        Ok(sse_response(app.clone(), ctx, answer, first, slot, model))
    } else {
        collect(app, ctx, answer, first, slot).await
    }
}

fn sse_headers(mut r: Response, cache_hit: bool) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert("x-tutor-cache", HeaderValue::from_static(if cache_hit { "hit" } else { "miss" }));
    r
}

fn cached_response(ctx: &Ctx, hit: CachedAnswer, stream: bool) -> Response {
    let created = now_s();
    if !stream {
        let mut r = axum::Json(completion_json(&ctx.id, &hit.model, created, &hit.text, &hit.finish, hit.usage)).into_response();
        r.headers_mut().insert("x-tutor-cache", HeaderValue::from_static("hit"));
        return r;
    }
    let mut s = String::new();
    for data in [
        chunk_json(&ctx.id, &hit.model, created, None, true, None),
        chunk_json(&ctx.id, &hit.model, created, Some(&hit.text), false, None),
        chunk_json(&ctx.id, &hit.model, created, None, false, Some(&hit.finish)),
    ] {
        s.push_str(&format!("data: {data}\n\n"));
    }
    s.push_str("data: [DONE]\n\n");
    sse_headers(Response::new(Body::from(s)), true)
}

/// Everything a streaming body needs while it runs.
struct Streamer {
    app: Arc<AppState>,
    ctx: Ctx,
    answer: Answer,
    pending: Option<Piece>,
    model: String,
    created: u64,
    started: bool,
    text: String,
    done: bool,
    _slot: Slot,
}

impl Drop for Streamer {
    fn drop(&mut self) {
        self.app.metrics.gauge_add("tutor_gateway_active_streams", &[], -1.0);
        if !self.done {
            // The client went away mid-answer; dropping the receiver stops the generation.
            self.app.account(&self.answer.source, Usage::default(), "client_gone");
            self.app.log(&format!("{} client_gone after {} chars", self.ctx.id, self.text.len()));
        }
    }
}

impl Streamer {
    /// The SSE text for the next piece; None when the stream is over.
    async fn step(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        let embedded = self.answer.source == "embedded";
        let mut out = String::new();
        if !self.started {
            self.started = true;
            if embedded {
                out.push_str(&format!("data: {}\n\n", chunk_json(&self.ctx.id, &self.model, self.created, None, true, None)));
            }
        }
        let piece = match self.pending.take() {
            Some(p) => p,
            None => match self.answer.rx.recv().await {
                Some(p) => p,
                None => Piece::Error(GatewayError::Internal("the answer stopped without an end".into())),
            },
        };
        match piece {
            Piece::Delta { text, raw } => {
                self.text.push_str(&text);
                let data = raw.unwrap_or_else(|| chunk_json(&self.ctx.id, &self.model, self.created, Some(&text), false, None));
                out.push_str(&format!("data: {data}\n\n"));
            }
            Piece::Finish { reason, usage, raw } => {
                self.done = true;
                if embedded {
                    // The final chunk carries the exact usage (as llama.cpp's carries `timings`),
                    // so gateways in front of this one can account tokens exactly.
                    let data = raw.unwrap_or_else(|| with_usage(chunk_json(&self.ctx.id, &self.model, self.created, None, false, Some(&reason)), usage));
                    out.push_str(&format!("data: {data}\n\n"));
                }
                out.push_str("data: [DONE]\n\n");
                self.finish(reason, usage).await;
            }
            Piece::Error(e) => {
                self.done = true;
                self.app.account(&self.answer.source, Usage::default(), "error");
                self.app.log(&format!("{} stream_error kind={} after {} chars: {e}", self.ctx.id, e.kind(), self.text.len()));
                out.push_str(&format!("data: {}\n\n", e.body()));
            }
        }
        Some(out)
    }

    async fn finish(&mut self, reason: String, usage: Usage) {
        let usage = fill_usage(usage, self.ctx.prompt_estimate, &self.text);
        self.app.account(&self.answer.source, usage, "ok");
        if let Some(key) = &self.ctx.cache_key {
            if matches!(reason.as_str(), "stop" | "length") && !self.text.is_empty() {
                let a = CachedAnswer { model: self.model.clone(), text: self.text.clone(), finish: reason, usage };
                self.app.cache.put(key, a).await;
            }
        }
        self.app.log_request(&self.ctx, 200, &self.answer.source, usage, false);
    }
}

fn with_usage(chunk: String, u: Usage) -> String {
    match serde_json::from_str::<serde_json::Value>(&chunk) {
        Ok(mut v) => {
            v["usage"] = serde_json::json!({ "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                                            "total_tokens": u.prompt_tokens + u.completion_tokens });
            v.to_string()
        }
        Err(_) => chunk,
    }
}

/// Upstreams that report no usage: the gateway's estimates.
fn fill_usage(mut u: Usage, prompt_estimate: u64, text: &str) -> Usage {
    if u.prompt_tokens == 0 {
        u.prompt_tokens = prompt_estimate;
    }
    if u.completion_tokens == 0 && !text.is_empty() {
        u.completion_tokens = (text.len() as u64).div_ceil(4);
    }
    u
}

fn sse_response(app: Arc<AppState>, ctx: Ctx, answer: Answer, first: Piece, slot: Slot, model: String) -> Response {
    app.metrics.gauge_add("tutor_gateway_active_streams", &[], 1.0);
    let model = if answer.source == "embedded" { answer.model.clone() } else { model };
    let s = Streamer { app, ctx, answer, pending: Some(first), model, created: now_s(), started: false, text: String::new(), done: false, _slot: slot };
    let stream = futures_util::stream::unfold(s, |mut s| async move {
        let out = s.step().await?;
        Some((Ok::<_, Infallible>(Bytes::from(out)), s))
    });
    sse_headers(Response::new(Body::from_stream(stream)), false)
}

/// A non-streamed answer from the embedded engine.
async fn collect(app: &Arc<AppState>, ctx: Ctx, mut answer: Answer, first: Piece, slot: Slot) -> Result<Response, GatewayError> {
    let mut text = String::new();
    let mut piece = Some(first);
    loop {
        let p = match piece.take() {
            Some(p) => p,
            None => answer.rx.recv().await.unwrap_or(Piece::Error(GatewayError::Internal("the answer stopped without an end".into()))),
        };
        match p {
            Piece::Delta { text: t, .. } => text.push_str(&t),
            Piece::Finish { reason, usage, .. } => {
                let usage = fill_usage(usage, ctx.prompt_estimate, &text);
                app.account(&answer.source, usage, "ok");
                if let Some(key) = &ctx.cache_key {
                    if matches!(reason.as_str(), "stop" | "length") && !text.is_empty() {
                        let a = CachedAnswer { model: answer.model.clone(), text: text.clone(), finish: reason.clone(), usage };
                        app.cache.put(key, a).await;
                    }
                }
                app.log_request(&ctx, 200, &answer.source, usage, false);
                drop(slot);
                let mut r = axum::Json(completion_json(&ctx.id, &answer.model, now_s(), &text, &reason, usage)).into_response();
                r.headers_mut().insert("x-tutor-cache", HeaderValue::from_static("miss"));
                return Ok(r);
            }
            Piece::Error(e) => {
                app.account(&answer.source, Usage::default(), "error");
                return Err(e);
            }
        }
    }
}

impl AppState {
    fn log_request(&self, ctx: &Ctx, status: u16, source: &str, usage: Usage, cache_hit: bool) {
        let mut line = format!(
            "{} client={} status={status} source={source} cache={} prompt_tokens={} completion_tokens={} ms={}",
            ctx.id,
            pseudonym(&ctx.client),
            if cache_hit { "hit" } else { "miss" },
            usage.prompt_tokens,
            usage.completion_tokens,
            ctx.t0.elapsed().as_millis()
        );
        if let Some(q) = &ctx.question {
            line.push_str(&format!(" question={q:?}"));
        }
        self.log(&line);
    }
}
