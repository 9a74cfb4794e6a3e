//! The one I/O seam of the escalation client: POST a request, read the response body.
//! Native: [`super::native::UreqTransport`] (feature `escalate-native`). The browser's
//! transport is `fetch` in TypeScript against the same SSE format.

use std::time::Duration;

use super::error::TransportError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// From request sent to response head received (covers the gateway's queue and prefill).
    pub response: Duration,
    /// Longest silence between two reads of the body.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(5), response: Duration::from_secs(60), idle: Duration::from_secs(30) }
    }
}

#[derive(Debug, Clone)]
pub struct HttpRequest<'a> {
    pub url: &'a str,
    pub headers: Vec<(&'static str, String)>,
    pub body: &'a [u8],
}

/// A response body read in pieces; `Ok(0)` is the end.
pub trait BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TransportError>;
}

pub struct HttpResponse {
    pub status: u16,
    /// `Retry-After` in seconds, when the server sent one.
    pub retry_after_s: Option<u64>,
    pub body: Box<dyn BodyReader>,
}

pub trait Transport {
    /// Send a POST and return once the response head arrived.
    fn post(&mut self, req: &HttpRequest<'_>) -> Result<HttpResponse, TransportError>;
    /// Wait between retries.
    fn sleep(&mut self, d: Duration);
    /// A number in [0, 1) for backoff jitter.
    fn random_unit(&mut self) -> f64 {
        0.5
    }
    /// The timeouts this transport enforces (reported in errors).
    fn timeouts(&self) -> Timeouts;
}
