//! What every answer source (embedded engine, upstream) yields: a channel of pieces.

use tokio::sync::mpsc;

use crate::chat::Usage;
use crate::error::GatewayError;

#[derive(Debug)]
pub enum Piece {
    /// Answer text. `raw`: the upstream's own chunk JSON, forwarded verbatim when streaming.
    Delta { text: String, raw: Option<String> },
    /// The end of the answer.
    Finish { reason: String, usage: Usage, raw: Option<String> },
    /// The answer failed (before or after text was sent).
    Error(GatewayError),
}

/// An answer in progress.
pub struct Answer {
    /// Model id reported to the client.
    pub model: String,
    /// `embedded` or the upstream's name (metrics label).
    pub source: String,
    /// Prompt tokens, when known before the answer ends.
    pub prompt_tokens: Option<u64>,
    pub rx: mpsc::Receiver<Piece>,
}
