//! Answer cache for repeated questions: key = normalized conversation + model + settings
//! (see `chat::ChatRequest::cache_key`); only complete answers are stored. In-process by
//! default ([`memory`]); in Redis when several gateway replicas share it ([`crate::shared`]),
//! with the replica's memory standing in while Redis is unreachable.

pub mod memory;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::chat::Usage;
use crate::config::CacheConfig;
use crate::shared::Redis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAnswer {
    pub model: String,
    pub text: String,
    pub finish: String,
    pub usage: Usage,
}

impl CachedAnswer {
    pub fn size(&self) -> usize {
        self.model.len() + self.text.len() + self.finish.len() + 64
    }
}

pub enum AnswerCache {
    Off,
    Memory(memory::MemoryCache),
    Redis { redis: Arc<Redis>, fallback: memory::MemoryCache, ttl: Duration, max_value: usize },
}

impl AnswerCache {
    /// The cache `cfg` asks for, in `redis` when the replicas share one.
    pub fn new(cfg: &CacheConfig, redis: Option<Arc<Redis>>) -> Self {
        if !cfg.enabled {
            return Self::Off;
        }
        let ttl = Duration::from_secs(cfg.ttl_s.max(1));
        let memory = memory::MemoryCache::new(cfg.max_entries, cfg.max_bytes, ttl);
        match redis {
            Some(redis) => Self::Redis { redis, fallback: memory, ttl, max_value: cfg.max_bytes },
            None => Self::Memory(memory),
        }
    }

    pub fn enabled(&self) -> bool {
        !matches!(self, Self::Off)
    }

    pub async fn get(&self, key: &str) -> Option<CachedAnswer> {
        match self {
            Self::Off => None,
            Self::Memory(m) => m.get(key),
            Self::Redis { redis, fallback, .. } => match redis.get(key).await {
                Some(v) => v.and_then(|v| serde_json::from_slice(&v).ok()),
                None => fallback.get(key),
            },
        }
    }

    pub async fn put(&self, key: &str, answer: CachedAnswer) {
        match self {
            Self::Off => {}
            Self::Memory(m) => m.put(key, answer),
            Self::Redis { redis, fallback, ttl, max_value } => {
                let Ok(v) = serde_json::to_vec(&answer) else { return };
                if v.len() <= *max_value && !redis.set(key, &v, *ttl).await {
                    fallback.put(key, answer);
                }
            }
        }
    }
}
