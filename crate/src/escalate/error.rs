//! The escalation client's typed errors (pure: no I/O).

use std::time::Duration;

/// Which wait ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Opening the TCP connection.
    Connect,
    /// Waiting for the response head (status line and headers).
    Response,
    /// Waiting for the next bytes of the answer.
    Idle,
}

impl TimeoutPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Response => "response",
            Self::Idle => "idle",
        }
    }
}

/// What a transport reports; the client turns these into [`EscalateError`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No connection could be made (refused, unreachable, DNS failure, reset before a response).
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("timed out ({} phase)", .0.as_str())]
    Timeout(TimeoutPhase),
    /// The connection broke after the response began.
    #[error("connection broken: {0}")]
    Io(String),
}

/// Why an escalated answer failed. Every variant carries enough to show or log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscalateError {
    /// The gateway could not be reached after every retry.
    #[error("gateway {url} unreachable after {attempts} attempt(s): {last}")]
    Unreachable { url: String, attempts: u32, last: String },
    /// The gateway took too long.
    #[error("gateway {url} timed out waiting for {} after {:?}", .phase.as_str(), .after)]
    Timeout { url: String, phase: TimeoutPhase, after: Duration },
    /// The gateway answered with an HTTP error (its OpenAI-style error body decoded).
    #[error("gateway answered HTTP {status} ({kind}): {message}")]
    Status { status: u16, kind: String, message: String, retry_after_s: Option<u64> },
    /// The gateway reported an error inside the stream (e.g. its upstream failed mid-answer).
    #[error("upstream error during the answer ({kind}): {message}")]
    Upstream { kind: String, message: String },
    /// The stream ended before `data: [DONE]`.
    #[error("the answer stream ended early after {received_chars} characters")]
    Truncated { received_chars: usize },
    /// The connection broke mid-answer.
    #[error("connection lost mid-answer after {received_chars} characters: {detail}")]
    ConnectionLost { received_chars: usize, detail: String },
    /// Bytes that are not the expected SSE/JSON.
    #[error("malformed answer stream: {0}")]
    Malformed(String),
    /// The request could not be encoded.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// [`crate::stream::AbortHandle::abort`] was called.
    #[error("aborted")]
    Aborted,
}

impl EscalateError {
    /// Stable machine-readable name (the TypeScript client uses the same `kind`s).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "unreachable",
            Self::Timeout { .. } => "timeout",
            Self::Status { .. } => "status",
            Self::Upstream { .. } => "upstream",
            Self::Truncated { .. } => "truncated",
            Self::ConnectionLost { .. } => "connection_lost",
            Self::Malformed(_) => "malformed",
            Self::InvalidRequest(_) => "invalid_request",
            Self::Aborted => "aborted",
        }
    }
}
