//! Server-sent events parser (pure, incremental): bytes in, events out, in any chunking.
//! Follows the WHATWG event-stream rules that matter here: `\n`, `\r\n` or `\r` line ends,
//! `data:` lines joined by `\n`, `:` comments ignored, a blank line dispatches the event.

use std::collections::VecDeque;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field (empty for the default "message").
    pub event: String,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("an event grew past {limit} bytes without ending")]
    TooLarge { limit: usize },
    #[error("event data is not UTF-8")]
    NotUtf8,
}

/// Incremental parser. Feed bytes with [`SseParser::push`], take events with [`SseParser::next_event`].
#[derive(Debug)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// A `\r` ended the last line: a following `\n` belongs to it.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
    ready: VecDeque<SseEvent>,
    limit: usize,
    pending_bytes: usize,
    failed: Option<SseError>,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new(1 << 20)
    }
}

impl SseParser {
    /// `limit`: the largest event (bytes) accepted.
    pub fn new(limit: usize) -> Self {
        Self {
            line: Vec::new(),
            after_cr: false,
            event: String::new(),
            data: String::new(),
            has_data: false,
            ready: VecDeque::new(),
            limit,
            pending_bytes: 0,
            failed: None,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line();
                }
                _ => {
                    self.line.push(b);
                    self.pending_bytes += 1;
                    if self.pending_bytes > self.limit {
                        self.failed = Some(SseError::TooLarge { limit: self.limit });
                        return;
                    }
                }
            }
            if self.failed.is_some() {
                return;
            }
        }
    }

    /// The next complete event, or an error once the stream is known bad.
    pub fn next_event(&mut self) -> Option<Result<SseEvent, SseError>> {
        if let Some(e) = self.ready.pop_front() {
            return Some(Ok(e));
        }
        self.failed.clone().map(Err)
    }

    /// True when bytes of an unfinished event are buffered (useful at end of stream).
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.has_data
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if self.has_data {
                let data = std::mem::take(&mut self.data);
                let event = std::mem::take(&mut self.event);
                self.ready.push_back(SseEvent { event, data });
            }
            self.event.clear();
            self.has_data = false;
            self.pending_bytes = 0;
            return;
        }
        let Ok(line) = String::from_utf8(line) else {
            self.failed = Some(SseError::NotUtf8);
            return;
        };
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line.as_str(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = value.to_string(),
            _ => {} // id, retry and unknown fields are not used
        }
    }
}

/// Encode one SSE `data:` event (multi-line data becomes several `data:` lines).
pub fn encode_data(data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 8);
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(p: &mut SseParser) -> Vec<SseEvent> {
        std::iter::from_fn(|| p.next_event()).map(|e| e.unwrap()).collect()
    }

    #[test]
    fn any_split_gives_the_same_events() {
        let raw = b": comment\r\ndata: {\"a\":1}\r\n\r\nevent: x\ndata: l1\ndata:l2\n\ndata: [DONE]\r\r";
        let want = vec![
            SseEvent { event: String::new(), data: "{\"a\":1}".into() },
            SseEvent { event: "x".into(), data: "l1\nl2".into() },
            SseEvent { event: String::new(), data: "[DONE]".into() },
        ];
        for split in 0..raw.len() {
            let mut p = SseParser::default();
            p.push(&raw[..split]);
            let mut got = all(&mut p);
            p.push(&raw[split..]);
            got.extend(all(&mut p));
            assert_eq!(got, want, "split at {split}");
        }
        // Byte by byte, including a UTF-8 character split across pushes.
        let mut p = SseParser::default();
        for b in "data: é😀\n\n".as_bytes() {
            p.push(std::slice::from_ref(b));
        }
        assert_eq!(all(&mut p)[0].data, "é😀");
    }

    #[test]
    fn unterminated_event_is_partial_not_dispatched() {
        let mut p = SseParser::default();
        p.push(b"data: {\"half\"");
        assert!(p.next_event().is_none());
        assert!(p.has_partial());
    }

    #[test]
    fn oversized_and_bad_utf8_are_errors() {
        let mut p = SseParser::new(16);
        p.push(&[b'x'; 64]);
        assert_eq!(p.next_event(), Some(Err(SseError::TooLarge { limit: 16 })));
        let mut p = SseParser::default();
        p.push(b"data: \xff\xfe\n\n");
        assert_eq!(p.next_event(), Some(Err(SseError::NotUtf8)));
    }

    #[test]
    fn encode_round_trips() {
        let mut p = SseParser::default();
        p.push(encode_data("a\nb").as_bytes());
        assert_eq!(all(&mut p)[0].data, "a\nb");
    }
}
