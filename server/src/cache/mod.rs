//! Answer cache for repeated questions: key = normalized conversation + model + settings
//! (see `chat::ChatRequest::cache_key`); only complete answers are stored. In-process by
//! default ([`memory`]), Redis when several gateway replicas should share it ([`redis`]).

pub mod memory;
pub mod redis;

use serde::{Deserialize, Serialize};

use crate::chat::Usage;
use crate::config::CacheConfig;

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
    Redis(redis::RedisCache),
}

impl AnswerCache {
    pub fn new(cfg: &CacheConfig) -> Result<Self, redis::RedisError> {
        if !cfg.enabled {
            return Ok(Self::Off);
        }
        let ttl = std::time::Duration::from_secs(cfg.ttl_s.max(1));
        Ok(match &cfg.redis_url {
            Some(url) => Self::Redis(redis::RedisCache::new(url, ttl, cfg.max_bytes)?),
            None => Self::Memory(memory::MemoryCache::new(cfg.max_entries, cfg.max_bytes, ttl)),
        })
    }

    pub fn enabled(&self) -> bool {
        !matches!(self, Self::Off)
    }

    pub async fn get(&self, key: &str) -> Option<CachedAnswer> {
        match self {
            Self::Off => None,
            Self::Memory(m) => m.get(key),
            Self::Redis(r) => r.get(key).await,
        }
    }

    pub async fn put(&self, key: &str, answer: CachedAnswer) {
        match self {
            Self::Off => {}
            Self::Memory(m) => m.put(key, answer),
            Self::Redis(r) => r.put(key, &answer).await,
        }
    }
}
