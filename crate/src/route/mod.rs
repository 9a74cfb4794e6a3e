//! Route stage: decide whether the local model answers or the server does, before and during
//! generation, and say why. Pure logic (no I/O, no clock): the same code runs natively and in
//! the browser (through `wasm_route.rs`).
//!
//! - [`signals`]: question cues, prompt perplexity from the prefill, per-token confidence.
//! - [`policy`]: the calibrated score, thresholds, critical-topic and language rules, typed reasons.
//! - [`cascade`]: one question's route as a state machine (start → prefill → tokens → escalate).
//! - [`calibrate`]: fit the score and pick thresholds on labelled questions.
//! - [`metrics`]: AUROC and accuracy-vs-escalation curves.
//! - [`telemetry`]: route events and the shadow-sampling decision.

pub mod calibrate;
pub mod cascade;
pub mod metrics;
pub mod policy;
pub mod signals;
pub mod telemetry;

use cascade::Phase;

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("invalid route policy: {0}")]
    BadPolicy(String),
    #[error("calibration failed: {0}")]
    Calibration(String),
    #[error("cascade: {call} is not allowed in phase {phase:?}")]
    WrongPhase { call: &'static str, phase: Phase },
}
