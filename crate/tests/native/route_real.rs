//! The router's signals from the real model (per-token stats on the chunk stream, prompt
//! perplexity from the prefill), the cascade driven by a real generation, and a CI-sized run
//! of `tutor eval` on a public-data fixture.

use crate::common;

use std::process::Command;

use tutor_runtime::load::shards::FileShards;
use tutor_runtime::route::cascade::{Availability, Cascade, Phase, Step};
use tutor_runtime::forward::model::PREFILL_CHUNK;
use tutor_runtime::route::policy::{frame, Reason, Route, RoutePolicy};
use tutor_runtime::route::signals::PromptStats;
use tutor_runtime::sample::{argmax, SamplingParams};
use tutor_runtime::stream::{Engine, GenerateParams};

fn engine() -> Engine {
    let mut src = FileShards::open(&[common::real_model_path()]).unwrap();
    Engine::load(&mut src, Some(1024)).unwrap()
}

fn greedy(n: usize) -> GenerateParams {
    GenerateParams { sampling: SamplingParams::greedy(), max_tokens: n, stop: vec![] }
}


/// sha256 of Gemma 3 270M Q4_K_M (models/fetch-model.sh checks the same).
const GEMMA_SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
#[test]
fn chunks_carry_token_confidence_and_prefill_measures_the_prompt() {
    let mut e = engine();
    let mut g = e.generate("The capital of France is", greedy(8)).unwrap().with_prompt_stats(16);
    assert!(g.prompt_stats().is_none());
    let mut n = 0;
    while let Some(c) = g.next(&mut e).unwrap() {
        if c.token.is_none() {
            assert!(c.stats.is_none());
            continue;
        }
        let s = c.stats.expect("every sampled token has stats");
        // Greedy picks the most likely token: its probability is the top-1 probability.
        assert!((s.logprob.exp() - s.top1).abs() < 1e-4, "{s:?}");
        assert!(s.top1 > 0.0 && s.top1 <= 1.0 && s.entropy >= 0.0 && s.entropy < 12.5, "{s:?}");
        n += 1;
    }
    assert_eq!(n, 8);
    let ps = *g.prompt_stats().unwrap();
    // The prompt is shorter than the tail: every token after BOS is scored.
    assert_eq!((ps.tokens, ps.scored), (g.prompt_tokens(), g.prompt_tokens() - 1));
    assert!(ps.mean_nll() > 0.5 && ps.mean_nll() < 12.0, "{ps:?}");

    // A natural sentence is far less surprising than a scramble of the same words.
    let nll = |e: &mut Engine, text: &str| {
        let mut g = e.generate(text, greedy(1)).unwrap().with_prompt_stats(12);
        g.next(e).unwrap();
        g.prompt_stats().unwrap().mean_nll()
    };
    let natural = nll(&mut e, "The cat sat on the mat and looked out of the window at the birds.");
    let scrambled = nll(&mut e, "Window birds the mat cat at sat of looked the on and out the the.");
    assert!(natural + 1.0 < scrambled, "natural {natural} vs scrambled {scrambled}");
}

#[test]
fn forward_tail_gives_the_last_rows_of_forward_all_and_scores_only_them() {
    let mut e = engine();
    let text = "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen. ".repeat(20);
    let ids = e.tokenizer.encode(&text, true).unwrap();
    assert!(ids.len() > PREFILL_CHUNK + 20, "the tail spans two prefill chunks: {}", ids.len());
    let vocab = e.model.config.vocab_size;
    let all = e.model.forward_all(&ids).unwrap();
    let n = ids.len();
    for k in [1, 17, n - PREFILL_CHUNK + 5] {
        e.reset();
        let tail = e.model.forward_tail(&ids, k).unwrap();
        assert_eq!(tail.len(), k * vocab, "k {k}");
        assert_eq!(e.model.pos(), n);
        let mut max_diff = 0.0f32;
        for (r, row) in tail.chunks(vocab).enumerate() {
            let want = &all[(n - k + r) * vocab..(n - k + r + 1) * vocab];
            // Same argmax; logits within the batched-kernel rounding bound (ARCHITECTURE.md).
            assert_eq!(argmax(row), argmax(want), "k {k} row {r}");
            max_diff = max_diff.max(row.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max));
        }
        assert!(max_diff < 1.5, "k {k}: {max_diff}");
    }
    // More rows than tokens: every row.
    e.reset();
    assert_eq!(e.model.forward_tail(&ids[..5], 16).unwrap().len(), 5 * vocab);

    // The generation's prompt stats score exactly the last `tail` tokens, from those rows.
    let mut g = e.generate(&text, greedy(1)).unwrap().with_prompt_stats(16);
    g.next(&mut e).unwrap();
    let ps = *g.prompt_stats().unwrap();
    let want = PromptStats::of_tail(&ids, &all[(n - 17) * vocab..], vocab);
    assert_eq!((ps.tokens, ps.scored), (n, 16));
    assert!((ps.mean_nll() - want.mean_nll()).abs() < 0.05, "{ps:?} vs {want:?}");
}

/// Drive the cascade from a real generation, as the browser worker does.
fn run_cascade(e: &mut Engine, policy: RoutePolicy, question: &str) -> (Cascade, usize, String) {
    let (prompt, tail) = (frame(&policy.framing, question), policy.prompt_tail);
    let question_tokens = e.tokenizer.encode(question, false).unwrap().len();
    let mut c = Cascade::new(policy, question, Some("en"));
    let d = c.start(Availability { model_ready: true, compute: true, server: true }).unwrap();
    assert_eq!(d.route, Route::Local);
    let mut g = e.generate(&prompt, greedy(24)).unwrap().with_prompt_stats(tail);
    let mut text = String::new();
    let mut tokens = 0;
    while let Some(chunk) = g.next(e).unwrap() {
        if c.phase() == Phase::Prefill {
            let d = c.after_prefill(PromptStats { question_tokens, ..*g.prompt_stats().unwrap() }).unwrap();
            if d.route == Route::Server {
                break;
            }
        }
        text += &chunk.text;
        if let Some(s) = chunk.stats {
            tokens += 1;
            if let Step::Escalate { .. } = c.on_token(s).unwrap() {
                g.abort_handle().abort();
                break;
            }
        }
    }
    (c, tokens, text)
}

#[test]
fn cascade_on_real_generation() {
    let mut e = engine();
    // The policy shipped for Gemma 3 270M (the model these tests run), by its file's sha256.
    let calibrated = RoutePolicy::calibrated_for_model(Some(GEMMA_SHA256)).unwrap();
    assert_eq!(calibrated.calibrated_for.as_ref().map(|c| c.model.as_str()), Some("gemma-3-270m-q4_k_m.gguf"));
    // A policy that demands more confidence than any answer has (the answer score is pinned at
    // σ(-10)): escalates at the first judged token.
    let mut strict = RoutePolicy { threshold_pre: 0.0, threshold_full: 0.5, min_tokens: 3, ..calibrated.clone() };
    strict.full.weights.iter_mut().for_each(|w| *w = 0.0);
    strict.full.bias = -10.0;
    let (c, tokens, text) = run_cascade(&mut e, strict, "What is the capital of France?");
    let d = c.decision().unwrap();
    assert_eq!(d.route, Route::Server);
    assert!(matches!(d.reason, Reason::ConfidenceCollapse { at_token: 3, .. }), "{d:?}");
    assert_eq!(tokens, 3);
    assert!(d.message.contains("after 3 tokens"), "{}", d.message);
    assert!(!text.is_empty(), "the student saw the local start of the answer");
    // A lenient one never escalates: the whole answer is local.
    let lenient = RoutePolicy { threshold_pre: 0.0, threshold_full: 0.0, ..calibrated.clone() };
    let (c, tokens, _) = run_cascade(&mut e, lenient, "What is the capital of France?");
    assert_eq!((c.decision().unwrap().route, c.phase(), tokens), (Route::Local, Phase::Local, 24));
    // A critical topic never reaches the model.
    let mut c = Cascade::new(calibrated, "What dose of paracetamol is safe for my child?", Some("en"));
    let d = c.start(Availability { model_ready: true, compute: true, server: true }).unwrap();
    assert_eq!((d.route, d.reason.code()), (Route::Server, "critical_topic"));
}

#[test]
fn eval_cli_smoke_on_the_fixture() {
    let model = common::real_model_path();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/eval/questions.jsonl");
    let out = std::env::temp_dir().join(format!("tutor-eval-{}", std::process::id()));
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_tutor")).args(args).output().unwrap();
        (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (ok, stdout, stderr) = run(&["eval", "--model", model.to_str().unwrap(), "--data", fixture, "--out", out.to_str().unwrap(), "--threads", "1", "--folds", "3"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("questions 15 | languages 8"), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let h = &report["headline"];
    let acc = h["local_model_accuracy"].as_f64().unwrap();
    assert!(acc > 0.0 && acc < 1.0, "{acc}");
    let share = h["local_share_at_max_loss"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&share));
    assert!(h["router_auroc"].as_f64().is_some_and(|a| (0.0..=1.0).contains(&a)), "{h}");
    assert_eq!(report["per_language"].as_array().unwrap().len(), 8);
    let scored = std::fs::read_to_string(out.join("scored.jsonl")).unwrap();
    assert_eq!(scored.lines().count(), 15);
    // Choice log-likelihoods are real: finite, negative, and the pick is their argmax.
    for l in scored.lines() {
        let s: serde_json::Value = serde_json::from_str(l).unwrap();
        let lps: Vec<f64> = s["choice_logprobs"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(lps.iter().all(|v| v.is_finite() && *v < 0.0), "{lps:?}");
        let best = lps.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(s["pick"].as_u64().unwrap() as usize, best);
        assert_eq!(s["correct"].as_bool().unwrap(), s["pick"] == s["answer"]);
    }
    let svg = std::fs::read_to_string(out.join("curve.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() == 4 && svg.trim_end().ends_with("</svg>"));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("local share at ≤ 2 points loss") && md.contains("| kn |"), "{md}");
    let policy = RoutePolicy::from_json(&std::fs::read_to_string(out.join("policy.json")).unwrap()).unwrap();
    // The policy names the file it was calibrated on: the real model's name and sha256.
    let named = policy.calibrated_for.clone().unwrap();
    assert_eq!(Some(named.model.as_str()), model.file_name().and_then(|n| n.to_str()));
    assert_eq!(policy.model_mismatch(&named.sha256), None);
    assert_eq!(named.sha256, GEMMA_SHA256, "TUTOR_MODEL is not the Gemma file whose policy the crate ships");
    // The report rebuilds from scored.jsonl alone, identically.
    let out2 = out.join("again");
    let (ok, _, stderr) = run(&["eval", "--scored", out.join("scored.jsonl").to_str().unwrap(), "--out", out2.to_str().unwrap(), "--folds", "3", "--model-name", "gemma-3-270m-q4_k_m.gguf"]);
    assert!(ok, "{stderr}");
    assert_eq!(std::fs::read_to_string(out2.join("report.json")).unwrap(), std::fs::read_to_string(out.join("report.json")).unwrap());
    // Bad input: typed errors, no panic.
    let (ok, _, stderr) = run(&["eval", "--model", model.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!ok && stderr.contains("--data"), "{stderr}");
    let bad = out.join("bad.jsonl");
    std::fs::write(&bad, "{\"id\": 1}\n").unwrap();
    let (ok, _, stderr) = run(&["eval", "--model", model.to_str().unwrap(), "--data", bad.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!ok && stderr.contains("bad.jsonl:1") && !stderr.contains("panicked"), "{stderr}");
    std::fs::remove_dir_all(&out).unwrap();
}
