//! The runtime's escalation client (`tutor_runtime::escalate`, native ureq transport) against
//! real gateways on 127.0.0.1: the answer arrives as the same `Chunk`s as local generation, and
//! every failure is a typed `EscalateError`.


use std::time::{Duration, Instant};

use crate::common::*;
use tutor_runtime::escalate::native::UreqTransport;
use tutor_runtime::escalate::{Backoff, ChatMessage, ChatRequest, ClientConfig, EscalateError, EscalationClient, Timeouts};
use tutor_runtime::stream::{AbortHandle, Chunk, ChunkSource, FinishReason};

fn client(base: &str, backoff: Backoff, timeouts: Timeouts) -> EscalationClient<UreqTransport> {
    let mut cfg = ClientConfig::new(base);
    cfg.backoff = backoff;
    EscalationClient::new(UreqTransport::new(timeouts), cfg)
}

fn request(q: &str, max_tokens: u32) -> ChatRequest {
    let mut r = ChatRequest::new(vec![ChatMessage::user(q)], max_tokens);
    r.temperature = Some(0.0);
    r
}

fn drain(e: &mut tutor_runtime::escalate::Escalation) -> Result<Vec<Chunk>, EscalateError> {
    let mut out = Vec::new();
    while let Some(c) = e.next()? {
        out.push(c);
    }
    Ok(out)
}

#[test]
fn streams_the_gateway_answer_as_chunks() {
    let mut c = client(backend(), Backoff::default(), Timeouts::default());
    let mut e = c.start(&request("What is the capital of France?", 10), AbortHandle::default()).unwrap();
    let chunks = drain(&mut e).unwrap();
    let text: String = chunks.iter().map(|c| c.text.as_str()).collect();
    // The embedded SmolLM2's greedy answer, as llama-server gives it (gateway.rs checks 8 tokens).
    assert!(text.starts_with("L'Étoile, la Mar"), "{text:?}");
    assert!(chunks.iter().all(|c| c.source == ChunkSource::Escalated && c.token.is_none()));
    let last = chunks.last().unwrap();
    assert_eq!(last.finish, Some(FinishReason::Length));
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c.finish.is_none()));
    assert_eq!(e.next().unwrap(), None, "finished streams stay finished");
    // Same text as the whole (non-streamed) answer from the gateway.
    let (_, _, whole) = post(&format!("{}/v1/chat/completions", backend()), &chat_body("What is the capital of France?", 10, false), &[]);
    let v: serde_json::Value = serde_json::from_str(&whole).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], text);
}

#[test]
fn unreachable_gateway_is_a_typed_error_after_retries_with_backoff() {
    let base = format!("http://127.0.0.1:{}", dead_port());
    let backoff = Backoff { max_retries: 3, initial: Duration::from_millis(100), max: Duration::from_secs(1), multiplier: 2.0, jitter: 0.0 };
    let mut c = client(&base, backoff, Timeouts::default());
    let t = Instant::now();
    let err = c.start(&request("Hi", 3), AbortHandle::default()).err().unwrap();
    let took = t.elapsed();
    match &err {
        EscalateError::Unreachable { attempts, url, .. } => {
            assert_eq!(*attempts, 4);
            assert!(url.ends_with("/v1/chat/completions"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.kind(), "unreachable");
    // 100 + 200 + 400 ms of backoff between the four attempts.
    assert!(took >= Duration::from_millis(700) && took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn gateway_errors_are_typed_statuses() {
    let dead = format!("http://127.0.0.1:{}/v1", dead_port());
    let front = front(&[&dead], |_| {});
    let no_retry = Backoff { max_retries: 0, ..Backoff::default() };
    let mut c = client(&front, no_retry.clone(), Timeouts::default());
    match c.start(&request("Hi", 3), AbortHandle::default()).err().unwrap() {
        EscalateError::Status { status: 503, kind, retry_after_s, .. } => {
            assert_eq!(kind, "upstream_unavailable");
            assert_eq!(retry_after_s, Some(1));
        }
        other => panic!("{other:?}"),
    }
    let mut c = client(backend(), no_retry, Timeouts::default());
    match c.start(&request("Hi", 100_000), AbortHandle::default()).err().unwrap() {
        EscalateError::Status { status: 400, kind, .. } => assert_eq!(kind, "max_tokens_exceeded"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_gateway_that_hangs_times_out() {
    let base = format!("http://{}", hanging_server());
    let t = Timeouts { connect: Duration::from_secs(1), response: Duration::from_millis(500), idle: Duration::from_millis(500) };
    let mut c = client(&base, Backoff { max_retries: 0, ..Backoff::default() }, t);
    let start = Instant::now();
    match c.start(&request("Hi", 3), AbortHandle::default()).err().unwrap() {
        EscalateError::Timeout { after, .. } => assert_eq!(after, Duration::from_millis(500)),
        other => panic!("{other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_stream_cut_mid_answer_is_an_error_not_a_short_answer() {
    // Straight at the embedded gateway through a proxy that cuts its response.
    let cut = cutting_proxy(addr_of(backend()), 1200);
    let mut c = client(&format!("http://{cut}"), Backoff::default(), Timeouts::default());
    let mut e = c.start(&request("Tell me a long story about a dragon.", 48), AbortHandle::default()).unwrap();
    let mut text = String::new();
    let err = loop {
        match e.next() {
            Ok(Some(ch)) => {
                assert!(ch.finish.is_none(), "must not look finished: {ch:?}");
                text.push_str(&ch.text);
            }
            Ok(None) => panic!("ended without an error"),
            Err(err) => break err,
        }
    };
    assert!(matches!(err, EscalateError::Truncated { .. } | EscalateError::ConnectionLost { .. }), "{err:?}");
    assert!(!text.is_empty());
    // Through a gateway, the same cut arrives as the gateway's error event.
    let front = front(&[&format!("http://{}/v1", cutting_proxy(addr_of(backend()), 1500))], |c| c.cache.enabled = false);
    let mut c = client(&front, Backoff::default(), Timeouts::default());
    let mut e = c.start(&request("Tell me a long story about a dragon.", 48), AbortHandle::default()).unwrap();
    match drain(&mut e) {
        Err(EscalateError::Upstream { kind, message }) => {
            assert_eq!(kind, "upstream_error");
            assert!(message.contains("mid-answer"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn abort_stops_the_answer() {
    let mut c = client(backend(), Backoff::default(), Timeouts::default());
    let abort = AbortHandle::default();
    let mut e = c.start(&request("Count from one to one hundred.", 64), abort.clone()).unwrap();
    let first = e.next().unwrap().unwrap();
    assert!(first.finish.is_none());
    abort.abort();
    let last = e.next().unwrap().unwrap();
    assert_eq!(last.finish, Some(FinishReason::Aborted));
    assert_eq!(e.next().unwrap(), None);
}

/// `tests/reference/escalate/`: a real llama-server stream and what both escalation clients
/// (this one and the browser's, `web/test/web.test.mjs`) must read from it.
fn shared_fixture() -> (String, serde_json::Value) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/reference/escalate");
    let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(format!("{dir}/cases.json")).unwrap()).unwrap();
    let transcript = std::fs::read_to_string(format!("{dir}/{}", cases["transcript"].as_str().unwrap())).unwrap();
    (transcript, cases)
}

/// An HTTP server answering every request with `events` as an SSE body, then closing.
fn sse_server(events: &str) -> String {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    format!("http://{}", raw_server(Box::leak(format!("{head}{events}").into_bytes().into_boxed_slice())))
}

#[test]
fn shared_fixture_read_whole_and_cut_as_the_browser_client_reads_it() {
    let (transcript, cases) = shared_fixture();
    let mut c = client(&sse_server(&transcript), Backoff::default(), Timeouts::default());
    let chunks = drain(&mut c.start(&request("What is the capital of France?", 32), AbortHandle::default()).unwrap()).unwrap();
    let text: String = chunks.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(text, cases["text"].as_str().unwrap());
    assert_eq!(chunks.last().and_then(|c| c.finish), Some(FinishReason::Length));
    assert_eq!(cases["finish_reason"], "length");

    // Cut after the role event and five content events: that text, then a truncation error.
    let events: Vec<&str> = transcript.split_inclusive("\n\n").collect();
    let cut = events[..cases["cut_after_events"].as_u64().unwrap() as usize].concat();
    let mut c = client(&sse_server(&cut), Backoff::default(), Timeouts::default());
    let mut e = c.start(&request("What is the capital of France?", 32), AbortHandle::default()).unwrap();
    let mut got = String::new();
    let err = loop {
        match e.next() {
            Ok(Some(chunk)) => {
                assert_eq!(chunk.finish, None, "no chunk claims the answer finished");
                got.push_str(&chunk.text);
            }
            Ok(None) => panic!("a cut stream ended like an answer: {got:?}"),
            Err(err) => break err,
        }
    };
    assert_eq!(got, cases["cut_text"].as_str().unwrap());
    assert!(matches!(err, EscalateError::Truncated { received_chars } if received_chars == got.chars().count()), "{err:?}");
}
