//! Configuration: a TOML file (`--config`), then `TUTOR_GATEWAY_*` environment variables on top.
//! Every field has a default, so an empty file (or none) runs the embedded model.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}={value:?} is not valid: {message}")]
    Env { name: String, value: String, message: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Log question text (off by default: students are often minors).
    pub log_questions: bool,
    pub embedded: EmbeddedConfig,
    /// OpenAI-compatible upstreams, tried in this order. Empty: the embedded engine answers.
    #[serde(rename = "upstream")]
    pub upstreams: Vec<UpstreamConfig>,
    pub limits: LimitsConfig,
    pub auth: AuthConfig,
    pub cors: CorsConfig,
    pub cache: CacheConfig,
    /// `redis://[user:password@]host[:port][/db]`: replicas share the answer cache and the
    /// per-client limits through this Redis (server/README.md, "Several replicas").
    pub redis_url: Option<String>,
    #[serde(rename = "static")]
    pub static_files: StaticConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            log_questions: false,
            embedded: EmbeddedConfig::default(),
            upstreams: Vec::new(),
            limits: LimitsConfig::default(),
            auth: AuthConfig::default(),
            cors: CorsConfig::default(),
            cache: CacheConfig::default(),
            redis_url: None,
            static_files: StaticConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedConfig {
    /// GGUF model file (or several shards, in order).
    pub model: Vec<PathBuf>,
    /// The model id reported by /v1/models and in answers.
    pub name: String,
    /// Context window (tokens) of the embedded engine.
    pub max_context: usize,
    /// Engines (each a full copy of the model, one thread each).
    pub workers: usize,
    /// Requests waiting for an engine before new ones get 503.
    pub queue: usize,
    /// Compute threads per engine (candle/rayon), 0 = library default.
    pub threads: usize,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            model: vec![PathBuf::from("models/cache/smollm2-135m-instruct-q4_1.gguf")],
            name: "smollm2-135m-instruct".into(),
            max_context: 2048,
            workers: 1,
            queue: 32,
            threads: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// Label in metrics and logs.
    pub name: String,
    /// Base URL up to and including `/v1`, e.g. `http://127.0.0.1:8081/v1`.
    pub url: String,
    /// Environment variable holding the API key (sent as `Authorization: Bearer`).
    pub api_key_env: Option<String>,
    /// Model name sent upstream (default: the client's, else the upstream's default).
    pub model: Option<String>,
    /// US dollars per million prompt / completion tokens.
    pub price_in_per_mtok: f64,
    pub price_out_per_mtok: f64,
    pub connect_timeout_ms: u64,
    /// From request sent to the first byte of the answer (covers upstream queueing and prefill).
    pub first_byte_timeout_ms: u64,
    /// Longest silence between two pieces of a streamed answer.
    pub idle_timeout_ms: u64,
    /// Ask for `stream_options.include_usage` (exact token counts in the last chunk).
    pub include_usage: bool,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            url: String::new(),
            api_key_env: None,
            model: None,
            price_in_per_mtok: 0.0,
            price_out_per_mtok: 0.0,
            connect_timeout_ms: 3_000,
            first_byte_timeout_ms: 60_000,
            idle_timeout_ms: 30_000,
            include_usage: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_body_bytes: usize,
    pub max_prompt_tokens: usize,
    pub max_tokens: u32,
    /// Streams (and requests) in flight per client.
    pub concurrent_streams: usize,
    pub requests_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self { max_body_bytes: 64 * 1024, max_prompt_tokens: 1536, max_tokens: 512, concurrent_streams: 4, requests_per_minute: 60 }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Environment variable holding the HMAC secret. When set (and the variable is non-empty),
    /// every request needs a valid signed client token.
    pub secret_env: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins allowed to call the API from a browser (`*` = any). Requests without an
    /// `Origin` header (servers, curl) are not affected.
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    pub enabled: bool,
    pub max_entries: usize,
    pub max_bytes: usize,
    pub ttl_s: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { enabled: true, max_entries: 4096, max_bytes: 32 << 20, ttl_s: 24 * 3600 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticConfig {
    /// Directory served at `/` (the web demo, model shards). None: no static files.
    pub dir: Option<PathBuf>,
    /// URL path prefixes whose files never change (content-addressed shards): cached for a year.
    pub immutable_prefixes: Vec<String>,
}

impl Default for StaticConfig {
    fn default() -> Self {
        Self { dir: None, immutable_prefixes: vec!["/models/".into(), "/assets/".into()] }
    }
}

impl Config {
    /// Read `path` (if any), then apply the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut c = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.to_path_buf(), source })?;
                Self::from_toml(&text).map_err(|message| ConfigError::Parse { path: p.to_path_buf(), message })?
            }
            None => Self::default(),
        };
        c.apply_env(|k| std::env::var(k).ok())?;
        c.validate()?;
        Ok(c)
    }

    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Environment overrides (documented in server/README.md).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            v.trim().parse().map_err(|e: T::Err| ConfigError::Env { name: name.into(), value: v.into(), message: e.to_string() })
        }
        let list = |v: &str| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>();
        if let Some(v) = get("TUTOR_GATEWAY_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = get("TUTOR_GATEWAY_MODEL") {
            self.embedded.model = list(&v).into_iter().map(PathBuf::from).collect();
        }
        if let Some(v) = get("TUTOR_GATEWAY_WORKERS") {
            self.embedded.workers = num("TUTOR_GATEWAY_WORKERS", &v)?;
        }
        if let Some(v) = get("TUTOR_GATEWAY_THREADS") {
            self.embedded.threads = num("TUTOR_GATEWAY_THREADS", &v)?;
        }
        if let Some(v) = get("TUTOR_GATEWAY_UPSTREAMS") {
            // Comma-separated base URLs, in failover order; key from TUTOR_GATEWAY_UPSTREAM_KEY_ENV.
            let key_env = get("TUTOR_GATEWAY_UPSTREAM_KEY_ENV");
            self.upstreams = list(&v)
                .into_iter()
                .enumerate()
                .map(|(i, url)| UpstreamConfig { name: format!("upstream{i}"), url, api_key_env: key_env.clone(), ..UpstreamConfig::default() })
                .collect();
        }
        if let Some(v) = get("TUTOR_GATEWAY_ALLOWED_ORIGINS") {
            self.cors.allowed_origins = list(&v);
        }
        if let Some(v) = get("TUTOR_GATEWAY_SECRET_ENV") {
            self.auth.secret_env = Some(v);
        }
        if let Some(v) = get("TUTOR_GATEWAY_REDIS_URL") {
            self.redis_url = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = get("TUTOR_GATEWAY_STATIC_DIR") {
            self.static_files.dir = Some(PathBuf::from(v));
        }
        if let Some(v) = get("TUTOR_GATEWAY_REQUESTS_PER_MINUTE") {
            self.limits.requests_per_minute = num("TUTOR_GATEWAY_REQUESTS_PER_MINUTE", &v)?;
        }
        if let Some(v) = get("TUTOR_GATEWAY_CONCURRENT_STREAMS") {
            self.limits.concurrent_streams = num("TUTOR_GATEWAY_CONCURRENT_STREAMS", &v)?;
        }
        if let Some(v) = get("TUTOR_GATEWAY_LOG_QUESTIONS") {
            self.log_questions = matches!(v.as_str(), "1" | "true" | "yes");
        }
        Ok(())
    }

    pub fn validate(&mut self) -> Result<(), ConfigError> {
        for (i, u) in self.upstreams.iter_mut().enumerate() {
            if !(u.url.starts_with("http://") || u.url.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!("upstream {i}: url {:?} must start with http:// or https://", u.url)));
            }
            if u.name.is_empty() {
                u.name = format!("upstream{i}");
            }
        }
        if self.upstreams.is_empty() && self.embedded.model.is_empty() {
            return Err(ConfigError::Invalid("no upstream and no embedded model".into()));
        }
        if self.embedded.workers == 0 || self.embedded.queue == 0 {
            return Err(ConfigError::Invalid("embedded.workers and embedded.queue must be at least 1".into()));
        }
        if self.limits.max_tokens == 0 || self.limits.concurrent_streams == 0 || self.limits.requests_per_minute == 0 {
            return Err(ConfigError::Invalid("limits must be at least 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_then_env() {
        let mut c = Config::from_toml(
            r#"
            listen = "127.0.0.1:9000"
            [[upstream]]
            url = "http://127.0.0.1:8081/v1"
            price_in_per_mtok = 0.5
            [limits]
            requests_per_minute = 10
            "#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.upstreams[0].name, "upstream0");
        assert_eq!(c.limits.requests_per_minute, 10);
        assert_eq!(c.limits.max_tokens, 512);
        let env = |k: &str| match k {
            "TUTOR_GATEWAY_REQUESTS_PER_MINUTE" => Some("7".to_string()),
            "TUTOR_GATEWAY_ALLOWED_ORIGINS" => Some("https://a.example, https://b.example".to_string()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        assert_eq!(c.limits.requests_per_minute, 7);
        assert_eq!(c.cors.allowed_origins, vec!["https://a.example", "https://b.example"]);
        let bad = |k: &str| (k == "TUTOR_GATEWAY_WORKERS").then(|| "many".to_string());
        assert!(matches!(c.apply_env(bad), Err(ConfigError::Env { .. })));
    }

    #[test]
    fn unknown_keys_and_bad_urls_are_rejected() {
        assert!(Config::from_toml("lisen = 1").is_err());
        let mut c = Config::from_toml("[[upstream]]\nurl = \"ftp://x\"").unwrap();
        assert!(matches!(c.validate(), Err(ConfigError::Invalid(_))));
    }
}
