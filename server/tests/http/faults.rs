//! Fault tests over real HTTP: each failure is a clear error with the right status, and the
//! gateway keeps serving other clients afterwards.


use std::time::{Duration, Instant};

use crate::common::*;

/// A healthy request through `front` still works.
fn still_serves(front: &str) {
    let (s, _, body) = post(&format!("{front}/v1/chat/completions"), &chat_body("What is 2+2?", 3, false), &[("authorization", "Bearer ok")]);
    assert_eq!(s, 200, "the gateway stopped serving: {body}");
}

fn error_kind(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("error body is not JSON: {body}"));
    v["error"]["type"].as_str().unwrap_or_default().to_string()
}

#[test]
fn upstream_down_is_503_and_failover_uses_the_next() {
    let dead = format!("http://127.0.0.1:{}/v1", dead_port());
    let only_dead = front(&[&dead], |_| {});
    let (s, hs, body) = post(&format!("{only_dead}/v1/chat/completions"), &chat_body("Hi", 3, true), &[]);
    assert_eq!(s, 503, "{body}");
    assert_eq!(error_kind(&body), "upstream_unavailable");
    assert!(body.contains("up0"), "names the upstream: {body}");
    assert!(header(&hs, "retry-after").is_some());

    let live = format!("{}/v1", backend());
    let failover = front(&[&dead, &live], |_| {});
    let (s, _, body) = post(&format!("{failover}/v1/chat/completions"), &chat_body("Hi", 3, true), &[]);
    assert_eq!(s, 200, "{body}");
    assert_eq!(sse_data(&body).last().map(String::as_str), Some("[DONE]"));
    let (_, _, m) = get(&format!("{failover}/metrics"), &[]);
    assert!(String::from_utf8(m).unwrap().contains("tutor_gateway_upstream_requests_total{upstream=\"up1\",outcome=\"ok\"} 1"));
}

#[test]
fn upstream_that_hangs_times_out_with_504() {
    let hang = format!("http://{}/v1", hanging_server());
    let live = format!("{}/v1", backend());
    let only_hang = front(&[&hang], |c| c.upstreams[0].first_byte_timeout_ms = 400);
    let t = Instant::now();
    let (s, _, body) = post(&format!("{only_hang}/v1/chat/completions"), &chat_body("Hi", 3, true), &[]);
    assert_eq!(s, 504, "{body}");
    assert_eq!(error_kind(&body), "upstream_timeout");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // With a live second upstream, the hang costs one timeout and the answer comes from it.
    let failover = front(&[&hang, &live], |c| c.upstreams[0].first_byte_timeout_ms = 400);
    still_serves(&failover);
}

#[test]
fn upstream_cut_mid_answer_ends_the_stream_with_an_error_event() {
    let b = addr_of(backend());
    // Enough bytes for the response head and a few chunks, not for the whole answer.
    let cut = format!("http://{}/v1", cutting_proxy(b, 1500));
    let cutting = front(&[&cut], |c| c.cache.enabled = false);
    let (s, _, body) = post(&format!("{cutting}/v1/chat/completions"), &chat_body("Tell me a long story about a dragon.", 48, true), &[]);
    assert_eq!(s, 200, "the stream had started: {body}");
    let data = sse_data(&body);
    assert_ne!(data.last().map(String::as_str), Some("[DONE]"), "{body}");
    let last: serde_json::Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["type"], "upstream_error", "{body}");
    assert!(last["error"]["message"].as_str().unwrap().contains("mid-answer"), "{body}");
    assert!(!sse_text(&body).is_empty(), "some text arrived before the cut");
    // Nothing half-finished was cached: the same question is a miss again.
    let (_, _, m) = get(&format!("{cutting}/metrics"), &[]);
    assert!(String::from_utf8(m).unwrap().contains("tutor_gateway_upstream_requests_total{upstream=\"up0\",outcome=\"error\"} 1"));
    let ok = front(&[&format!("{}/v1", backend())], |_| {});
    still_serves(&ok);
}

#[test]
fn malformed_upstream_json_is_502() {
    let bad_sse = raw_server(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: {\"choices\": [{\"delta\": {\"content\": \"Hel\r\n\r\n");
    let front_sse = front(&[&format!("http://{bad_sse}/v1")], |_| {});
    let (s, _, body) = post(&format!("{front_sse}/v1/chat/completions"), &chat_body("Hi", 3, true), &[]);
    assert_eq!(s, 502, "{body}");
    assert_eq!(error_kind(&body), "upstream_error");
    assert!(body.contains("malformed JSON"), "{body}");

    let bad_json = raw_server(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 12\r\nconnection: close\r\n\r\n{\"choices\":[");
    let front_json = front(&[&format!("http://{bad_json}/v1")], |_| {});
    let (s, _, body) = post(&format!("{front_json}/v1/chat/completions"), &chat_body("Hi", 3, false), &[]);
    assert_eq!(s, 502, "{body}");
    assert!(body.contains("malformed JSON"), "{body}");
    still_serves(&front(&[&format!("{}/v1", backend())], |_| {}));
}

#[test]
fn oversized_requests_are_refused() {
    let front = front(&[&format!("{}/v1", backend())], |c| {
        c.limits.max_body_bytes = 2048;
        c.limits.max_tokens = 64;
        c.limits.max_prompt_tokens = 200;
    });
    let url = format!("{front}/v1/chat/completions");
    let (s, _, body) = post(&url, &chat_body(&"word ".repeat(1000), 3, true), &[]);
    assert_eq!(s, 413, "{body}");
    assert_eq!(error_kind(&body), "request_too_large");
    let (s, _, body) = post(&url, &chat_body("Hi", 65, true), &[]);
    assert_eq!(s, 400, "{body}");
    assert_eq!(error_kind(&body), "max_tokens_exceeded");
    let (s, _, body) = post(&url, &chat_body(&"word ".repeat(300), 3, true), &[]);
    assert_eq!(s, 400, "{body}");
    assert_eq!(error_kind(&body), "context_length_exceeded");
    let (s, _, body) = post(&url, "{\"messages\": 3}", &[]);
    assert_eq!(s, 400, "{body}");
    assert_eq!(error_kind(&body), "invalid_request_error");
    // The embedded engine counts prompt tokens exactly.
    let (s, _, body) = post(&format!("{}/v1/chat/completions", backend()), &chat_body(&"photosynthesis ".repeat(2000), 3, true), &[]);
    assert_eq!(s, 400, "{body}");
    assert_eq!(error_kind(&body), "context_length_exceeded");
    still_serves(&front);
}

#[test]
fn client_tokens_are_checked() {
    std::env::set_var("TUTOR_GATEWAY_TEST_SECRET", "s3cret-for-tests");
    let front = front(&[&format!("{}/v1", backend())], |c| c.auth.secret_env = Some("TUTOR_GATEWAY_TEST_SECRET".into()));
    let url = format!("{front}/v1/chat/completions");
    let now = tutor_gateway::chat::now_s();
    let good = tutor_gateway::auth::sign(b"s3cret-for-tests", "school-1", now + 600).unwrap();
    let forged = tutor_gateway::auth::sign(b"wrong-secret", "school-1", now + 600).unwrap();
    let expired = tutor_gateway::auth::sign(b"s3cret-for-tests", "school-1", now - 1).unwrap();
    for (auth, what) in [(None, "missing"), (Some(forged), "forged"), (Some(expired), "expired"), (Some("garbage".to_string()), "garbage")] {
        let h = auth.map(|t| format!("Bearer {t}"));
        let hs: Vec<(&str, &str)> = h.iter().map(|v| ("authorization", v.as_str())).collect();
        let (s, _, body) = post(&url, &chat_body("Hi", 3, false), &hs);
        assert_eq!(s, 401, "{what}: {body}");
        assert_eq!(error_kind(&body), "invalid_client_token", "{what}");
    }
    let (s, _, body) = post(&url, &chat_body("Hi", 3, false), &[("authorization", &format!("Bearer {good}"))]);
    assert_eq!(s, 200, "{body}");
}

#[test]
fn rate_limit_per_client_and_others_keep_working() {
    std::env::set_var("TUTOR_GATEWAY_RATE_SECRET", "rate-secret");
    let front = front(&[&format!("{}/v1", backend())], |c| {
        c.auth.secret_env = Some("TUTOR_GATEWAY_RATE_SECRET".into());
        c.limits.requests_per_minute = 2;
    });
    let url = format!("{front}/v1/chat/completions");
    let now = tutor_gateway::chat::now_s();
    let a = format!("Bearer {}", tutor_gateway::auth::sign(b"rate-secret", "site-a", now + 600).unwrap());
    let b = format!("Bearer {}", tutor_gateway::auth::sign(b"rate-secret", "site-b", now + 600).unwrap());
    for _ in 0..2 {
        let (s, _, body) = post(&url, &chat_body("Hi", 2, false), &[("authorization", &a)]);
        assert_eq!(s, 200, "{body}");
    }
    let (s, hs, body) = post(&url, &chat_body("Hi", 2, false), &[("authorization", &a)]);
    assert_eq!(s, 429, "{body}");
    assert_eq!(error_kind(&body), "rate_limit_exceeded");
    let retry: u64 = header(&hs, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    let (s, _, body) = post(&url, &chat_body("Hi", 2, false), &[("authorization", &b)]);
    assert_eq!(s, 200, "another client is not limited: {body}");
    let (_, _, m) = get(&format!("{front}/metrics"), &[]);
    assert!(String::from_utf8(m).unwrap().contains("tutor_gateway_rejected_total{reason=\"rate\"} 1"));
}

#[test]
fn concurrent_stream_limit_per_client() {
    let front = front(&[&format!("{}/v1", backend())], |c| {
        c.limits.concurrent_streams = 1;
        c.cache.enabled = false;
    });
    let url = format!("{front}/v1/chat/completions");
    // Hold one stream open (read only its head), then a second from the same client is refused.
    let first = agent().post(&url).header("content-type", "application/json").send(chat_body("Count to fifty.", 40, true)).unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let (s, _, body) = post(&url, &chat_body("Hi", 2, false), &[]);
    assert_eq!(s, 429, "{body}");
    assert_eq!(error_kind(&body), "too_many_concurrent_requests");
    drop(first); // the client leaves: its slot frees once the gateway notices
    let t = Instant::now();
    loop {
        let (s, _, _) = post(&url, &chat_body("Hi", 2, false), &[]);
        if s == 200 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "the slot was never freed");
        std::thread::sleep(Duration::from_millis(200));
    }
}
