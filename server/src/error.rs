//! Every failure the API can answer with: an HTTP status and an OpenAI-style error body
//! `{"error": {"message", "type", "code"}}` (the `type` is the stable machine-readable kind).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("the prompt is {tokens} tokens, more than the limit of {limit}")]
    PromptTooLong { tokens: usize, limit: usize },
    #[error("max_tokens {requested} is more than the limit of {limit}")]
    MaxTokens { requested: u64, limit: u32 },
    #[error("missing or invalid client token: {0}")]
    Unauthorized(String),
    #[error("origin {0} is not allowed")]
    OriginNotAllowed(String),
    #[error("rate limit: {limit} requests per minute; retry in {retry_after_s} s")]
    RateLimited { limit: u32, retry_after_s: u64 },
    #[error("too many concurrent requests for this client (limit {limit})")]
    TooManyStreams { limit: usize },
    #[error("the model is busy (queue full); retry shortly")]
    Busy,
    #[error("no upstream is reachable: {0}")]
    UpstreamUnavailable(String),
    #[error("upstream timed out: {0}")]
    UpstreamTimeout(String),
    #[error("upstream failed: {0}")]
    Upstream(String),
    #[error("unknown model {0:?}")]
    UnknownModel(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) | Self::PromptTooLong { .. } | Self::MaxTokens { .. } => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            Self::UnknownModel(_) => StatusCode::NOT_FOUND,
            Self::RateLimited { .. } | Self::TooManyStreams { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy | Self::UpstreamUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `type` field: stable, for clients to branch on.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request_error",
            Self::BodyTooLarge { .. } => "request_too_large",
            Self::PromptTooLong { .. } => "context_length_exceeded",
            Self::MaxTokens { .. } => "max_tokens_exceeded",
            Self::Unauthorized(_) => "invalid_client_token",
            Self::OriginNotAllowed(_) => "origin_not_allowed",
            Self::RateLimited { .. } => "rate_limit_exceeded",
            Self::TooManyStreams { .. } => "too_many_concurrent_requests",
            Self::Busy => "server_busy",
            Self::UpstreamUnavailable(_) => "upstream_unavailable",
            Self::UpstreamTimeout(_) => "upstream_timeout",
            Self::Upstream(_) => "upstream_error",
            Self::UnknownModel(_) => "model_not_found",
            Self::Internal(_) => "internal_error",
        }
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "message": self.to_string(), "type": self.kind(), "code": self.status().as_u16() } })
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_s, .. } => Some(*retry_after_s),
            Self::Busy | Self::TooManyStreams { .. } | Self::UpstreamUnavailable(_) => Some(1),
            _ => None,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let mut r = (self.status(), axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after() {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}
