//! In-process answer cache: bounded entries and bytes, least recently used evicted first,
//! entries expire after the TTL.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::CachedAnswer;

struct Entry {
    answer: CachedAnswer,
    expires: Instant,
    tick: u64,
    size: usize,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Entry>,
    /// Last-use tick -> key (oldest first).
    order: BTreeMap<u64, String>,
    bytes: usize,
    tick: u64,
}

pub struct MemoryCache {
    max_entries: usize,
    max_bytes: usize,
    ttl: Duration,
    inner: Mutex<Inner>,
}

impl MemoryCache {
    pub fn new(max_entries: usize, max_bytes: usize, ttl: Duration) -> Self {
        Self { max_entries, max_bytes, ttl, inner: Mutex::new(Inner::default()) }
    }

    pub fn get(&self, key: &str) -> Option<CachedAnswer> {
        self.get_at(key, Instant::now())
    }

    fn get_at(&self, key: &str, now: Instant) -> Option<CachedAnswer> {
        let mut g = self.inner.lock().ok()?;
        let inner = &mut *g;
        let expired = inner.map.get(key).map(|e| e.expires <= now)?;
        if expired {
            remove(inner, key);
            return None;
        }
        inner.tick += 1;
        let tick = inner.tick;
        let e = inner.map.get_mut(key)?;
        inner.order.remove(&e.tick);
        e.tick = tick;
        inner.order.insert(tick, key.to_string());
        Some(e.answer.clone())
    }

    pub fn put(&self, key: &str, answer: CachedAnswer) {
        self.put_at(key, answer, Instant::now())
    }

    fn put_at(&self, key: &str, answer: CachedAnswer, now: Instant) {
        let size = answer.size() + key.len();
        if size > self.max_bytes || self.max_entries == 0 {
            return;
        }
        let Ok(mut g) = self.inner.lock() else { return };
        let inner = &mut *g;
        remove(inner, key);
        while inner.map.len() >= self.max_entries || inner.bytes + size > self.max_bytes {
            let Some((_, oldest)) = inner.order.pop_first() else { break };
            if let Some(e) = inner.map.remove(&oldest) {
                inner.bytes -= e.size;
            }
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.order.insert(tick, key.to_string());
        inner.bytes += size;
        inner.map.insert(key.to_string(), Entry { answer, expires: now + self.ttl, tick, size });
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.map.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn remove(inner: &mut Inner, key: &str) {
    if let Some(e) = inner.map.remove(key) {
        inner.order.remove(&e.tick);
        inner.bytes -= e.size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Usage;

    fn ans(t: &str) -> CachedAnswer {
        CachedAnswer { model: "m".into(), text: t.into(), finish: "stop".into(), usage: Usage::default() }
    }

    #[test]
    fn lru_bound_and_ttl() {
        let c = MemoryCache::new(2, 1 << 20, Duration::from_secs(10));
        let t0 = Instant::now();
        c.put_at("a", ans("A"), t0);
        c.put_at("b", ans("B"), t0);
        assert_eq!(c.get_at("a", t0).unwrap().text, "A"); // a is now the most recent
        c.put_at("c", ans("C"), t0);
        assert!(c.get_at("b", t0).is_none(), "least recently used evicted");
        assert!(c.get_at("a", t0).is_some() && c.get_at("c", t0).is_some());
        assert!(c.get_at("a", t0 + Duration::from_secs(11)).is_none(), "expired");
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn byte_bound() {
        let c = MemoryCache::new(100, 300, Duration::from_secs(10));
        let t0 = Instant::now();
        c.put_at("k1", ans(&"x".repeat(100)), t0);
        c.put_at("k2", ans(&"y".repeat(100)), t0);
        assert_eq!(c.len(), 1, "two entries of ~170 bytes exceed 300");
        c.put_at("k3", ans(&"z".repeat(1000)), t0);
        assert!(c.get_at("k3", t0).is_none(), "larger than the whole cache: not stored");
        assert!(c.get_at("k2", t0).is_some());
    }
}
