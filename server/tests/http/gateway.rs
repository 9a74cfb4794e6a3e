//! The gateway over real HTTP on 127.0.0.1: the embedded real model, a second gateway in front
//! of it as an OpenAI-compatible upstream (streaming and whole answers), the answer cache,
//! models/health/metrics, CORS, and static files.


use crate::common::*;

#[test]
fn embedded_streams_openai_sse_like_llama_server() {
    let (status, hs, body) = post(&format!("{}/v1/chat/completions", backend()), &chat_body("What is the capital of France?", 8, true), &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&hs, "content-type"), Some("text/event-stream"));
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<serde_json::Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    // llama.cpp's shape: a role chunk, content chunks, a finish chunk with an empty delta.
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    let text = sse_text(&body);
    // SmolLM2-135M-Instruct under its own chat template, greedy: llama-server 0.3.36 (--jinja,
    // same GGUF, temperature 0, max_tokens 8) answers exactly this.
    assert_eq!(text, "L'Étoile, la Mar");
    assert_eq!(chunks.len(), 1 + 8 + 1 - chunks.iter().filter(|c| c["choices"][0]["delta"]["content"] == "").count());
}

#[test]
fn embedded_renders_the_conversation_with_the_models_template() {
    // System + a finished turn + a question: SmolLM2's ChatML template, as llama-server renders
    // and tokenizes it (46 prompt tokens), answers "Paris" and stops at its end-of-turn token.
    let body = serde_json::json!({
        "messages": [
            { "role": "system", "content": "You are a patient tutor." },
            { "role": "user", "content": "What is 2+2?" },
            { "role": "assistant", "content": "4" },
            { "role": "user", "content": "What is the capital of France?" },
        ],
        "max_tokens": 8, "temperature": 0,
    });
    let (s, _, whole) = post(&format!("{}/v1/chat/completions", backend()), &body.to_string(), &[]);
    assert_eq!(s, 200, "{whole}");
    let v: serde_json::Value = serde_json::from_str(&whole).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "Paris");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 46);
    assert_eq!(v["usage"]["completion_tokens"], 2);
}

#[test]
fn through_a_gateway_to_a_real_upstream_streaming_and_whole() {
    let front = front(&[&format!("{}/v1", backend())], |c| {
        c.upstreams[0].price_in_per_mtok = 1_000.0;
        c.upstreams[0].price_out_per_mtok = 2_000.0;
        c.cache.enabled = false;
    });
    let q = "Explain photosynthesis in one sentence.";
    let (s1, hs1, streamed) = post(&format!("{front}/v1/chat/completions"), &chat_body(q, 12, true), &[]);
    assert_eq!(s1, 200, "{streamed}");
    assert_eq!(header(&hs1, "content-type"), Some("text/event-stream"));
    assert_eq!(sse_data(&streamed).last().map(String::as_str), Some("[DONE]"));
    let (s2, _, whole) = post(&format!("{front}/v1/chat/completions"), &chat_body(q, 12, false), &[]);
    assert_eq!(s2, 200, "{whole}");
    let v: serde_json::Value = serde_json::from_str(&whole).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["usage"]["completion_tokens"], 12);
    // Greedy: the same words either way, and the same as asking the upstream directly.
    let direct: serde_json::Value = serde_json::from_str(&post(&format!("{}/v1/chat/completions", backend()), &chat_body(q, 12, false), &[]).2).unwrap();
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!text.is_empty());
    assert_eq!(sse_text(&streamed), text);
    assert_eq!(direct["choices"][0]["message"]["content"], text);

    // Accounting: exact token counts from the upstream's usage (stream_options.include_usage),
    // priced per upstream.
    let (_, _, m) = get(&format!("{front}/metrics"), &[]);
    let m = String::from_utf8(m).unwrap();
    let p = v["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(m.contains(&format!("tutor_gateway_tokens_total{{upstream=\"up0\",direction=\"in\"}} {}\n", 2 * p)), "{m}");
    assert!(m.contains("tutor_gateway_tokens_total{upstream=\"up0\",direction=\"out\"} 24\n"), "{m}");
    let cost = (2 * p) as f64 * 1_000.0 / 1e6 + 24.0 * 2_000.0 / 1e6;
    let line = m.lines().find(|l| l.starts_with("tutor_gateway_cost_usd_total{upstream=\"up0\"}")).unwrap();
    let got: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((got - cost).abs() < 1e-9, "{got} vs {cost}");
    assert!(m.contains("tutor_gateway_ttfb_seconds_count 2\n"));
}

#[test]
fn repeated_questions_come_from_the_cache() {
    let front = front(&[&format!("{}/v1", backend())], |_| {});
    let url = format!("{front}/v1/chat/completions");
    let (_, h1, a) = post(&url, &chat_body("Why is the sky blue?", 10, true), &[]);
    let (_, h2, b) = post(&url, &chat_body("  why is the SKY   blue? ", 10, true), &[]);
    let (_, h3, c) = post(&url, &chat_body("why is the sky blue?", 10, false), &[]);
    assert_eq!(header(&h1, "x-tutor-cache"), Some("miss"));
    assert_eq!(header(&h2, "x-tutor-cache"), Some("hit"));
    assert_eq!(header(&h3, "x-tutor-cache"), Some("hit"));
    assert_eq!(sse_text(&a), sse_text(&b));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&c).unwrap()["choices"][0]["message"]["content"], sse_text(&a));
    // Different settings are a different answer.
    let (_, h4, _) = post(&url, &chat_body("Why is the sky blue?", 11, true), &[]);
    assert_eq!(header(&h4, "x-tutor-cache"), Some("miss"));
    let (_, _, m) = get(&format!("{front}/metrics"), &[]);
    let m = String::from_utf8(m).unwrap();
    assert!(m.contains("tutor_gateway_cache_total{result=\"hit\"} 2\n") && m.contains("tutor_gateway_cache_total{result=\"miss\"} 2\n"), "{m}");
}

#[test]
fn models_health_and_metrics() {
    let b = backend();
    let (s, _, body) = get(&format!("{b}/v1/models"), &[]);
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["data"][0]["id"], "smollm2-135m-instruct");
    let (s, _, body) = get(&format!("{b}/healthz"), &[]);
    assert_eq!(s, 200);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["status"], "ok");
    let (s, hs, body) = get(&format!("{b}/metrics"), &[]);
    assert_eq!(s, 200);
    assert!(header(&hs, "content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(body).unwrap();
    for name in ["tutor_gateway_requests_total", "tutor_gateway_tokens_total", "tutor_gateway_ttfb_seconds", "tutor_gateway_active_streams"] {
        assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing:\n{text}");
    }
}

#[test]
fn cors_allowlist() {
    let front = front(&[&format!("{}/v1", backend())], |c| c.cors.allowed_origins = vec!["https://school.example".into()]);
    let url = format!("{front}/v1/chat/completions");
    let (s, hs, _) = post(&url, &chat_body("Hi", 2, false), &[("origin", "https://school.example")]);
    assert_eq!(s, 200);
    assert_eq!(header(&hs, "access-control-allow-origin"), Some("https://school.example"));
    let (s, _, body) = post(&url, &chat_body("Hi", 2, false), &[("origin", "https://evil.example")]);
    assert_eq!(s, 403);
    assert!(body.contains("origin_not_allowed"));
    let pre = agent()
        .options(&url)
        .header("origin", "https://school.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .call()
        .unwrap();
    assert_eq!(pre.status().as_u16(), 204);
    let allow = pre.headers().get("access-control-allow-headers").unwrap().to_str().unwrap();
    assert!(allow.contains("authorization"));
}

#[test]
fn static_files_with_range_etag_and_isolation_headers() {
    let dir = std::env::temp_dir().join(format!("tutor-gateway-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>demo</title>").unwrap();
    let shard: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("models/part0.gguf"), &shard).unwrap();
    let front = front(&[&format!("{}/v1", backend())], |c| c.static_files.dir = Some(dir.clone()));

    let (s, hs, body) = get(&format!("{front}/"), &[]);
    assert_eq!(s, 200);
    assert!(String::from_utf8(body).unwrap().contains("demo"));
    assert_eq!(header(&hs, "content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(header(&hs, "cross-origin-opener-policy"), Some("same-origin"));
    assert_eq!(header(&hs, "cross-origin-embedder-policy"), Some("require-corp"));
    assert_eq!(header(&hs, "cache-control"), Some("no-cache"));

    let url = format!("{front}/models/part0.gguf");
    let (s, hs, body) = get(&url, &[]);
    assert_eq!(s, 200);
    assert_eq!(body, shard);
    assert_eq!(header(&hs, "cache-control"), Some("public, max-age=31536000, immutable"));
    assert_eq!(header(&hs, "accept-ranges"), Some("bytes"));
    let etag = header(&hs, "etag").unwrap().to_string();
    let (s, _, body) = get(&url, &[("if-none-match", &etag)]);
    assert_eq!((s, body.len()), (304, 0));
    let (s, hs, body) = get(&url, &[("range", "bytes=1000-1999")]);
    assert_eq!(s, 206);
    assert_eq!(header(&hs, "content-range"), Some("bytes 1000-1999/100000"));
    assert_eq!(body, &shard[1000..2000]);
    let (s, _, body) = get(&url, &[("range", "bytes=-10")]);
    assert_eq!((s, body.as_slice()), (206, &shard[99_990..]));
    let (s, hs, _) = get(&url, &[("range", "bytes=100000-")]);
    assert_eq!(s, 416);
    assert_eq!(header(&hs, "content-range"), Some("bytes */100000"));
    let (s, _, _) = get(&format!("{front}/models/../../etc/passwd"), &[]);
    assert_eq!(s, 404);
    let (s, _, _) = get(&format!("{front}/models/%2e%2e/%2e%2e/etc/passwd"), &[]);
    assert_eq!(s, 404);
    std::fs::remove_dir_all(&dir).ok();
}
