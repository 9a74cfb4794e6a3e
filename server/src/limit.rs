//! Per-client limits: requests per minute (sliding one-minute window) and requests in flight.
//! Kept in the replica's memory, or in Redis when the replicas share them ([`crate::shared`]),
//! with the memory standing in while Redis is unreachable.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::GatewayError;
use crate::shared::{Admission, Redis};

#[derive(Default)]
struct ClientState {
    /// Start times of the requests of the last minute.
    recent: VecDeque<Instant>,
    in_flight: usize,
}

pub struct Limiter {
    per_minute: u32,
    concurrent: usize,
    clients: Mutex<HashMap<String, ClientState>>,
    redis: Option<Arc<Redis>>,
}

/// Held while a request runs; dropping it frees the client's slot.
pub struct Slot {
    limiter: Arc<Limiter>,
    client: String,
    /// Admitted by the limits in Redis (else by this replica's memory).
    shared: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        match (&self.limiter.redis, self.shared) {
            (Some(redis), true) => {
                let (redis, client) = (Arc::clone(redis), std::mem::take(&mut self.client));
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move { redis.release(&client).await });
                }
            }
            _ => {
                if let Ok(mut m) = self.limiter.clients.lock() {
                    if let Some(s) = m.get_mut(&self.client) {
                        s.in_flight = s.in_flight.saturating_sub(1);
                    }
                }
            }
        }
    }
}

const WINDOW: Duration = Duration::from_secs(60);

impl Limiter {
    pub fn new(per_minute: u32, concurrent: usize, redis: Option<Arc<Redis>>) -> Arc<Self> {
        Arc::new(Self { per_minute, concurrent, clients: Mutex::new(HashMap::new()), redis })
    }

    /// Admit one request of `client` now, or say why not.
    pub async fn admit(self: &Arc<Self>, client: &str) -> Result<Slot, GatewayError> {
        if let Some(redis) = &self.redis {
            match redis.admit(client, self.per_minute, self.concurrent, WINDOW).await {
                Some(Admission::Admitted) => return Ok(Slot { limiter: Arc::clone(self), client: client.to_string(), shared: true }),
                Some(Admission::RateLimited { retry_after }) => {
                    return Err(GatewayError::RateLimited { limit: self.per_minute, retry_after_s: retry_after.as_secs().max(1) })
                }
                Some(Admission::TooManyStreams) => return Err(GatewayError::TooManyStreams { limit: self.concurrent }),
                None => {} // unreachable: this replica's own limits
            }
        }
        self.admit_at(client, Instant::now())
    }

    fn admit_at(self: &Arc<Self>, client: &str, now: Instant) -> Result<Slot, GatewayError> {
        let mut m = self.clients.lock().map_err(|_| GatewayError::Internal("limiter lock poisoned".into()))?;
        if m.len() > 100_000 {
            // Bound memory under a flood of distinct clients: forget idle ones.
            m.retain(|_, s| s.in_flight > 0 || s.recent.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let s = m.entry(client.to_string()).or_default();
        while s.recent.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            s.recent.pop_front();
        }
        if s.recent.len() >= self.per_minute as usize {
            let oldest = s.recent.front().copied().unwrap_or(now);
            let wait = WINDOW.saturating_sub(now.duration_since(oldest));
            return Err(GatewayError::RateLimited { limit: self.per_minute, retry_after_s: wait.as_secs().max(1) });
        }
        if s.in_flight >= self.concurrent {
            return Err(GatewayError::TooManyStreams { limit: self.concurrent });
        }
        s.recent.push_back(now);
        s.in_flight += 1;
        Ok(Slot { limiter: Arc::clone(self), client: client.to_string(), shared: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_and_concurrency() {
        let l = Limiter::new(3, 2, None);
        let t0 = Instant::now();
        let a = l.admit_at("a", t0).unwrap();
        let b = l.admit_at("a", t0).unwrap();
        assert!(matches!(l.admit_at("a", t0), Err(GatewayError::TooManyStreams { limit: 2 })));
        assert!(l.admit_at("b", t0).is_ok(), "other clients are not affected");
        drop(a);
        let _c = l.admit_at("a", t0 + Duration::from_secs(1)).unwrap();
        drop(b);
        match l.admit_at("a", t0 + Duration::from_secs(20)) {
            Err(GatewayError::RateLimited { limit: 3, retry_after_s }) => assert_eq!(retry_after_s, 40),
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(l.admit_at("a", t0 + Duration::from_secs(61)).is_ok(), "the window slides");
    }
}
