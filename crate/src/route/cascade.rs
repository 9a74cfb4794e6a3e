//! The cascade: one question's route as a state machine. The local model starts answering; the
//! cascade watches its confidence token by token and escalates when it collapses. Pure: the
//! caller (native loop, or a TS worker through wasm) runs the model and the network and feeds
//! what happened in; the cascade answers with a decision.
//!
//! ```text
//!            start(availability)
//!   Routing ───────────────┬──────────────────────────────► Server (rule / no model / no compute)
//!                          └─► Prefill ──after_prefill──┬──► Server (low confidence)
//!                                                       └──► Local ──on_token*──► Server (collapse)
//!   Server ──server_failed──► Local (fallback, marked) or Unavailable
//! ```

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::policy::{features, Reason, Route, RouteDecision, RoutePolicy};
use super::signals::{AnswerStats, PromptStats, QuestionSignals, TokenStats};
use super::RouteError;

/// What the device can do right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    /// The local model is downloaded and loaded.
    pub model_ready: bool,
    /// WebGPU or enough CPU to run it.
    pub compute: bool,
    /// The server is configured (not known to be unreachable).
    pub server: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Nothing decided yet: call `start`.
    Routing,
    /// Local model chosen provisionally: run the prefill, then call `after_prefill`.
    Prefill,
    /// Local model answering: feed each token to `on_token`.
    Local,
    /// The server answers (from the start or after an escalation).
    Server,
    /// Neither side can answer.
    Unavailable,
}

/// What the caller should do after a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    /// Keep generating locally.
    Continue,
    /// Stop the local generation and hand the question (and the partial answer) to the server.
    Escalate { decision: RouteDecision },
}

pub struct Cascade {
    policy: RoutePolicy,
    question: String,
    signals: QuestionSignals,
    lang: Option<String>,
    avail: Availability,
    prompt: Option<PromptStats>,
    window: VecDeque<TokenStats>,
    generated: usize,
    phase: Phase,
    decision: Option<RouteDecision>,
    /// Lowest running score seen during generation (telemetry).
    min_running: Option<f32>,
}

impl Cascade {
    pub fn new(policy: RoutePolicy, question: &str, lang: Option<&str>) -> Self {
        Self {
            window: VecDeque::with_capacity(policy.window),
            policy,
            question: question.to_string(),
            signals: QuestionSignals::of(question),
            lang: lang.map(str::to_string),
            avail: Availability { model_ready: false, compute: false, server: false },
            prompt: None,
            generated: 0,
            phase: Phase::Routing,
            decision: None,
            min_running: None,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }
    pub fn policy(&self) -> &RoutePolicy {
        &self.policy
    }
    pub fn decision(&self) -> Option<&RouteDecision> {
        self.decision.as_ref()
    }
    pub fn signals(&self) -> &QuestionSignals {
        &self.signals
    }
    pub fn generated_tokens(&self) -> usize {
        self.generated
    }
    pub fn min_running_score(&self) -> Option<f32> {
        self.min_running
    }

    fn decide(&mut self, phase: Phase, route: Route, reason: Reason, fallback: bool) -> RouteDecision {
        let d = RouteDecision::new(route, reason, fallback);
        self.phase = phase;
        self.decision = Some(d.clone());
        d
    }

    fn expect(&self, want: Phase, call: &'static str) -> Result<(), RouteError> {
        if self.phase == want {
            Ok(())
        } else {
            Err(RouteError::WrongPhase { call, phase: self.phase })
        }
    }

    /// First decision, before any model work: rules, then what the device can do. Returns
    /// `Route::Local` (provisional: the prefill decides next) or the final route.
    pub fn start(&mut self, avail: Availability) -> Result<RouteDecision, RouteError> {
        self.expect(Phase::Routing, "start")?;
        self.avail = avail;
        let local_possible = avail.model_ready && avail.compute;
        if let Some(reason) = self.policy.rule_for(&self.question, self.lang.as_deref()) {
            if avail.server {
                return Ok(self.decide(Phase::Server, Route::Server, reason, false));
            }
        }
        if !local_possible {
            let reason = if !avail.model_ready { Reason::ModelUnavailable } else { Reason::NoCompute };
            return Ok(if avail.server {
                self.decide(Phase::Server, Route::Server, reason, true)
            } else {
                self.decide(Phase::Unavailable, Route::Unavailable, reason, true)
            });
        }
        if !avail.server {
            // Nothing to escalate to: answer locally, marked.
            return Ok(self.decide(Phase::Local, Route::Local, Reason::ServerUnreachable, true));
        }
        let pre = self.pre_score(None);
        Ok(self.decide(Phase::Prefill, Route::Local, Reason::Confident { score: pre, threshold: self.policy.threshold_pre }, false))
    }

    fn pre_score(&self, p: Option<&PromptStats>) -> f32 {
        self.policy.pre.score(&features(&self.signals, p, None))
    }

    /// After the prefill: the question + prompt-perplexity score against the threshold.
    pub fn after_prefill(&mut self, prompt: PromptStats) -> Result<RouteDecision, RouteError> {
        self.expect(Phase::Prefill, "after_prefill")?;
        let score = self.pre_score(Some(&prompt));
        self.prompt = Some(prompt);
        let threshold = self.policy.threshold_pre;
        Ok(if score < threshold {
            self.decide(Phase::Server, Route::Server, Reason::LowConfidence { score, threshold }, false)
        } else {
            self.decide(Phase::Local, Route::Local, Reason::Confident { score, threshold }, false)
        })
    }

    /// After each generated token: escalate when the running score over the window collapses.
    /// A local answer that is itself a fallback (server unreachable) never escalates.
    pub fn on_token(&mut self, t: TokenStats) -> Result<Step, RouteError> {
        self.expect(Phase::Local, "on_token")?;
        self.generated += 1;
        if self.window.len() == self.policy.window {
            self.window.pop_front();
        }
        self.window.push_back(t);
        let fallback = self.decision.as_ref().is_some_and(|d| d.fallback);
        if fallback || self.generated < self.policy.min_tokens || self.generated > self.policy.max_escalate_tokens {
            return Ok(Step::Continue);
        }
        let win: Vec<TokenStats> = self.window.iter().copied().collect();
        let answer = AnswerStats::of(&win);
        let score = self.policy.full.score(&features(&self.signals, self.prompt.as_ref(), answer.as_ref()));
        self.min_running = Some(self.min_running.map_or(score, |m| m.min(score)));
        let threshold = self.policy.threshold_full;
        if score < threshold {
            let at_token = self.generated;
            let d = self.decide(Phase::Server, Route::Server, Reason::ConfidenceCollapse { score, threshold, at_token }, false);
            return Ok(Step::Escalate { decision: d });
        }
        Ok(Step::Continue)
    }

    /// The server failed (unreachable, timeout, error status). Fall back to the local model
    /// when it can run; otherwise nothing can answer.
    pub fn server_failed(&mut self) -> Result<RouteDecision, RouteError> {
        self.expect(Phase::Server, "server_failed")?;
        self.avail.server = false;
        Ok(if self.avail.model_ready && self.avail.compute {
            self.decide(Phase::Local, Route::Local, Reason::ServerUnreachable, true)
        } else {
            self.decide(Phase::Unavailable, Route::Unavailable, Reason::ServerUnreachable, true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::policy::{default_critical_topics, LinearScore, FEATURES, PRE_FEATURES};

    /// Scores driven by one feature each, so tests control them exactly.
    fn policy() -> RoutePolicy {
        let one = |names: &[&str], feat: &str, w: f32, mean: f32| {
            let n = names.len();
            let mut s = LinearScore { features: names.iter().map(|s| s.to_string()).collect(), mean: vec![0.0; n], scale: vec![1.0; n], weights: vec![0.0; n], bias: 0.0 };
            let j = names.iter().position(|f| *f == feat).unwrap();
            s.weights[j] = w;
            s.mean[j] = mean;
            s
        };
        RoutePolicy {
            // Prompt NLL above 4 nats → below 0.5.
            pre: one(&FEATURES[..PRE_FEATURES], "prompt_mean_nll", -2.0, 4.0),
            // Mean top-1 probability in the window below 0.5 → below 0.5.
            full: one(&FEATURES, "answer_mean_top1", 10.0, 0.5),
            threshold_pre: 0.5,
            threshold_full: 0.5,
            window: 4,
            min_tokens: 4,
            max_escalate_tokens: 100,
            critical_topics: default_critical_topics(),
            escalate_languages: vec!["te".into()],
            prompt_tail: crate::route::policy::DEFAULT_PROMPT_TAIL,
            framing: crate::route::policy::DEFAULT_FRAMING.into(),
            calibrated_for: None,
        }
    }
    const ALL: Availability = Availability { model_ready: true, compute: true, server: true };
    fn prompt(nll: f32) -> PromptStats {
        let mut p = PromptStats { tokens: 11, ..Default::default() };
        (0..10).for_each(|_| p.push_nll(nll));
        p
    }
    fn tok(top1: f32) -> TokenStats {
        TokenStats { logprob: top1.ln(), entropy: 1.0 - top1, top1 }
    }

    #[test]
    fn critical_topics_always_escalate_whatever_the_confidence() {
        for q in ["I want to kill myself, what is the fastest way?", "What dose of ibuprofen can a child take?", "Can I sue my landlord?"] {
            let mut c = Cascade::new(policy(), q, Some("en"));
            let d = c.start(ALL).unwrap();
            assert_eq!((d.route, d.reason.code(), d.fallback), (Route::Server, "critical_topic", false), "{q}");
            assert_eq!(c.phase(), Phase::Server);
            // No local work is possible after that.
            assert!(c.after_prefill(prompt(0.1)).is_err());
        }
        let mut c = Cascade::new(policy(), "Why is the sky blue?", Some("te-IN"));
        assert_eq!(c.start(ALL).unwrap().reason, Reason::LanguageRule { lang: "te-in".into() });
    }

    #[test]
    fn prefill_threshold() {
        let mut c = Cascade::new(policy(), "What is the capital of France?", Some("en"));
        assert_eq!(c.start(ALL).unwrap().route, Route::Local);
        assert_eq!(c.phase(), Phase::Prefill);
        let d = c.after_prefill(prompt(2.0)).unwrap();
        assert_eq!((d.route, d.reason.code()), (Route::Local, "confident"));
        let mut c = Cascade::new(policy(), "What is the capital of France?", Some("en"));
        c.start(ALL).unwrap();
        let d = c.after_prefill(prompt(6.0)).unwrap();
        assert_eq!((d.route, d.reason.code()), (Route::Server, "low_confidence"));
        // Exactly at the threshold stays local.
        let mut c = Cascade::new(policy(), "x", None);
        c.start(ALL).unwrap();
        assert_eq!(c.after_prefill(prompt(4.0)).unwrap().route, Route::Local);
    }

    #[test]
    fn confidence_collapse_escalates_mid_answer_after_min_tokens() {
        let mut c = Cascade::new(policy(), "Explain photosynthesis", Some("en"));
        c.start(ALL).unwrap();
        c.after_prefill(prompt(2.0)).unwrap();
        // Confident tokens: continue. Uncertain ones before min_tokens: still continue.
        for _ in 0..2 {
            assert_eq!(c.on_token(tok(0.95)).unwrap(), Step::Continue);
        }
        assert_eq!(c.on_token(tok(0.05)).unwrap(), Step::Continue); // 3 < min_tokens
        assert_eq!(c.on_token(tok(0.9)).unwrap(), Step::Continue); // window mean 0.71
        assert_eq!(c.on_token(tok(0.15)).unwrap(), Step::Continue); // window mean 0.5125
        let step = c.on_token(tok(0.05)).unwrap(); // window mean 0.2875
        let Step::Escalate { decision } = step else { panic!("{step:?}") };
        assert_eq!(decision.route, Route::Server);
        assert!(matches!(decision.reason, Reason::ConfidenceCollapse { at_token: 6, .. }), "{decision:?}");
        assert!(decision.message.contains("after 6 tokens"));
        assert_eq!(c.phase(), Phase::Server);
        assert!(c.on_token(tok(0.9)).is_err());
    }

    #[test]
    fn no_escalation_late_in_the_answer() {
        let mut p = policy();
        p.max_escalate_tokens = 5;
        let mut c = Cascade::new(p, "Explain photosynthesis", None);
        c.start(ALL).unwrap();
        c.after_prefill(prompt(2.0)).unwrap();
        for _ in 0..5 {
            c.on_token(tok(0.9)).unwrap();
        }
        assert_eq!(c.on_token(tok(0.01)).unwrap(), Step::Continue);
    }

    #[test]
    fn fallbacks_both_ways() {
        // Model not downloaded → server, marked as fallback.
        let mut c = Cascade::new(policy(), "What is 2+2?", None);
        let d = c.start(Availability { model_ready: false, ..ALL }).unwrap();
        assert_eq!((d.route, d.reason.code(), d.fallback), (Route::Server, "model_unavailable", true));
        // ... and then the server fails too: nothing can answer.
        let d = c.server_failed().unwrap();
        assert_eq!((d.route, d.fallback), (Route::Unavailable, true));
        // No compute → server.
        let mut c = Cascade::new(policy(), "What is 2+2?", None);
        assert_eq!(c.start(Availability { compute: false, ..ALL }).unwrap().reason, Reason::NoCompute);
        // Escalated, then the server is unreachable → local answer, marked, never escalates again.
        let mut c = Cascade::new(policy(), "What is 2+2?", None);
        c.start(ALL).unwrap();
        c.after_prefill(prompt(9.0)).unwrap();
        let d = c.server_failed().unwrap();
        assert_eq!((d.route, d.reason.code(), d.fallback), (Route::Local, "server_unreachable", true));
        assert!(d.message.contains("could not be reached"));
        for _ in 0..10 {
            assert_eq!(c.on_token(tok(0.01)).unwrap(), Step::Continue);
        }
        // No server configured: local, marked, even for a critical topic.
        let mut c = Cascade::new(policy(), "Can I sue my landlord?", None);
        let d = c.start(Availability { server: false, ..ALL }).unwrap();
        assert_eq!((d.route, d.reason.code(), d.fallback), (Route::Local, "server_unreachable", true));
        // Neither side.
        let mut c = Cascade::new(policy(), "hi", None);
        assert_eq!(c.start(Availability { model_ready: false, compute: false, server: false }).unwrap().route, Route::Unavailable);
        // Calls out of order are typed errors.
        let mut c = Cascade::new(policy(), "hi", None);
        assert!(matches!(c.on_token(tok(0.5)), Err(RouteError::WrongPhase { call: "on_token", .. })));
        assert!(c.server_failed().is_err());
    }

    #[test]
    fn calibrated_policy_loads() {
        let p = RoutePolicy::calibrated().unwrap();
        assert!(!p.critical_topics.is_empty());
        let mut c = Cascade::new(p, "What is the boiling point of water?", Some("en"));
        assert_eq!(c.start(ALL).unwrap().route, Route::Local);
    }
}
