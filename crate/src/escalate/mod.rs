//! Escalate stage: send a question the local model should not answer to the gateway
//! (`server/`, OpenAI-compatible) and stream its answer as the same [`crate::stream::Chunk`]s
//! local generation yields (with `source: Escalated`).
//!
//! Pure parts (compile on wasm32 too): the SSE parser ([`sse`]), the wire format ([`chat`]),
//! the retry policy ([`retry`]), the typed errors ([`error`]) and the client logic
//! ([`client`]) over a small [`transport::Transport`] trait. The native transport
//! ([`native`], feature `escalate-native`) is blocking HTTP over `ureq`.

pub mod chat;
pub mod client;
pub mod error;
#[cfg(all(feature = "escalate-native", not(target_arch = "wasm32")))]
pub mod native;
pub mod retry;
pub mod sse;
pub mod transport;

pub use chat::{ChatMessage, ChatRequest};
pub use client::{ClientConfig, Escalation, EscalationClient};
pub use error::{EscalateError, TimeoutPhase, TransportError};
pub use retry::Backoff;
pub use transport::{Timeouts, Transport};
