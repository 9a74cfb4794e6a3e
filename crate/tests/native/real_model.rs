//! The real Gemma 3 270M Q4_K_M: greedy continuations against llama.cpp's reference ids.

use crate::common;

use tutor_runtime::forward::model::Model;
use tutor_runtime::load::gguf::Gguf;
use tutor_runtime::load::shards::FileShards;
use tutor_runtime::sample::argmax;

fn load() -> Model {
    let path = common::real_model_path();
    let mut src = FileShards::open(&[path]).unwrap();
    let g = Gguf::read(&mut src).unwrap();
    Model::load(&g, &mut src, Some(512)).unwrap()
}

#[test]
fn first_ten_greedy_tokens_match_llama_cpp() {
    let mut model = load();
    let mut report = Vec::new();
    for (prompt, prompt_ids, want) in common::greedy_references() {
        model.reset();
        let mut logits = model.forward(&prompt_ids).unwrap();
        let mut got = Vec::new();
        for _ in 0..want.len() {
            let t = argmax(&logits);
            got.push(t);
            logits = model.forward(&[t]).unwrap();
        }
        let same = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
        report.push(format!("{prompt:?}: {same}/{} leading tokens match", want.len()));
        assert_eq!(&got[..10], &want[..10], "prompt {prompt:?}");
    }
    eprintln!("{}", report.join("\n"));
}

/// Prefill (one batched call) and decode (token by token) sum every product in the same order
/// (`cpu::matmul` hands candle a single Q6_K row as a pair, see there), so the logits are the
/// same bits.
#[test]
fn prefill_in_one_call_equals_token_by_token() {
    let mut model = load();
    for (prompt, ids, _) in common::greedy_references() {
        model.reset();
        let all = model.forward_all(&ids).unwrap();
        let vocab = model.config.vocab_size;
        model.reset();
        for (i, &t) in ids.iter().enumerate() {
            let one = model.forward(&[t]).unwrap();
            let row = &all[i * vocab..(i + 1) * vocab];
            let differ = one.iter().zip(row).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
            assert_eq!(differ, 0, "{prompt:?} position {i}: {differ} logits differ between prefill and decode");
        }
    }
}

/// The SentencePiece path against llama-server's ids for a varied string set
/// (tests/reference/gemma3/tokenize.json: code, whitespace runs, emoji, Hindi, Chinese, turns).
#[test]
fn token_ids_equal_llama_cpp() {
    let mut src = FileShards::open(&[common::real_model_path()]).unwrap();
    let tok = tutor_runtime::tokenize::Tokenizer::from_gguf(&Gguf::read(&mut src).unwrap()).unwrap();
    let text = std::fs::read_to_string(common::reference_path("gemma3/tokenize.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 12);
    for c in cases {
        let s = c["text"].as_str().unwrap();
        let want: Vec<u32> = c["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        assert_eq!(tok.encode(s, tok.add_bos()).unwrap(), want, "{s:?}");
    }
}

#[test]
fn context_limit_is_a_clear_error() {
    let mut model = load();
    let too_long = vec![2u32; 513];
    let err = model.forward(&too_long).unwrap_err();
    assert!(err.to_string().contains("context is full"), "{err}");
    assert_eq!(model.pos(), 0, "a rejected prompt leaves the cache untouched");
    let err = model.forward(&[300_000]).unwrap_err();
    assert!(err.to_string().contains("outside the vocabulary"), "{err}");
}

