//! Telemetry events for the embedding site (no question text unless the site opts in) and the
//! shadow-sampling decision: which locally answered questions are also sent to the server so
//! the site can measure local-vs-server agreement in production. Pure: the caller sends events.

use serde::{Deserialize, Serialize};

use super::calibrate::splitmix64;
use super::policy::{Route, RouteDecision};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryConfig {
    /// Include the question text in events (off unless the site opts in).
    pub include_question_text: bool,
    /// Share of locally answered questions also sent to the server (0 = none, 1 = all).
    pub shadow_fraction: f64,
    /// What the server costs per 1,000 tokens (prompt + answer), for the cost-saved estimate.
    pub server_usd_per_1k_tokens: f64,
    /// Salt for the shadow hash, so different sites sample different questions.
    pub shadow_salt: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self { include_question_text: false, shadow_fraction: 0.0, server_usd_per_1k_tokens: 0.002, shadow_salt: 0 }
    }
}

/// One answered question, as the site's telemetry hook receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteEvent {
    pub route: Route,
    /// `Reason::code()`.
    pub reason: String,
    pub fallback: bool,
    /// The router's score at the decision (probability the local answer is right), if any.
    pub score: Option<f32>,
    /// Tokens generated locally before an escalation (0 when the server answered from the start).
    pub escalated_at_token: Option<usize>,
    pub latency_ms: f64,
    pub prompt_tokens: usize,
    pub answer_tokens: usize,
    /// Server spend avoided by answering locally (0 for server answers).
    pub est_cost_saved_usd: f64,
    /// This local answer is also sent to the server for comparison.
    pub shadow: bool,
    pub lang: Option<String>,
    /// Only with `include_question_text`.
    pub question: Option<String>,
}

/// A stable 64-bit key for a question (FNV-1a over its whitespace-normalized lowercase text),
/// so the same question gets the same shadow decision and no text leaves the device.
pub fn question_key(question: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let norm = question.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    for b in norm.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Whether this locally answered question is shadow-sampled: a deterministic hash of the key
/// against `fraction`, so over many questions about `fraction` of them are.
pub fn shadow_sample(fraction: f64, salt: u64, key: u64) -> bool {
    if fraction <= 0.0 || fraction.is_nan() {
        return false;
    }
    if fraction >= 1.0 {
        return true;
    }
    let u = (splitmix64(key ^ salt) >> 11) as f64 / (1u64 << 53) as f64;
    u < fraction
}

/// Build the event for a finished question.
#[allow(clippy::too_many_arguments)]
pub fn route_event(
    cfg: &TelemetryConfig,
    decision: &RouteDecision,
    score: Option<f32>,
    question: &str,
    lang: Option<&str>,
    latency_ms: f64,
    prompt_tokens: usize,
    answer_tokens: usize,
    escalated_at_token: Option<usize>,
) -> RouteEvent {
    let local = decision.route == Route::Local;
    RouteEvent {
        route: decision.route,
        reason: decision.reason.code().to_string(),
        fallback: decision.fallback,
        score,
        escalated_at_token,
        latency_ms,
        prompt_tokens,
        answer_tokens,
        est_cost_saved_usd: if local { (prompt_tokens + answer_tokens) as f64 / 1000.0 * cfg.server_usd_per_1k_tokens } else { 0.0 },
        // A fallback local answer (server unreachable) cannot be shadowed.
        shadow: local && !decision.fallback && shadow_sample(cfg.shadow_fraction, cfg.shadow_salt, question_key(question)),
        lang: lang.map(str::to_string),
        question: cfg.include_question_text.then(|| question.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::policy::Reason;

    #[test]
    fn shadow_fraction_is_respected_and_deterministic() {
        for &f in &[0.0, 0.05, 0.3, 1.0] {
            let hits = (0..20_000u64).filter(|&i| shadow_sample(f, 7, question_key(&format!("question {i}")))).count();
            let share = hits as f64 / 20_000.0;
            assert!((share - f).abs() < 0.015, "fraction {f}: {share}");
        }
        let k = question_key("What is  photosynthesis?");
        assert_eq!(k, question_key("what is photosynthesis?"));
        assert_eq!(shadow_sample(0.5, 1, k), shadow_sample(0.5, 1, k));
    }

    #[test]
    fn events_carry_no_text_unless_opted_in() {
        let local = RouteDecision::new(Route::Local, Reason::Confident { score: 0.9, threshold: 0.5 }, false);
        let cfg = TelemetryConfig { shadow_fraction: 1.0, ..Default::default() };
        let e = route_event(&cfg, &local, Some(0.9), "secret question", Some("en"), 120.0, 500, 500, None);
        assert_eq!(e.question, None);
        assert!(!serde_json::to_string(&e).unwrap().contains("secret"));
        assert!((e.est_cost_saved_usd - 0.002).abs() < 1e-12);
        assert!(e.shadow);
        let cfg = TelemetryConfig { include_question_text: true, ..cfg };
        assert_eq!(route_event(&cfg, &local, None, "q", None, 1.0, 1, 1, None).question.as_deref(), Some("q"));
        // Server answers save nothing and are never shadowed; fallback local answers are not shadowed.
        let server = RouteDecision::new(Route::Server, Reason::CriticalTopic { topic: "medical".into() }, false);
        let e = route_event(&cfg, &server, None, "q", None, 1.0, 10, 10, Some(0));
        assert_eq!((e.est_cost_saved_usd, e.shadow, e.reason.as_str()), (0.0, false, "critical_topic"));
        let fb = RouteDecision::new(Route::Local, Reason::ServerUnreachable, true);
        assert!(!route_event(&cfg, &fb, None, "q", None, 1.0, 10, 10, None).shadow);
    }
}
