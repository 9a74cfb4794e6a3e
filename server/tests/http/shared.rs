//! Two `tutor-gateway` processes sharing one real `redis-server` (127.0.0.1, a free port), in
//! front of the shared embedded backend: an answer cached by one is served by the other, a
//! client over its limits on one is limited on the other, and Redis dying mid-test leaves each
//! replica on its own memory with a warning and no failed request.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

const SECRET_VAR: &str = "TUTOR_GATEWAY_SHARED_SECRET";
const SECRET: &[u8] = b"shared-secret";

/// A child process killed on drop, its stderr collected.
struct Proc {
    child: std::process::Child,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (sink, mut pipe) = (stderr.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self { child, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ready() {
        assert!(t.elapsed() < Duration::from_secs(30), "{what} did not come up in 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `redis-server` on a free loopback port, nothing persisted.
fn redis_server() -> (Proc, u16) {
    let port = dead_port();
    let mut cmd = Command::new("redis-server");
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"]);
    let p = Proc::spawn(&mut cmd);
    wait_until("redis-server (apt-get install redis-server)", || {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
        let mut reply = [0u8; 7];
        std::io::Write::write_all(&mut s, b"PING\r\n").is_ok() && s.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    });
    (p, port)
}

/// A gateway process with these limits, in front of the embedded backend, sharing `redis_port`.
fn replica(redis_port: u16, per_minute: u32, streams: usize) -> (Proc, String) {
    let port = dead_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tutor-gateway"));
    cmd.env("TUTOR_GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("TUTOR_GATEWAY_UPSTREAMS", format!("{}/v1", backend()))
        .env("TUTOR_GATEWAY_REDIS_URL", format!("redis://127.0.0.1:{redis_port}"))
        .env("TUTOR_GATEWAY_SECRET_ENV", SECRET_VAR)
        .env(SECRET_VAR, std::str::from_utf8(SECRET).unwrap())
        .env("TUTOR_GATEWAY_REQUESTS_PER_MINUTE", per_minute.to_string())
        .env("TUTOR_GATEWAY_CONCURRENT_STREAMS", streams.to_string());
    let p = Proc::spawn(&mut cmd);
    let url = format!("http://127.0.0.1:{port}");
    wait_until("tutor-gateway", || agent().get(format!("{url}/healthz")).call().is_ok_and(|r| r.status() == 200));
    (p, url)
}

fn bearer(client: &str) -> String {
    format!("Bearer {}", tutor_gateway::auth::sign(SECRET, client, tutor_gateway::chat::now_s() + 600).unwrap())
}

/// POST a question as `client`; (status, x-tutor-cache, error type or answer text).
fn ask(gateway: &str, client: &str, question: &str) -> (u16, String, String) {
    let (s, hs, body) = post(&format!("{gateway}/v1/chat/completions"), &chat_body(question, 6, false), &[("authorization", &bearer(client))]);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    let said = v["choices"][0]["message"]["content"].as_str().or(v["error"]["type"].as_str()).unwrap_or_default().to_string();
    (s, header(&hs, "x-tutor-cache").unwrap_or_default().to_string(), said)
}

#[test]
fn two_replicas_share_cache_and_limits_through_redis_and_outlive_it() {
    let (mut redis, redis_port) = redis_server();
    let (a, a_url) = replica(redis_port, 3, 1);
    let (b, b_url) = replica(redis_port, 3, 1);
    let q = "What is two plus two?";

    // The answer cache: a miss on A, then a hit on B with the same answer.
    let (s, cache, answer) = ask(&a_url, "cache", q);
    assert_eq!((s, cache.as_str()), (200, "miss"), "{answer}");
    let (s, cache, again) = ask(&b_url, "cache", q);
    assert_eq!((s, cache.as_str(), &again), (200, "hit", &answer), "B serves the answer A cached");

    // Requests per minute (3): two on A and one on B use the client's minute on both.
    for url in [&a_url, &b_url, &a_url] {
        let (s, _, said) = ask(url, "rate", q);
        assert_eq!(s, 200, "{said}");
    }
    for url in [&b_url, &a_url] {
        let (s, _, said) = ask(url, "rate", q);
        assert_eq!((s, said.as_str()), (429, "rate_limit_exceeded"), "{url}");
    }
    assert_eq!(ask(&b_url, "someone-else", q).0, 200, "another client is not limited");

    // Streams in flight (1): a stream held open on A refuses the client's request on B.
    let held = agent()
        .post(format!("{a_url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .header("authorization", &bearer("streams"))
        .send(chat_body("Count to fifty.", 40, true))
        .unwrap();
    assert_eq!(held.status().as_u16(), 200);
    let (s, _, said) = ask(&b_url, "streams", q);
    assert_eq!((s, said.as_str()), (429, "too_many_concurrent_requests"));
    drop(held); // A notices the client left and frees the slot in Redis
    wait_until("the stream's slot to free", || ask(&b_url, "streams", q).0 == 200);

    // Redis dies: every request still succeeds, each replica on its own memory (limits
    // included: three requests a minute per replica now), and says so.
    redis.kill();
    for i in 0..2 {
        for url in [&a_url, &b_url] {
            let (s, _, said) = ask(url, "cache", &format!("{q} ({i})"));
            assert_eq!(s, 200, "{url} without Redis: {said}");
        }
    }
    let (s, cache, _) = ask(&a_url, "cache", &format!("{q} (0)"));
    assert_eq!((s, cache.as_str()), (200, "hit"), "A's own memory caches while Redis is down");
    for (name, p) in [("A", &a), ("B", &b)] {
        let log = p.stderr();
        assert!(log.contains(&format!("warning: redis 127.0.0.1:{redis_port} is unreachable")), "{name} did not warn:\n{log}");
        assert_eq!(log.matches("warning: redis").count(), 1, "{name} warns once per outage:\n{log}");
    }
}
