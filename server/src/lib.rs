//! tutor-gateway: an OpenAI-compatible gateway in front of a large model (any OpenAI-compatible
//! upstream, with failover) or, with none configured, the embedded tutor-runtime engine.
//! Per-client limits, signed client tokens, CORS allowlist, an answer cache, cost metrics and
//! static files (the web demo and model shards).

pub mod answer;
pub mod auth;
pub mod cache;
pub mod chat;
pub mod completions;
pub mod config;
pub mod embedded;
pub mod error;
pub mod limit;
pub mod metrics;
pub mod origin;
pub mod shared;
pub mod static_files;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::cache::AnswerCache;
use crate::chat::Usage;
use crate::config::Config;
use crate::embedded::Embedded;
use crate::limit::Limiter;
use crate::metrics::Metrics;
use crate::upstream::Upstreams;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Embedded(#[from] embedded::EmbeddedError),
    #[error(transparent)]
    Redis(#[from] shared::RedisUrlError),
    #[error("auth.secret_env names {0}, which is not set or empty")]
    Secret(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

pub struct AppState {
    pub cfg: Config,
    pub embedded: Option<Embedded>,
    pub upstreams: Upstreams,
    pub cache: AnswerCache,
    pub limiter: Arc<Limiter>,
    pub metrics: Metrics,
    pub secret: Option<Vec<u8>>,
    ids: AtomicU64,
    quiet: bool,
}

impl AppState {
    pub fn next_id(&self) -> u64 {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        // Unique across restarts too: mix in the start time.
        n ^ (chat::now_s() << 32)
    }

    pub fn default_model(&self) -> String {
        match (&self.embedded, self.upstreams.list.first()) {
            (_, Some(u)) => u.cfg.model.clone().unwrap_or_default(),
            (Some(e), None) => e.name.clone(),
            (None, None) => String::new(),
        }
    }

    pub fn log(&self, line: &str) {
        if !self.quiet {
            eprintln!("[tutor-gateway] {line}");
        }
    }

    /// Token and cost accounting for one answer.
    pub fn account(&self, source: &str, usage: Usage, outcome: &str) {
        self.metrics.add("tutor_gateway_upstream_requests_total", &[("upstream", source), ("outcome", outcome)], 1.0);
        if usage == Usage::default() {
            return;
        }
        self.metrics.add("tutor_gateway_tokens_total", &[("upstream", source), ("direction", "in")], usage.prompt_tokens as f64);
        self.metrics.add("tutor_gateway_tokens_total", &[("upstream", source), ("direction", "out")], usage.completion_tokens as f64);
        if let Some(u) = self.upstreams.list.iter().find(|u| u.cfg.name == source) {
            let cost = usage.prompt_tokens as f64 * u.cfg.price_in_per_mtok / 1e6 + usage.completion_tokens as f64 * u.cfg.price_out_per_mtok / 1e6;
            self.metrics.add("tutor_gateway_cost_usd_total", &[("upstream", source)], cost);
        }
    }
}

async fn models(State(app): State<Arc<AppState>>) -> Response {
    let now = chat::now_s();
    let mut data = Vec::new();
    if let Some(e) = &app.embedded {
        data.push(serde_json::json!({ "id": e.name, "object": "model", "created": now, "owned_by": "tutor-gateway (embedded)" }));
    }
    for u in &app.upstreams.list {
        let id = u.cfg.model.clone().unwrap_or_else(|| u.cfg.name.clone());
        data.push(serde_json::json!({ "id": id, "object": "model", "created": now, "owned_by": u.cfg.name }));
    }
    app.metrics.add("tutor_gateway_requests_total", &[("route", "/v1/models"), ("status", "200")], 1.0);
    axum::Json(serde_json::json!({ "object": "list", "data": data })).into_response()
}

async fn healthz(State(app): State<Arc<AppState>>) -> Response {
    axum::Json(serde_json::json!({
        "status": "ok",
        "embedded": app.embedded.as_ref().map(|e| e.name.clone()),
        "upstreams": app.upstreams.list.iter().map(|u| u.cfg.name.clone()).collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], app.metrics.render()).into_response()
}

/// Build the shared state: load the embedded engine (when no upstream is configured), the
/// cache, the limiter and the client-token secret.
pub fn state(cfg: Config, quiet: bool) -> Result<Arc<AppState>, StartError> {
    let secret = match &cfg.auth.secret_env {
        Some(var) => match std::env::var(var) {
            Ok(s) if !s.is_empty() => Some(s.into_bytes()),
            _ => return Err(StartError::Secret(var.clone())),
        },
        None => None,
    };
    let upstreams = Upstreams::new(&cfg.upstreams).map_err(|e| StartError::Other(e.to_string()))?;
    let embedded = if upstreams.is_empty() { Some(Embedded::start(&cfg.embedded)?) } else { None };
    let redis = cfg.redis_url.as_deref().map(shared::Redis::new).transpose()?.map(Arc::new);
    let cache = AnswerCache::new(&cfg.cache, redis.clone());
    let limiter = Limiter::new(cfg.limits.requests_per_minute, cfg.limits.concurrent_streams, redis);
    Ok(Arc::new(AppState { cfg, embedded, upstreams, cache, limiter, metrics: Metrics::default(), secret, ids: AtomicU64::new(1), quiet }))
}

pub fn router(app: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/v1/chat/completions", post(completions::completions).options(|| async { StatusCode::NO_CONTENT }))
        .route("/v1/models", get(models).options(|| async { StatusCode::NO_CONTENT }))
        .layer(DefaultBodyLimit::max(app.cfg.limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(app.clone(), origin::cors));
    Router::new()
        .merge(api)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(static_files::serve)
        .with_state(app)
}

/// A gateway listening in the background (tests, embedding).
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Bind `cfg.listen` and serve until stopped.
pub async fn start(cfg: Config, quiet: bool) -> Result<Running, StartError> {
    let listen = cfg.listen.clone();
    let state = tokio::task::spawn_blocking(move || state(cfg, quiet)).await.map_err(|e| StartError::Other(e.to_string()))??;
    let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|source| StartError::Bind { addr: listen.clone(), source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: listen, source })?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Running { addr, state, shutdown: Some(tx), task })
}
