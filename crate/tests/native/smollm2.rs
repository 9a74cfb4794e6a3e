//! The real SmolLM2-135M-Instruct Q4_1 (the tutor's default model) against llama.cpp
//! (tests/reference/smollm2/, written by scripts/reference/llama-reference.py): the GPT-2 BPE
//! tokenizer's ids, the chat template's rendering and the first greedy tokens of chat-templated
//! questions; and conversations that reuse the KV cache.

use crate::common;

use serde_json::Value;
use tutor_runtime::load::shards::FileShards;
use tutor_runtime::stream::{Engine, GenerateParams};
use tutor_runtime::template::Message;

fn engine(ctx: usize) -> Engine {
    let mut src = FileShards::open(&[common::smollm2_path()]).unwrap();
    Engine::load(&mut src, Some(ctx)).unwrap()
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(common::reference_path(&format!("smollm2/{name}"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn messages(v: &Value) -> Vec<Message> {
    v.as_array().unwrap().iter().map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap())).collect()
}

fn greedy(n: usize) -> GenerateParams {
    GenerateParams { max_tokens: n, ..Default::default() }
}

/// Runs a generation to its end; the generated ids.
fn answer(e: &mut Engine, g: &mut tutor_runtime::stream::Generation) -> (Vec<u32>, String) {
    let (mut ids, mut text) = (Vec::new(), String::new());
    while let Some(c) = g.next(e).unwrap() {
        ids.extend(c.token);
        text.push_str(&c.text);
    }
    (ids, text)
}

#[test]
fn token_ids_equal_llama_cpp() {
    let e = engine(512);
    let cases = fixture("tokenize.json");
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 12);
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let got = e.tokenizer.encode(text, e.tokenizer.add_bos()).unwrap();
        assert_eq!(got, ids(&c["ids"]), "{text:?}");
    }
}

/// The rendered prompt and its ids must be llama.cpp's exactly. Greedy tokens follow llama.cpp's
/// until the first near-tie: the CPU's Q4_1 dot products (candle's) do not sum in ggml's order
/// (issue 17 replaces them), so a question whose top-2 logits are close may part earlier; at
/// least 6 of the 8 must agree on their first 10 tokens, and each result is printed.
#[test]
fn chat_prompt_and_first_ten_greedy_tokens_equal_llama_cpp() {
    let mut e = engine(1024);
    let cases = fixture("greedy.json");
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    let mut report = Vec::new();
    let mut agree = 0;
    for c in cases {
        let msgs = messages(&c["messages"]);
        assert_eq!(e.template.render(&msgs, true).unwrap(), c["prompt"].as_str().unwrap());
        assert_eq!(e.encode_chat(&msgs).unwrap(), ids(&c["prompt_ids"]), "{msgs:?}");
        let want = ids(&c["gen_ids"]);
        e.reset();
        let mut g = e.chat(&msgs, greedy(want.len())).unwrap();
        let (got, _) = answer(&mut e, &mut g);
        let same = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
        let n = want.len().min(10);
        agree += usize::from(same >= n);
        report.push(format!("{:?}: {same}/{} leading tokens match", msgs[0].content, want.len()));
    }
    eprintln!("{}", report.join("\n"));
    assert!(agree >= 6, "only {agree} of {} questions follow llama.cpp for 10 tokens:\n{}", cases.len(), report.join("\n"));
}

/// Turn 2 prefills only what turn 1 did not leave in the KV cache, and answers exactly as a
/// fresh engine prefilling the whole conversation does.
#[test]
fn a_follow_up_reuses_the_cache_and_answers_as_a_full_prefill_does() {
    let mut e = engine(1024);
    let mut convo = vec![Message::new("user", "What is photosynthesis?")];
    let mut g = e.chat(&convo, greedy(24)).unwrap();
    assert_eq!(g.cached_tokens(), 0);
    let (_, first) = answer(&mut e, &mut g);
    convo.push(Message::new("assistant", first.trim()));
    convo.push(Message::new("user", "Why do plants need it?"));

    let mut g = e.chat(&convo, greedy(16)).unwrap();
    let cached = g.cached_tokens();
    let whole = g.prompt_tokens();
    assert!(cached > 20 && cached < whole, "cached {cached} of {whole}");
    let (reused, _) = answer(&mut e, &mut g);

    e.reset();
    let mut g = e.chat(&convo, greedy(16)).unwrap();
    assert_eq!(g.cached_tokens(), 0);
    let (fresh, _) = answer(&mut e, &mut g);
    assert_eq!(reused, fresh, "reused-cache answer differs from a full prefill");

    // A changed history keeps only the common prefix.
    convo[0].content = "What is respiration?".into();
    let g = e.chat(&convo, greedy(4)).unwrap();
    assert!(g.cached_tokens() < cached / 2, "cached {} after the first turn changed", g.cached_tokens());
}

#[test]
fn a_full_context_drops_the_oldest_turns_not_the_question() {
    let mut e = engine(160);
    let mut convo = vec![Message::new("system", "You are a tutor.")];
    for i in 0..12 {
        convo.push(Message::new("user", &format!("Question number {i}: what is {i} plus {i}?")));
        convo.push(Message::new("assistant", &format!("{i} plus {i} is {}.", 2 * i)));
    }
    convo.push(Message::new("user", "And what is 7 times 6?"));
    let mut g = e.chat(&convo, greedy(8)).unwrap();
    assert!(g.dropped_messages() > 0);
    assert!(g.prompt_tokens() + 8 <= 160);
    let prompt = e.tokenizer.decode(&g.tokens()[..g.prompt_tokens()]).unwrap();
    assert!(prompt.contains("You are a tutor.") && prompt.contains("7 times 6"), "{prompt}");
    assert!(!prompt.contains("Question number 0"), "{prompt}");
    let (ids, _) = answer(&mut e, &mut g);
    assert!(!ids.is_empty());
}
