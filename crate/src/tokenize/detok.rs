//! Incremental detokenizer for streaming output.

use super::{TokenizeError, Tokenizer};

/// Push ids one at a time and get text that is safe to show. Bytes that do not yet form a whole
/// UTF-8 character (e.g. `<0xE4>` then `<0xBD>` of a three-byte CJK character) are held back
/// until the character is complete, so valid input never yields U+FFFD.
#[derive(Debug, Default, Clone)]
pub struct Detokenizer {
    pending: Vec<u8>,
    /// Some non-empty token text has been seen (the leading-space strip applies before that).
    started: bool,
}

impl Detokenizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one token; returns the newly completed text (may be empty).
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> Result<String, TokenizeError> {
        let bytes = tok.token_bytes(id)?;
        let mut b: &[u8] = &bytes;
        if !self.started && !b.is_empty() {
            self.started = true;
            if tok.strips_leading_space() && b[0] == b' ' {
                b = &b[1..];
            }
        }
        self.pending.extend_from_slice(b);
        Ok(self.drain(false))
    }

    /// Whatever is left; an incomplete trailing character becomes U+FFFD.
    pub fn finish(&mut self, _tok: &Tokenizer) -> Result<String, TokenizeError> {
        let out = self.drain(true);
        self.started = false;
        Ok(out)
    }

    /// Emit the longest decodable prefix. Invalid sequences become U+FFFD; an incomplete
    /// sequence at the end is kept (or replaced when `finish`).
    fn drain(&mut self, finish: bool) -> String {
        let mut out = String::new();
        let mut start = 0;
        while start < self.pending.len() {
            let rest = &self.pending[start..];
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    start = self.pending.len();
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&rest[..valid]));
                    match e.error_len() {
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            start += valid + n;
                        }
                        None if finish => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            start = self.pending.len();
                        }
                        None => {
                            start += valid;
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
        out
    }
}
