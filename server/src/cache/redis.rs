//! Shared answer cache in Redis (RESP2 over one TCP connection, reconnected on failure):
//! `GET` / `SET key value PX ttl`. Bound the memory with Redis's own `maxmemory` +
//! `allkeys-lru`. A Redis that is down makes lookups miss; it never fails a request.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::CachedAnswer;

const KEY_PREFIX: &str = "tutor-gateway:answer:";
const OP_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis url {0:?} is not redis://host:port[/db]")]
    Url(String),
    #[error("redis i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("redis protocol: {0}")]
    Protocol(String),
    #[error("redis timed out")]
    Timeout,
}

pub struct RedisCache {
    addr: String,
    db: u32,
    ttl: Duration,
    max_value: usize,
    conn: Mutex<Option<BufReader<TcpStream>>>,
}

enum Reply {
    Simple,
    Bulk(Option<Vec<u8>>),
    Int,
}

impl RedisCache {
    pub fn new(url: &str, ttl: Duration, max_value: usize) -> Result<Self, RedisError> {
        let rest = url.strip_prefix("redis://").ok_or_else(|| RedisError::Url(url.into()))?;
        let (addr, db) = match rest.split_once('/') {
            Some((a, d)) if !d.is_empty() => (a, d.parse().map_err(|_| RedisError::Url(url.into()))?),
            Some((a, _)) => (a, 0),
            None => (rest, 0),
        };
        if addr.is_empty() || addr.contains('@') {
            return Err(RedisError::Url(url.into()));
        }
        let addr = if addr.contains(':') { addr.to_string() } else { format!("{addr}:6379") };
        Ok(Self { addr, db, ttl, max_value, conn: Mutex::new(None) })
    }

    pub async fn get(&self, key: &str) -> Option<CachedAnswer> {
        let k = format!("{KEY_PREFIX}{key}");
        match self.call(&[b"GET", k.as_bytes()]).await {
            Ok(Reply::Bulk(Some(v))) => serde_json::from_slice(&v).ok(),
            _ => None,
        }
    }

    pub async fn put(&self, key: &str, answer: &CachedAnswer) {
        let Ok(v) = serde_json::to_vec(answer) else { return };
        if v.len() > self.max_value {
            return;
        }
        let k = format!("{KEY_PREFIX}{key}");
        let px = self.ttl.as_millis().to_string();
        let _ = self.call(&[b"SET", k.as_bytes(), &v, b"PX", px.as_bytes()]).await;
    }

    async fn call(&self, args: &[&[u8]]) -> Result<Reply, RedisError> {
        let mut guard = self.conn.lock().await;
        let r = tokio::time::timeout(OP_TIMEOUT, async {
            if guard.is_none() {
                let s = TcpStream::connect(&self.addr).await?;
                s.set_nodelay(true)?;
                let mut c = BufReader::new(s);
                if self.db != 0 {
                    let db = self.db.to_string();
                    command(&mut c, &[b"SELECT", db.as_bytes()]).await?;
                }
                *guard = Some(c);
            }
            match guard.as_mut() {
                Some(c) => command(c, args).await,
                None => Err(RedisError::Protocol("no connection".into())),
            }
        })
        .await
        .unwrap_or(Err(RedisError::Timeout));
        if r.is_err() {
            *guard = None; // reconnect next time
        }
        r
    }
}

async fn command(c: &mut BufReader<TcpStream>, args: &[&[u8]]) -> Result<Reply, RedisError> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    c.get_mut().write_all(&out).await?;
    read_reply(c).await
}

async fn read_reply(c: &mut BufReader<TcpStream>) -> Result<Reply, RedisError> {
    let mut line = String::new();
    if c.read_line(&mut line).await? == 0 {
        return Err(RedisError::Protocol("connection closed".into()));
    }
    let line = line.trim_end_matches("\r\n");
    let (tag, rest) = line.split_at(line.len().min(1));
    match tag {
        "+" => Ok(Reply::Simple),
        "-" => Err(RedisError::Protocol(rest.to_string())),
        ":" => rest.parse::<i64>().map(|_| Reply::Int).map_err(|_| RedisError::Protocol(format!("bad integer {rest:?}"))),
        "$" => {
            let n: i64 = rest.parse().map_err(|_| RedisError::Protocol(format!("bad length {rest:?}")))?;
            if n < 0 {
                return Ok(Reply::Bulk(None));
            }
            if n > 64 << 20 {
                return Err(RedisError::Protocol(format!("value of {n} bytes")));
            }
            let mut buf = vec![0u8; n as usize + 2];
            c.read_exact(&mut buf).await?;
            buf.truncate(n as usize);
            Ok(Reply::Bulk(Some(buf)))
        }
        _ => Err(RedisError::Protocol(format!("unexpected reply {line:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let ttl = Duration::from_secs(1);
        let c = RedisCache::new("redis://127.0.0.1:6380/2", ttl, 10).unwrap();
        assert_eq!((c.addr.as_str(), c.db), ("127.0.0.1:6380", 2));
        assert_eq!(RedisCache::new("redis://cache", ttl, 10).unwrap().addr, "cache:6379");
        for bad in ["http://x", "redis://", "redis://u:p@h", "redis://h/x"] {
            assert!(RedisCache::new(bad, ttl, 10).is_err(), "{bad}");
        }
    }
}
