//! CORS for the API: only allowlisted origins may call it from a browser. Requests without an
//! `Origin` header (servers, curl) pass; a disallowed origin gets 403 before any work is done.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::GatewayError;
use crate::AppState;

pub fn allowed(list: &[String], origin: &str) -> bool {
    list.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
}

pub async fn cors(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(origin) = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(String::from) else {
        return next.run(req).await;
    };
    if !allowed(&app.cfg.cors.allowed_origins, &origin) {
        app.metrics.add("tutor_gateway_rejected_total", &[("reason", "origin")], 1.0);
        return GatewayError::OriginNotAllowed(origin).into_response();
    }
    let preflight = req.method() == Method::OPTIONS;
    let mut resp = if preflight { StatusCode::NO_CONTENT.into_response() } else { next.run(req).await };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if preflight {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    } else {
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("retry-after, x-request-id, x-tutor-cache"));
    }
    resp
}
