//! GPT-2 style byte-level BPE (`tokenizer.ggml.model = "gpt2"`) vocab → `tokenizers` pipeline.
//!
//! Pieces are bytes written through GPT-2's `bytes_to_unicode` table; `tokenizer.ggml.merges`
//! holds "a b" strings in rank order; `tokenizer.ggml.pre` names llama.cpp's pre-tokenizer
//! (a fixed list of split regexes applied one after the other, see `llama-vocab.cpp`).

use std::collections::HashSet;

use tokenizers::models::bpe::{Vocab as BpeVocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior};

use super::spm::add_special_texts;
use super::token_type::{CONTROL, UNKNOWN, USER_DEFINED};
use super::{backend, bad_element, TokenizeError, Vocab, KEY_MERGES};
use crate::load::gguf::Value;

/// GPT-2's pre-tokenizer regex (llama.cpp `LLAMA_VOCAB_PRE_TYPE_GPT2`).
pub const RE_GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama 3 (llama.cpp's rewrite of `(?i:'s|...)` without the inline flag group).
pub const RE_LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2: as Llama 3 but single digits.
pub const RE_QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// llama.cpp's `LLAMA_VOCAB_PRE_TYPE_DEFAULT` list (pre = "default" or absent).
pub const RE_DEFAULT: [&str; 4] = [r"[\p{P}\$\+<=>\^~\|]+", RE_GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"];

/// Whether GPT-2's table maps byte `b` to itself.
fn printable(b: u8) -> bool {
    matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// GPT-2 `bytes_to_unicode`: printable bytes map to themselves, the other 68 to U+0100.. in order.
pub fn byte_to_char(b: u8) -> char {
    if printable(b) {
        return char::from(b);
    }
    let n = match b {
        0x00..=0x20 => b as u32,
        0x7F..=0xA0 => 33 + (b - 0x7F) as u32,
        _ => 67, // 0xAD
    };
    char::from_u32(0x100 + n).unwrap_or('\u{100}')
}

/// Inverse of [`byte_to_char`].
pub fn char_to_byte(c: char) -> Option<u8> {
    let u = c as u32;
    if u < 0x100 {
        let b = u as u8;
        return printable(b).then_some(b);
    }
    match u.checked_sub(0x100)? {
        n @ 0..=32 => Some(n as u8),
        n @ 33..=66 => Some(0x7F + (n - 33) as u8),
        67 => Some(0xAD),
        _ => None,
    }
}

/// The 256 bytes in `bytes_to_unicode` dict order (printable ones first), as GPT-2 vocabs list them.
pub fn byte_order() -> Vec<u8> {
    let mut v: Vec<u8> = (0..=255u8).filter(|&b| printable(b)).collect();
    v.extend((0..=255u8).filter(|&b| !printable(b)));
    v
}

/// A byte-level piece → its bytes; None when a char is outside the table (raw text pieces such
/// as control tokens with spaces, which the `ByteLevel` decoder passes through unchanged).
pub(crate) fn piece_to_bytes(piece: &str) -> Option<Vec<u8>> {
    piece.chars().map(char_to_byte).collect()
}

/// Pre-tokenizer for a `tokenizer.ggml.pre` value, and whether llama.cpp ignores merges for
/// words that are whole vocab tokens (Llama 3 family).
fn pre_tokenizer(pre: &str) -> Result<(PreTokenizerWrapper, bool), TokenizeError> {
    let split = |re: &str| -> Result<PreTokenizerWrapper, TokenizeError> {
        Ok(Split::new(SplitPattern::Regex(re.to_string()), SplitDelimiterBehavior::Isolated, false)
            .map_err(backend)?
            .into())
    };
    let bytes_only = || PreTokenizerWrapper::from(ByteLevel::new(false, false, false));
    let seq = |mut parts: Vec<PreTokenizerWrapper>| {
        parts.push(bytes_only());
        PreTokenizerWrapper::from(PreSequence::new(parts))
    };
    Ok(match pre {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" => (seq(vec![split(RE_LLAMA3)?]), true),
        "dbrx" | "smaug-bpe" => (seq(vec![split(RE_LLAMA3)?]), false),
        "qwen2" | "qwen2.5" | "qwen-2.5" | "deepseek-r1-qwen" | "stablelm2" | "megrez" => {
            (seq(vec![split(RE_QWEN2)?]), false)
        }
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" => {
            (seq(vec![split(r"\p{N}")?, split(RE_GPT2)?]), false)
        }
        "default" => (seq(RE_DEFAULT.iter().map(|re| split(re)).collect::<Result<_, _>>()?), false),
        // "gpt2", "gpt-2", "mpt", "olmo", "phi-2", ... and anything unknown: GPT-2's regex.
        _ => (ByteLevel::new(false, false, true).into(), false),
    })
}

/// Parse `tokenizer.ggml.merges` into (a, b) pairs, checking that a, b and a+b are tokens.
/// Duplicate pairs keep their first rank (llama.cpp's `bpe_ranks.emplace`).
fn parse_merges(merges: &[Value], vocab: &BpeVocab) -> Result<Vec<(String, String)>, TokenizeError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(merges.len());
    for (index, v) in merges.iter().enumerate() {
        let Value::String(s) = v else {
            return Err(bad_element(KEY_MERGES, index, "string", v));
        };
        let bad = |why| TokenizeError::BadMerge { index, merge: s.clone(), why };
        // llama.cpp splits at the first space after the first byte.
        let (pos, _) = s.char_indices().skip(1).find(|&(_, c)| c == ' ').ok_or_else(|| bad("no space separator"))?;
        let (a, b) = (&s[..pos], &s[pos + 1..]);
        if !vocab.contains_key(a) || !vocab.contains_key(b) {
            return Err(bad("a part is not in the vocab"));
        }
        if !vocab.contains_key(&format!("{a}{b}")) {
            return Err(bad("the merged token is not in the vocab"));
        }
        if seen.insert((a, b)) {
            out.push((a.to_string(), b.to_string()));
        }
    }
    Ok(out)
}

/// Build the `tokenizers` pipeline for a byte-level BPE vocab.
pub(crate) fn build(
    vocab: &Vocab,
    merges: &[Value],
    pre: &str,
    skip: &[u32],
) -> Result<tokenizers::Tokenizer, TokenizeError> {
    let map: BpeVocab = vocab.tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let merges = parse_merges(merges, &map)?;
    let (pre_tok, ignore_merges) = pre_tokenizer(pre)?;
    let model = BPE::builder().vocab_and_merges(map, merges).ignore_merges(ignore_merges).build().map_err(backend)?;
    let mut tk = tokenizers::Tokenizer::new(model);
    tk.with_pre_tokenizer(Some(pre_tok));
    tk.with_decoder(Some(ByteLevel::default()));
    add_special_texts(&mut tk, vocab, skip, &[CONTROL, USER_DEFINED, UNKNOWN])?;
    Ok(tk)
}
