//! Shared helpers of the gateway's integration tests: real gateways on 127.0.0.1 ephemeral
//! ports, the real model as the embedded upstream, and small misbehaving TCP servers for the
//! fault tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use tutor_gateway::config::{Config, UpstreamConfig};

/// The embedded model: SmolLM2-135M-Instruct Q4_1, the gateway's default (the tests check its
/// chat answers against llama-server's): `$TUTOR_CHAT_MODEL`, else `models/cache/` in the
/// workspace. (`$TUTOR_MODEL` is Gemma 3 270M, the crate's exactness reference, not used here.)
pub fn real_model_path() -> PathBuf {
    let p = std::env::var_os("TUTOR_CHAT_MODEL").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/cache/smollm2-135m-instruct-q4_1.gguf"))
    });
    assert!(p.exists(), "real model not found at {} — run models/fetch-model.sh", p.display());
    p
}

/// A config for a gateway on an ephemeral loopback port, quiet limits that tests don't hit.
pub fn base_config() -> Config {
    let mut c = Config::default();
    c.listen = "127.0.0.1:0".into();
    c.embedded.model = vec![real_model_path()];
    c.embedded.max_context = 512;
    c.limits.requests_per_minute = 100_000;
    c.limits.concurrent_streams = 64;
    c
}

pub fn upstream(name: &str, url: &str) -> UpstreamConfig {
    UpstreamConfig {
        name: name.into(),
        url: url.into(),
        connect_timeout_ms: 1_000,
        first_byte_timeout_ms: 60_000,
        idle_timeout_ms: 20_000,
        ..UpstreamConfig::default()
    }
}

/// Run a gateway on its own runtime thread for the rest of the test process.
pub fn spawn_gateway(cfg: Config) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let running = tutor_gateway::start(cfg, true).await.unwrap();
            tx.send(running.url()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

/// One embedded-model gateway per test process (the real model, answer cache off), used as
/// the upstream of the gateways under test.
pub fn backend() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let mut c = base_config();
        c.cache.enabled = false;
        spawn_gateway(c)
    })
}

/// A gateway in front of `upstreams` (base URLs ending in /v1).
pub fn front(upstreams: &[&str], tweak: impl FnOnce(&mut Config)) -> String {
    let mut c = base_config();
    c.upstreams = upstreams.iter().enumerate().map(|(i, u)| upstream(&format!("up{i}"), u)).collect();
    tweak(&mut c);
    spawn_gateway(c)
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// POST JSON; returns (status, headers as lowercase name -> value, body text).
pub fn post(url: &str, body: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, String) {
    let mut r = agent().post(url).header("content-type", "application/json");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send(body).unwrap();
    let status = resp.status().as_u16();
    let hs = resp.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let text = resp.into_body().read_to_string().unwrap_or_default();
    (status, hs, text)
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut r = agent().get(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.call().unwrap();
    let status = resp.status().as_u16();
    let hs = resp.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let body = resp.into_body().with_config().limit(1 << 30).read_to_vec().unwrap_or_default();
    (status, hs, body)
}

pub fn header<'a>(hs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    hs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub fn chat_body(question: &str, max_tokens: u32, stream: bool) -> String {
    serde_json::json!({
        "messages": [{ "role": "user", "content": question }],
        "max_tokens": max_tokens, "temperature": 0, "stream": stream,
    })
    .to_string()
}

/// The `data:` payloads of an SSE body.
pub fn sse_data(body: &str) -> Vec<String> {
    let mut p = tutor_runtime::escalate::sse::SseParser::default();
    p.push(body.as_bytes());
    std::iter::from_fn(|| p.next_event()).map(|e| e.unwrap().data).collect()
}

/// The answer text of an SSE body.
pub fn sse_text(body: &str) -> String {
    sse_data(body)
        .iter()
        .filter(|d| d.as_str() != "[DONE]")
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(String::from))
        .collect()
}

/// A port nothing listens on.
pub fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A TCP server that accepts connections, reads the request and then stays silent.
pub fn hanging_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s); // keep it open, say nothing
        }
    });
    addr
}

fn read_request(s: &mut TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    // Headers, then Content-Length bytes of body.
    loop {
        let Ok(n) = s.read(&mut tmp) else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                match s.read(&mut tmp) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
            return;
        }
    }
}

/// An HTTP server that answers every request with `response` (raw bytes) and closes.
pub fn raw_server(response: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            read_request(&mut s);
            let _ = s.write_all(response);
            let _ = s.flush();
        }
    });
    addr
}

/// A TCP proxy to `target` that passes the request through but cuts the response after
/// `limit` bytes (the connection then closes): an upstream dying mid-answer.
pub fn cutting_proxy(target: SocketAddr, limit: usize) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in l.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(upstream) = TcpStream::connect(target) else { return };
                let (mut c_read, mut u_write) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut u_write);
                });
                let (mut u_read, mut c_write) = (upstream, client);
                let mut sent = 0;
                let mut buf = [0u8; 1024];
                while sent < limit {
                    let Ok(n) = u_read.read(&mut buf) else { break };
                    if n == 0 {
                        break;
                    }
                    let n = n.min(limit - sent);
                    if c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n;
                }
                let _ = c_write.shutdown(std::net::Shutdown::Both);
                let _ = u_read.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    addr
}

pub fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}
