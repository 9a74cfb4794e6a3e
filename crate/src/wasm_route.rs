//! The router's wasm-bindgen surface: a TS worker drives one question's cascade. The worker runs
//! the model (`TutorEngine`) and the network; this object only decides. Every decision comes
//! back as a plain JS object: `{ route, reason: { kind, ... }, fallback, message }`.

use js_sys::JSON;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::route::cascade::{Availability, Cascade};
use crate::route::policy::RoutePolicy;
use crate::route::signals::{PromptStats, TokenStats};
use crate::route::telemetry::{route_event, TelemetryConfig};
use crate::route::RouteError;

fn js_error(kind: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&e, &"kind".into(), &kind.into());
    e.into()
}

fn route_error(e: RouteError) -> JsValue {
    let kind = match &e {
        RouteError::BadPolicy(_) => "bad_policy",
        RouteError::Calibration(_) => "calibration",
        RouteError::WrongPhase { .. } => "wrong_phase",
    };
    js_error(kind, &e.to_string())
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    let s = serde_json::to_string(v).map_err(|e| js_error("serialize", &e.to_string()))?;
    JSON::parse(&s)
}

/// A policy from `tutor eval` (policy.json), or the shipped one for the model with this sha256.
fn policy_from(policy_json: Option<String>, model_sha256: Option<&str>) -> Result<RoutePolicy, JsValue> {
    match policy_json {
        Some(j) => RoutePolicy::from_json(&j),
        None => RoutePolicy::calibrated_for_model(model_sha256),
    }
    .map_err(route_error)
}

/// The JSON of the shipped route policy calibrated on the model file whose sha256 is
/// `model_sha256` (SmolLM2-135M-Instruct, Gemma 3 270M), else of the default one: what the
/// worker routes with when the page gives no policy.
#[wasm_bindgen(js_name = shippedPolicy)]
pub fn shipped_policy(model_sha256: Option<String>) -> Result<String, JsValue> {
    Ok(policy_from(None, model_sha256.as_deref())?.to_json())
}

/// Whether the route policy (`policy_json`, or the shipped one for this model) was calibrated
/// on the model file whose sha256 is `model_sha256`: null when it was, else the sentence to show
/// (the policy still routes, on another model's scale). A manifest without the file's sha256
/// cannot tell, and says so.
#[wasm_bindgen(js_name = policyMismatch)]
pub fn policy_mismatch(policy_json: Option<String>, model_sha256: Option<String>) -> Result<Option<String>, JsValue> {
    let policy = policy_from(policy_json, model_sha256.as_deref())?;
    Ok(match model_sha256 {
        Some(sha) => policy.model_mismatch(&sha),
        None => Some("the model's manifest does not give the file's sha256, so whether the route policy was calibrated on it is unknown".into()),
    })
}

#[wasm_bindgen]
pub struct TutorRouter {
    cascade: Cascade,
    question: String,
    lang: Option<String>,
    score: Option<f32>,
}

#[wasm_bindgen]
impl TutorRouter {
    /// One question's router. `policy_json`: a policy from `tutor eval` (policy.json; see
    /// `shippedPolicy`); omitted, the default one.
    #[wasm_bindgen(constructor)]
    pub fn new(question: &str, lang: Option<String>, policy_json: Option<String>) -> Result<TutorRouter, JsValue> {
        let policy = policy_from(policy_json, None)?;
        Ok(Self { cascade: Cascade::new(policy, question, lang.as_deref()), question: question.to_string(), lang, score: None })
    }

    /// First decision: rules and what the device can do.
    pub fn start(&mut self, model_ready: bool, compute: bool, server: bool) -> Result<JsValue, JsValue> {
        let d = self.cascade.start(Availability { model_ready, compute, server }).map_err(route_error)?;
        to_js(&d)
    }

    /// How many of the prompt's last tokens the policy's prompt features score: pass it to
    /// `TutorEngine.measurePrompt`.
    #[wasm_bindgen(getter, js_name = promptTail)]
    pub fn prompt_tail(&self) -> u32 {
        self.cascade.policy().prompt_tail as u32
    }

    /// After the prefill, with `TutorEngine.promptStats()` and the question's own token count
    /// (`TutorEngine.tokenize(question).length`).
    #[wasm_bindgen(js_name = afterPrefill)]
    pub fn after_prefill(&mut self, question_tokens: u32, tokens: u32, scored: u32, mean_nll: f32, max_nll: f32) -> Result<JsValue, JsValue> {
        let scored = scored as usize;
        let p = PromptStats { tokens: tokens as usize, question_tokens: question_tokens as usize, scored, sum_nll: mean_nll as f64 * scored as f64, max_nll };
        let d = self.cascade.after_prefill(p).map_err(route_error)?;
        if let crate::route::policy::Reason::Confident { score, .. } | crate::route::policy::Reason::LowConfidence { score, .. } = d.reason {
            self.score = Some(score);
        }
        to_js(&d)
    }

    /// After each token, with the chunk's `stats`: `{ action: "continue" }` or
    /// `{ action: "escalate", decision }`.
    #[wasm_bindgen(js_name = onToken)]
    pub fn on_token(&mut self, logprob: f32, entropy: f32, top1: f32) -> Result<JsValue, JsValue> {
        let step = self.cascade.on_token(TokenStats { logprob, entropy, top1 }).map_err(route_error)?;
        to_js(&step)
    }

    /// The server failed: local fallback (marked) or unavailable.
    #[wasm_bindgen(js_name = serverFailed)]
    pub fn server_failed(&mut self) -> Result<JsValue, JsValue> {
        let d = self.cascade.server_failed().map_err(route_error)?;
        to_js(&d)
    }

    /// "routing" | "prefill" | "local" | "server" | "unavailable".
    pub fn phase(&self) -> Result<JsValue, JsValue> {
        to_js(&self.cascade.phase())
    }

    /// The telemetry event for the finished question. `config_json`: a `TelemetryConfig`
    /// (`{"include_question_text":false,"shadow_fraction":0.05,...}`); `shadow` in the result
    /// says whether to also send this local answer to the server.
    #[wasm_bindgen(js_name = telemetryEvent)]
    pub fn telemetry_event(&self, config_json: &str, latency_ms: f64, prompt_tokens: u32, answer_tokens: u32) -> Result<JsValue, JsValue> {
        let cfg: TelemetryConfig = serde_json::from_str(config_json).map_err(|e| js_error("bad_config", &e.to_string()))?;
        let Some(d) = self.cascade.decision() else { return Err(js_error("wrong_phase", "no route decided yet")) };
        let at = match &d.reason {
            crate::route::policy::Reason::ConfidenceCollapse { at_token, .. } => Some(*at_token),
            _ => None,
        };
        let e = route_event(&cfg, d, self.score, &self.question, self.lang.as_deref(), latency_ms, prompt_tokens as usize, answer_tokens as usize, at);
        to_js(&e)
    }
}
