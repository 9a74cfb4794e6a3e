//! State that gateway replicas share through Redis (the `redis` crate): the answer cache and
//! the per-client limits. A Redis that cannot be reached never fails a request: the replica
//! warns once, answers from its own memory (`cache::memory`, `limit`) and tries Redis again
//! after [`RETRY_AFTER`]; it says so again when Redis answers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisResult, Script};

/// Every key the gateway writes starts with this.
const KEY_PREFIX: &str = "tutor-gateway:";
/// How long one Redis operation (or connecting) may take before the replica stops waiting.
const OP_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failure, Redis is left alone this long (requests use the replica's memory).
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// A client's in-flight count expires this long after its last admission, so a replica that
/// dies mid-stream cannot hold a client's slots for ever.
const IN_FLIGHT_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
#[error("redis url {url:?}: {message}")]
pub struct RedisUrlError {
    pub url: String,
    pub message: String,
}

/// Admission of one request by the shared limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Over the requests-per-minute limit; the oldest request of the window leaves in this long.
    RateLimited { retry_after: Duration },
    /// Over the concurrent-streams limit.
    TooManyStreams,
}

/// Sliding one-minute window and in-flight count of one client, atomically, on Redis's clock
/// (replicas' clocks may differ). KEYS: the client's request times (sorted set), its in-flight
/// count. ARGV: per-minute limit, concurrent limit, window ms, in-flight TTL ms, a unique id.
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {1, window - (now - tonumber(oldest[2]))}
end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[2]) then
  return {2, 0}
end
redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[5])
redis.call('PEXPIRE', KEYS[1], window)
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {0, 0}
";

/// One request of the client ends (never below zero, e.g. after the count expired).
const RELEASE: &str = r"
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 0
";

pub struct Redis {
    client: Client,
    /// "host:port" for messages.
    addr: String,
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// When the last failure happened (None: Redis is answering).
    failed_at: Mutex<Option<Instant>>,
    /// Whether the replica has said Redis is down (and not yet that it is back).
    warned: AtomicBool,
    admit: Script,
    release: Script,
    /// Makes each admission's sorted-set member unique across replicas.
    instance: u64,
    seq: AtomicU64,
}

impl Redis {
    /// A client for `url` (`redis://[user:password@]host[:port][/db]`); nothing is connected
    /// until the first use, so a gateway starts whether Redis is up or not.
    pub fn new(url: &str) -> Result<Self, RedisUrlError> {
        let bad = |message: String| RedisUrlError { url: url.into(), message };
        if !url.starts_with("redis://") {
            return Err(bad("only redis:// URLs are supported".into()));
        }
        let client = Client::open(url).map_err(|e| bad(e.to_string()))?;
        let addr = client.get_connection_info().addr().to_string();
        let instance = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), std::process::id());
        Ok(Self {
            client,
            addr,
            conn: tokio::sync::Mutex::new(None),
            failed_at: Mutex::new(None),
            warned: AtomicBool::new(false),
            admit: Script::new(ADMIT),
            release: Script::new(RELEASE),
            instance,
            seq: AtomicU64::new(0),
        })
    }

    /// The cached value of `key` (`Some(None)`: not there); None when Redis is unreachable.
    pub async fn get(&self, key: &str) -> Option<Option<Vec<u8>>> {
        let key = format!("{KEY_PREFIX}answer:{key}");
        self.run(|mut c| async move { redis::cmd("GET").arg(&key).query_async(&mut c).await }).await
    }

    /// Store `value` under `key` for `ttl`; false when Redis is unreachable.
    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> bool {
        let key = format!("{KEY_PREFIX}answer:{key}");
        let px = ttl.as_millis().max(1) as u64;
        self.run(|mut c| async move { redis::cmd("SET").arg(&key).arg(value).arg("PX").arg(px).query_async::<()>(&mut c).await })
            .await
            .is_some()
    }

    /// Admit one request of `client` against the limits every replica shares; None when
    /// Redis is unreachable.
    pub async fn admit(&self, client: &str, per_minute: u32, concurrent: usize, window: Duration) -> Option<Admission> {
        let id = format!("{:x}:{}", self.instance, self.seq.fetch_add(1, Ordering::Relaxed));
        let (times, in_flight) = (format!("{KEY_PREFIX}requests:{client}"), format!("{KEY_PREFIX}in-flight:{client}"));
        let reply: (i64, i64) = self
            .run(|mut c| async move {
                self.admit
                    .key(&times)
                    .key(&in_flight)
                    .arg(per_minute)
                    .arg(concurrent)
                    .arg(window.as_millis() as u64)
                    .arg(IN_FLIGHT_TTL.as_millis() as u64)
                    .arg(&id)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Some(match reply {
            (1, wait_ms) => Admission::RateLimited { retry_after: Duration::from_millis(wait_ms.max(0) as u64) },
            (2, _) => Admission::TooManyStreams,
            _ => Admission::Admitted,
        })
    }

    /// One admitted request of `client` ended.
    pub async fn release(&self, client: &str) {
        let in_flight = format!("{KEY_PREFIX}in-flight:{client}");
        self.run(|mut c| async move { self.release.key(&in_flight).invoke_async::<i64>(&mut c).await }).await;
    }

    /// Run `op` on the connection (made on first use), within [`OP_TIMEOUT`]. None when Redis
    /// failed now or less than [`RETRY_AFTER`] ago.
    async fn run<T, F, Fut>(&self, op: F) -> Option<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = RedisResult<T>>,
    {
        if self.failed_at.lock().ok()?.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
            return None;
        }
        let result = tokio::time::timeout(OP_TIMEOUT, async {
            let conn = self.connection().await?;
            op(conn).await.map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} ms", OP_TIMEOUT.as_millis())));
        match result {
            Ok(v) => {
                self.up();
                Some(v)
            }
            Err(why) => {
                self.down(&why).await;
                None
            }
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, String> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = AsyncConnectionConfig::new().set_connection_timeout(Some(OP_TIMEOUT)).set_response_timeout(Some(OP_TIMEOUT));
        let c = self.client.get_multiplexed_async_connection_with_config(&config).await.map_err(|e| e.to_string())?;
        *slot = Some(c.clone());
        Ok(c)
    }

    fn up(&self) {
        if let Ok(mut f) = self.failed_at.lock() {
            *f = None;
        }
        if self.warned.swap(false, Ordering::Relaxed) {
            eprintln!("tutor-gateway: redis {} answers again; the answer cache and limits are shared again", self.addr);
        }
    }

    async fn down(&self, why: &str) {
        *self.conn.lock().await = None;
        if let Ok(mut f) = self.failed_at.lock() {
            *f = Some(Instant::now());
        }
        if !self.warned.swap(true, Ordering::Relaxed) {
            eprintln!(
                "tutor-gateway: warning: redis {} is unreachable ({why}); this replica's answer cache and limits are its own until it answers",
                self.addr
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(Redis::new("redis://127.0.0.1:6380/2").unwrap().addr, "127.0.0.1:6380");
        assert_eq!(Redis::new("redis://cache").unwrap().addr, "cache:6379");
        for bad in ["http://x", "redis://h/x", "rediss://h"] {
            assert!(Redis::new(bad).is_err(), "{bad}");
        }
    }
}
