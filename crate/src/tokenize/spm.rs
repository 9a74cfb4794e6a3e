//! SentencePiece (`tokenizer.ggml.model = "llama"`) vocab → a `tokenizers` BPE model.
//!
//! llama.cpp's `llm_tokenizer_spm` starts from the UTF-8 characters of a fragment and keeps
//! merging the adjacent pair of symbols whose concatenation is a vocab token with the highest
//! score (ties: leftmost); characters that are not tokens become `<0xXX>` byte tokens.
//! That is a BPE whose merges are all splits `t = a + b` of vocab tokens, ranked by the score of
//! `t`: the BPE engine also applies the lowest-ranked applicable pair first, leftmost on ties.

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Vocab as BpeVocab, BPE};
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper};

use super::token_type::{CONTROL, NORMAL, UNKNOWN, USER_DEFINED};
use super::{backend, TokenizeError, Vocab};

/// SentencePiece's visible space, U+2581 "▁".
pub(crate) const SPACE: char = '\u{2581}';
const SPACE_STR: &str = "\u{2581}";

/// `<0xXX>` → the byte (the same test as the `ByteFallback` decoder).
pub(crate) fn parse_byte_piece(piece: &str) -> Option<u8> {
    if piece.len() == 6 && piece.starts_with("<0x") && piece.ends_with('>') {
        u8::from_str_radix(piece.get(3..5)?, 16).ok()
    } else {
        None
    }
}

/// Every split `t = a + b` of a normal or user-defined token `t` into two symbols the SPM
/// algorithm can hold, as (t, a, b), sorted into merge priority: score of `t` descending, then
/// token id ascending, then split position.
///
/// A symbol is either one character (any token, looked up as llama.cpp's `text_to_token` does)
/// or the product of an earlier merge, hence a normal / user-defined token.
pub(crate) fn derive_merges(
    index: &BpeVocab,
    tokens: &[String],
    types: &[i32],
    scores: &[f32],
) -> Vec<(u32, u32, u32)> {
    let mergeable = |id: u32| matches!(types.get(id as usize), Some(&NORMAL) | Some(&USER_DEFINED));
    let symbol = |s: &str| -> Option<u32> {
        let id = *index.get(s)?;
        let single_char = s.chars().nth(1).is_none();
        (single_char || mergeable(id)).then_some(id)
    };
    // (t, a, b, split position)
    let mut merges = Vec::new();
    for (t, piece) in tokens.iter().enumerate() {
        let t = t as u32;
        // Skip earlier duplicates of a piece: the last occurrence owns it, like llama.cpp's `token_to_id`.
        if !mergeable(t) || index.get(piece.as_str()) != Some(&t) {
            continue;
        }
        for (k, _) in piece.char_indices().skip(1) {
            let (a, b) = piece.split_at(k);
            if let (Some(a), Some(b)) = (symbol(a), symbol(b)) {
                merges.push((t, a, b, k as u32));
            }
        }
    }
    merges.sort_unstable_by(|x, y| {
        scores[y.0 as usize].total_cmp(&scores[x.0 as usize]).then(x.0.cmp(&y.0)).then(x.3.cmp(&y.3))
    });
    merges.into_iter().map(|(t, a, b, _)| (t, a, b)).collect()
}

/// Build the `tokenizers` pipeline for an SPM vocab.
///
/// `skip` are the ids marked special (dropped by `decode`); all control, user-defined and
/// unknown-type tokens are matched in raw text before normalization, as llama.cpp does.
pub(crate) fn build(
    vocab: &Vocab,
    scores: &[f32],
    unk: Option<u32>,
    skip: &[u32],
    add_space_prefix: bool,
) -> Result<tokenizers::Tokenizer, TokenizeError> {
    let tokens = &vocab.tokens;
    // Last occurrence wins on duplicate pieces, like llama.cpp's `token_to_id`.
    let map: BpeVocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let merges: Vec<(String, String)> = derive_merges(&map, tokens, &vocab.types, scores)
        .into_iter()
        .map(|(_, a, b)| (tokens[a as usize].clone(), tokens[b as usize].clone()))
        .collect();
    let mut builder = BPE::builder().vocab_and_merges(map, merges).byte_fallback(true);
    if let Some(u) = unk {
        builder = builder.unk_token(tokens[u as usize].clone());
    }
    let model = builder.build().map_err(backend)?;

    let mut tk = tokenizers::Tokenizer::new(model);
    let mut norm: Vec<NormalizerWrapper> = vec![Replace::new(" ", SPACE_STR).map_err(backend)?.into()];
    if add_space_prefix {
        // llama.cpp prefixes " " to every raw-text fragment that starts the text or follows a
        // special token, i.e. to every fragment; Prepend skips empty ones, as llama.cpp does.
        norm.push(Prepend::new(SPACE_STR.to_string()).into());
    }
    tk.with_normalizer(Some(NormalizerSequence::new(norm))).map_err(backend)?;

    let mut dec: Vec<DecoderWrapper> =
        vec![Replace::new(SPACE_STR, " ").map_err(backend)?.into(), ByteFallback::new().into(), Fuse::new().into()];
    if add_space_prefix {
        dec.push(Strip::new(' ', 1, 0).into());
    }
    tk.with_decoder(Some(DecoderSequence::new(dec)));

    add_special_texts(&mut tk, vocab, skip, &[CONTROL, USER_DEFINED, UNKNOWN])?;
    Ok(tk)
}

/// Add the tokens of the given types as added tokens matched in raw text (not normalized);
/// those in `skip` are marked special, so that `decode` drops them.
pub(crate) fn add_special_texts(
    tk: &mut tokenizers::Tokenizer,
    vocab: &Vocab,
    skip: &[u32],
    types: &[i32],
) -> Result<(), TokenizeError> {
    let added = vocab
        .tokens
        .iter()
        .zip(&vocab.types)
        .enumerate()
        .filter(|(i, (_, ty))| types.contains(ty) || skip.contains(&(*i as u32)))
        .map(|(i, (t, _))| AddedToken::from(t.clone(), skip.contains(&(i as u32))).normalized(false));
    tk.add_tokens(added).map_err(backend)?;
    Ok(())
}
