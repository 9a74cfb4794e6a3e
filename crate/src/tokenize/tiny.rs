//! Small deterministic vocabs for tests and the tiny test-model generator.

use super::bpe::{byte_order, byte_to_char};
use super::token_type::{BYTE, CONTROL, NORMAL, USER_DEFINED};
use crate::load::gguf::Value;

/// SentencePiece pieces of the tiny vocab, highest score first. Each multi-character piece
/// splits into two pieces (or characters) of the vocab, so the merges can reach it.
pub const TINY_SPM_PIECES: &[&str] = &[
    "▁t", "in", "▁a", "er", "he", "on", "re", "▁s", "en", "at", "th", "▁the", "▁o", "▁w", "nd", "es", "is", "▁i",
    "ing", "or", "an", "ed", "▁c", "▁b", "▁f", "▁p", "▁m", "▁to", "▁of", "▁is", "▁in", "▁and", "ou", "it", "ar", "al",
    "le", "▁h", "▁d", "▁th", "the", "▁he", "▁that", "ll", "▁T", "▁I", "▁A", "ion", "▁be", "▁wh", "▁on", "▁it", "▁for",
    "▁an", "as", "▁was", "st", "▁st", "ent", "▁re", "ic", "ro", "▁The", "▁Th", "▁H", "▁Hello", "▁He", "▁Hel", "▁Hell",
    "lo", "ld", "▁wor", "▁world",
];

fn string_array<I: IntoIterator<Item = String>>(items: I) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// A small SentencePiece vocab (`tokenizer.ggml.model = "llama"`), ~430 tokens:
/// `<pad>`=0 `<eos>`=1 `<bos>`=2 `<unk>`=3 `<start_of_turn>`=4 `<end_of_turn>`=5 (control),
/// `<0x00>`..`<0xFF>` = 6..=261 (byte), then "▁", "\n" (user-defined), the printable ASCII
/// characters and [`TINY_SPM_PIECES`] with descending scores. `add_space_prefix` is false.
pub fn tiny_spm_vocab_metadata() -> Vec<(String, Value)> {
    let mut toks: Vec<(String, f32, i32)> = Vec::new();
    for t in ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"] {
        toks.push((t.to_string(), -1000.0, CONTROL));
    }
    for b in 0..=255u8 {
        toks.push((format!("<0x{b:02X}>"), 0.0, BYTE));
    }
    toks.push(("▁".to_string(), -100.0, NORMAL));
    toks.push(("\n".to_string(), -1000.0, USER_DEFINED));
    for (i, c) in (0x21u8..=0x7E).map(char::from).enumerate() {
        toks.push((c.to_string(), -200.0 - i as f32, NORMAL));
    }
    for (i, p) in TINY_SPM_PIECES.iter().enumerate() {
        if !toks.iter().any(|(t, _, _)| t == p) {
            toks.push((p.to_string(), -(i as f32), NORMAL));
        }
    }
    vec![
        ("tokenizer.ggml.model".into(), Value::String("llama".into())),
        ("tokenizer.ggml.pre".into(), Value::String("default".into())),
        ("tokenizer.ggml.tokens".into(), string_array(toks.iter().map(|t| t.0.clone()))),
        ("tokenizer.ggml.scores".into(), Value::Array(toks.iter().map(|t| Value::F32(t.1)).collect())),
        ("tokenizer.ggml.token_type".into(), Value::Array(toks.iter().map(|t| Value::I32(t.2)).collect())),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(2)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.unknown_token_id".into(), Value::U32(3)),
        ("tokenizer.ggml.padding_token_id".into(), Value::U32(0)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(true)),
        ("tokenizer.ggml.add_eos_token".into(), Value::Bool(false)),
        ("tokenizer.ggml.add_space_prefix".into(), Value::Bool(false)),
    ]
}

/// Merges of the tiny byte-level vocab, in rank order (pieces in GPT-2's byte-level spelling:
/// "Ġ" is a space, "Ã ©" are the two bytes of "é").
pub const TINY_GPT2_MERGES: &[&str] = &[
    "Ġ t", "h e", "i n", "Ġ a", "e r", "o n", "r e", "Ġt he", "Ġ s", "a t", "e n", "Ġ w", "Ġ o", "i s", "Ġ is", "Ġ i",
    "n d", "Ġa nd", "Ġ c", "o u", "in g", "Ã ©", "Ġ Ġ", "l l", "Ġ he", "ll o", "Ġhe llo",
];

/// A small byte-level BPE vocab (`tokenizer.ggml.model = "gpt2"`, pre "gpt2"): the 256
/// byte-level characters in `bytes_to_unicode` order (ids 0..=255), one token per merge of
/// [`TINY_GPT2_MERGES`] (ids 256..), then `<|endoftext|>` (control; bos and eos).
pub fn tiny_gpt2_vocab_metadata() -> Vec<(String, Value)> {
    let mut tokens: Vec<String> = byte_order().into_iter().map(|b| byte_to_char(b).to_string()).collect();
    for m in TINY_GPT2_MERGES {
        let merged: String = m.split(' ').collect();
        if !tokens.contains(&merged) {
            tokens.push(merged);
        }
    }
    let eot = tokens.len() as u32;
    tokens.push("<|endoftext|>".to_string());
    let types: Vec<Value> =
        (0..tokens.len()).map(|i| Value::I32(if i as u32 == eot { CONTROL } else { NORMAL })).collect();
    vec![
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.tokens".into(), string_array(tokens)),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        ("tokenizer.ggml.merges".into(), string_array(TINY_GPT2_MERGES.iter().map(|m| m.to_string()))),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(eot)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(eot)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
    ]
}
