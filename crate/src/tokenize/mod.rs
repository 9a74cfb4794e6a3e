//! Tokenize stage: a tokenizer built from a GGUF's own `tokenizer.ggml.*` metadata.
//!
//! Both vocab kinds are assembled from the `tokenizers` crate's parts (so the same code runs in
//! wasm32) and reproduce llama.cpp's token ids:
//! - `"llama"` (SentencePiece): a BPE model whose merges are derived from the scored vocab
//!   ([`spm`]), which is what llama.cpp's `llm_tokenizer_spm` computes;
//! - `"gpt2"` (byte-level BPE): the GGUF's merges with llama.cpp's pre-tokenizer regexes ([`bpe`]).
//!
//! Control and user-defined tokens written in the text are matched first (longest match wins),
//! like llama.cpp's `tokenizer_st_partition` with `parse_special = true`.

mod bpe;
mod detok;
mod spm;
mod tiny;

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_ref;

use std::borrow::Cow;

use crate::load::gguf::{Gguf, GgufError, Value};

pub use detok::Detokenizer;
pub use tiny::{tiny_gpt2_vocab_metadata, tiny_spm_vocab_metadata};

pub const KEY_MODEL: &str = "tokenizer.ggml.model";
pub const KEY_PRE: &str = "tokenizer.ggml.pre";
pub const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
pub const KEY_SCORES: &str = "tokenizer.ggml.scores";
pub const KEY_TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
pub const KEY_MERGES: &str = "tokenizer.ggml.merges";
pub const KEY_BOS: &str = "tokenizer.ggml.bos_token_id";
pub const KEY_EOS: &str = "tokenizer.ggml.eos_token_id";
pub const KEY_UNK: &str = "tokenizer.ggml.unknown_token_id";
pub const KEY_PAD: &str = "tokenizer.ggml.padding_token_id";
pub const KEY_EOT: &str = "tokenizer.ggml.eot_token_id";
pub const KEY_EOM: &str = "tokenizer.ggml.eom_token_id";
pub const KEY_ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
pub const KEY_ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";

/// GGUF token types (`tokenizer.ggml.token_type`).
#[allow(dead_code)]
pub(crate) mod token_type {
    pub const NORMAL: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const CONTROL: i32 = 3;
    pub const USER_DEFINED: i32 = 4;
    pub const UNUSED: i32 = 5;
    pub const BYTE: i32 = 6;
}

/// Texts of end-of-turn style tokens that also stop generation when the vocab has them.
pub const END_OF_TURN_TEXTS: [&str; 4] = ["<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>"];

#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("unsupported tokenizer model {0:?} in tokenizer.ggml.model (supported: \"llama\", \"gpt2\")")]
    UnsupportedModel(String),
    #[error("metadata key {key} is an empty array")]
    EmptyVocab { key: &'static str },
    #[error("metadata key {key} has {found} entries, expected {expected} (one per token)")]
    LengthMismatch { key: &'static str, found: usize, expected: usize },
    #[error("metadata key {key}: element {index} has type {found}, expected {expected}")]
    BadElement { key: &'static str, index: usize, expected: &'static str, found: &'static str },
    #[error("metadata key {key} = {id} is not a token id (vocab size {vocab_size})")]
    BadSpecialId { key: &'static str, id: u64, vocab_size: usize },
    #[error("tokenizer.ggml.merges entry {index} ({merge:?}) is invalid: {why}")]
    BadMerge { index: usize, merge: String, why: &'static str },
    #[error("token id {id} is out of range (vocab size {vocab_size})")]
    BadTokenId { id: u32, vocab_size: usize },
    #[error("tokenizers backend error: {0}")]
    Backend(String),
}

pub(crate) fn backend(e: impl std::fmt::Display) -> TokenizeError {
    TokenizeError::Backend(e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VocabKind {
    /// SentencePiece (`"llama"`): pieces use "▁" for spaces, `<0xXX>` byte tokens.
    Spm,
    /// Byte-level BPE (`"gpt2"`): pieces are bytes mapped through GPT-2's `bytes_to_unicode`.
    Gpt2,
}

/// The token list with types and (for SPM) scores, read and checked from the metadata.
pub(crate) struct Vocab {
    pub tokens: Vec<String>,
    pub types: Vec<i32>,
}

impl Vocab {
    fn read(g: &Gguf) -> Result<Self, TokenizeError> {
        let raw = g.get_array(KEY_TOKENS)?;
        if raw.is_empty() {
            return Err(TokenizeError::EmptyVocab { key: KEY_TOKENS });
        }
        let mut tokens = Vec::with_capacity(raw.len());
        for (i, v) in raw.iter().enumerate() {
            match v {
                // llama.cpp renames empty pieces the same way, so they stay unique and decodable.
                Value::String(s) if s.is_empty() => tokens.push(format!("[EMPTY_{i}]")),
                Value::String(s) => tokens.push(s.clone()),
                v => return Err(bad_element(KEY_TOKENS, i, "string", v)),
            }
        }
        let types = match g.metadata.get(KEY_TOKEN_TYPE) {
            None => vec![token_type::NORMAL; tokens.len()],
            Some(_) => {
                let arr = per_token_array(g, KEY_TOKEN_TYPE, tokens.len())?;
                let mut types = Vec::with_capacity(arr.len());
                for (i, v) in arr.iter().enumerate() {
                    let t = int_value(v).ok_or_else(|| bad_element(KEY_TOKEN_TYPE, i, "integer", v))?;
                    types.push(i32::try_from(t).unwrap_or(0));
                }
                types
            }
        };
        Ok(Self { tokens, types })
    }

    /// `tokenizer.ggml.scores` (zeros when absent, like llama.cpp).
    pub fn scores(g: &Gguf, n: usize) -> Result<Vec<f32>, TokenizeError> {
        if !g.metadata.contains_key(KEY_SCORES) {
            return Ok(vec![0.0; n]);
        }
        let arr = per_token_array(g, KEY_SCORES, n)?;
        arr.iter()
            .enumerate()
            .map(|(i, v)| v.as_f64().map(|x| x as f32).ok_or_else(|| bad_element(KEY_SCORES, i, "number", v)))
            .collect()
    }
}

fn per_token_array<'a>(g: &'a Gguf, key: &'static str, n: usize) -> Result<&'a [Value], TokenizeError> {
    let arr = g.get_array(key)?;
    if arr.len() != n {
        return Err(TokenizeError::LengthMismatch { key, found: arr.len(), expected: n });
    }
    Ok(arr)
}

fn int_value(v: &Value) -> Option<i64> {
    match *v {
        Value::I8(x) => Some(x.into()),
        Value::I16(x) => Some(x.into()),
        Value::I32(x) => Some(x.into()),
        Value::I64(x) => Some(x),
        _ => v.as_u64().and_then(|x| i64::try_from(x).ok()),
    }
}

pub(crate) fn bad_element(key: &'static str, index: usize, expected: &'static str, v: &Value) -> TokenizeError {
    TokenizeError::BadElement { key, index, expected, found: v.type_name() }
}

/// An optional token id key; present but out of range is an error.
fn special_id(g: &Gguf, key: &'static str, vocab_size: usize) -> Result<Option<u32>, TokenizeError> {
    if !g.metadata.contains_key(key) {
        return Ok(None);
    }
    let id = g.get_u64(key)?;
    match u32::try_from(id) {
        Ok(v) if (v as usize) < vocab_size => Ok(Some(v)),
        _ => Err(TokenizeError::BadSpecialId { key, id, vocab_size }),
    }
}

fn opt_bool(g: &Gguf, key: &str, default: bool) -> Result<bool, TokenizeError> {
    if g.metadata.contains_key(key) {
        Ok(g.get_bool(key)?)
    } else {
        Ok(default)
    }
}

/// A tokenizer for one GGUF's vocab.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    kind: VocabKind,
    /// All pieces concatenated; piece i is `pieces[ends[i-1]..ends[i]]`.
    pieces: String,
    ends: Vec<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    pad: Option<u32>,
    stop_ids: Vec<u32>,
    add_bos: bool,
    strip_leading_space: bool,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("kind", &self.kind)
            .field("vocab_size", &self.vocab_size())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("stop_ids", &self.stop_ids)
            .field("add_bos", &self.add_bos)
            .finish()
    }
}

impl Tokenizer {
    pub fn from_gguf(g: &Gguf) -> Result<Self, TokenizeError> {
        let model = g.get_str(KEY_MODEL)?;
        let kind = match model {
            "llama" => VocabKind::Spm,
            "gpt2" => VocabKind::Gpt2,
            other => return Err(TokenizeError::UnsupportedModel(other.to_string())),
        };
        let vocab = Vocab::read(g)?;
        let n = vocab.tokens.len();
        let bos = special_id(g, KEY_BOS, n)?;
        let eos = special_id(g, KEY_EOS, n)?;
        let unk = special_id(g, KEY_UNK, n)?;
        let pad = special_id(g, KEY_PAD, n)?;
        let eot = special_id(g, KEY_EOT, n)?;
        let eom = special_id(g, KEY_EOM, n)?;
        let add_bos = opt_bool(g, KEY_ADD_BOS, kind == VocabKind::Spm)?;
        // Control tokens that decode() drops (llama.cpp drops every control token; we keep the
        // turn markers so that templates round-trip).
        let skip: Vec<u32> = [bos, eos, pad].into_iter().flatten().collect();
        let (inner, strip_leading_space) = match kind {
            VocabKind::Spm => {
                let add_space_prefix = opt_bool(g, KEY_ADD_SPACE_PREFIX, true)?;
                let scores = Vocab::scores(g, n)?;
                (spm::build(&vocab, &scores, unk, &skip, add_space_prefix)?, add_space_prefix)
            }
            VocabKind::Gpt2 => {
                let pre = if g.metadata.contains_key(KEY_PRE) { g.get_str(KEY_PRE)? } else { "default" };
                (bpe::build(&vocab, g.get_array(KEY_MERGES)?, pre, &skip)?, false)
            }
        };

        let mut stop_ids: Vec<u32> = Vec::new();
        let named = vocab.tokens.iter().enumerate().filter(|(_, t)| END_OF_TURN_TEXTS.contains(&t.as_str()));
        for id in [eos, eot, eom].into_iter().flatten().chain(named.map(|(i, _)| i as u32)) {
            if !stop_ids.contains(&id) {
                stop_ids.push(id);
            }
        }

        let mut pieces = String::with_capacity(vocab.tokens.iter().map(String::len).sum());
        let mut ends = Vec::with_capacity(n);
        for t in &vocab.tokens {
            pieces.push_str(t);
            ends.push(u32::try_from(pieces.len()).map_err(|_| backend("vocab pieces exceed 4 GiB"))?);
        }
        Ok(Self { inner, kind, pieces, ends, bos, eos, pad, stop_ids, add_bos, strip_leading_space })
    }

    /// Encode text; special/control tokens written in the text (e.g. "<start_of_turn>") are
    /// parsed as their ids. Adds BOS first when `add_bos` is true and the vocab has one.
    pub fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<u32>, TokenizeError> {
        let enc = self.inner.encode_fast(text, false).map_err(backend)?;
        let mut out = Vec::with_capacity(enc.len() + 1);
        if add_bos {
            out.extend(self.bos);
        }
        out.extend_from_slice(enc.get_ids());
        Ok(out)
    }

    /// Decode ids to text; bos/eos/pad are skipped, byte tokens are reassembled (lossy only
    /// where the bytes really are invalid UTF-8).
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizeError> {
        for &id in ids {
            self.check_id(id)?;
        }
        self.inner.decode(ids, true).map_err(backend)
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// Ids that end generation: eos (and eot/eom ids from the metadata) plus end-of-turn style
    /// tokens present in the vocab ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>").
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// `tokenizer.ggml.add_bos_token` (default true for llama/SPM vocabs, false for gpt2).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    pub fn vocab_size(&self) -> usize {
        self.ends.len()
    }

    /// The vocab's piece for `id`, as stored in the GGUF ("▁the", "<0xE4>", "Ġthe", ...).
    pub fn id_to_piece(&self, id: u32) -> Option<&str> {
        let i = id as usize;
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.pieces.get(start..end)
    }

    fn check_id(&self, id: u32) -> Result<(), TokenizeError> {
        if (id as usize) < self.vocab_size() {
            Ok(())
        } else {
            Err(TokenizeError::BadTokenId { id, vocab_size: self.vocab_size() })
        }
    }

    /// Whether the decoder drops one leading space from the text (SPM with add_space_prefix).
    pub(crate) fn strips_leading_space(&self) -> bool {
        self.strip_leading_space
    }

    /// The bytes one token contributes to decoded text, exactly as [`Tokenizer::decode`]'s
    /// decoder pipeline produces them (before the leading-space strip).
    pub(crate) fn token_bytes(&self, id: u32) -> Result<Cow<'_, [u8]>, TokenizeError> {
        self.check_id(id)?;
        if [self.bos, self.eos, self.pad].contains(&Some(id)) {
            return Ok(Cow::Borrowed(&[]));
        }
        let piece = self.id_to_piece(id).unwrap_or_default();
        Ok(match self.kind {
            VocabKind::Spm => match spm::parse_byte_piece(piece) {
                Some(b) => Cow::Owned(vec![b]),
                None if piece.contains(spm::SPACE) => Cow::Owned(piece.replace(spm::SPACE, " ").into_bytes()),
                None => Cow::Borrowed(piece.as_bytes()),
            },
            VocabKind::Gpt2 => match bpe::piece_to_bytes(piece) {
                Some(bytes) => Cow::Owned(bytes),
                None => Cow::Borrowed(piece.as_bytes()),
            },
        })
    }
}
