//! Route policy: a calibrated score of "the local model will answer this correctly", thresholds,
//! always-escalate rules (critical topics, languages), and the typed decision with its reason.

use serde::{Deserialize, Serialize};

use super::signals::{AnswerStats, PromptStats, QuestionSignals, Script};
use super::RouteError;

/// Names of the score's features, in order. The first `PRE_FEATURES` are known before generation
/// (question text + prefill); the rest describe the answer (a window of generated tokens).
pub const FEATURES: [&str; 17] = [
    "ln_chars",
    "ln_question_tokens",
    "digit_share",
    "math_markers",
    "multistep_markers",
    "code_markers",
    "script_cyrillic",
    "script_cjk",
    "script_indic",
    "script_arabic",
    "script_other",
    "prompt_mean_nll",
    "prompt_max_nll",
    "answer_mean_logprob",
    "answer_mean_entropy",
    "answer_min_top1",
    "answer_mean_top1",
];
pub const PRE_FEATURES: usize = 13;

/// Feature values; `None` where a signal is not available (it then counts as the training mean).
pub fn features(q: &QuestionSignals, p: Option<&PromptStats>, a: Option<&AnswerStats>) -> [Option<f32>; 17] {
    let script = |s: Script| Some(if q.script == s { 1.0 } else { 0.0 });
    [
        Some((1.0 + q.chars as f32).ln()),
        p.filter(|p| p.question_tokens > 0).map(|p| (1.0 + p.question_tokens as f32).ln()),
        Some(q.digit_share),
        Some((q.math_markers as f32).min(10.0)),
        Some((q.multistep_markers as f32).min(10.0)),
        Some((q.code_markers as f32).min(10.0)),
        script(Script::Cyrillic),
        script(Script::Cjk),
        script(Script::Indic),
        script(Script::Arabic),
        script(Script::Other),
        p.filter(|p| p.scored > 0).map(|p| p.mean_nll()),
        p.filter(|p| p.scored > 0).map(|p| p.max_nll),
        a.map(|a| a.mean_logprob),
        a.map(|a| a.mean_entropy),
        a.map(|a| a.min_top1),
        a.map(|a| a.mean_top1),
    ]
}

/// A logistic model over standardized features: P(local answer correct) = σ(b + Σ wᵢ·zᵢ),
/// zᵢ = (xᵢ − meanᵢ)/scaleᵢ, a missing xᵢ counting as zᵢ = 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearScore {
    pub features: Vec<String>,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub weights: Vec<f32>,
    pub bias: f32,
}

impl LinearScore {
    /// Check shapes and that every feature name is known.
    pub fn validate(&self) -> Result<(), RouteError> {
        let n = self.features.len();
        if self.mean.len() != n || self.scale.len() != n || self.weights.len() != n {
            return Err(RouteError::BadPolicy(format!(
                "score has {n} features but {} means, {} scales, {} weights",
                self.mean.len(),
                self.scale.len(),
                self.weights.len()
            )));
        }
        if let Some(f) = self.features.iter().find(|f| !FEATURES.contains(&f.as_str())) {
            return Err(RouteError::BadPolicy(format!("unknown feature {f:?}")));
        }
        if self.scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) || !self.bias.is_finite() {
            return Err(RouteError::BadPolicy("scales must be positive and finite".into()));
        }
        Ok(())
    }

    pub fn score(&self, x: &[Option<f32>; 17]) -> f32 {
        let mut z = self.bias;
        for (i, name) in self.features.iter().enumerate() {
            let Some(j) = FEATURES.iter().position(|f| f == name) else { continue };
            if let Some(v) = x[j].filter(|v| v.is_finite()) {
                z += self.weights[i] * (v - self.mean[i]) / self.scale[i];
            }
        }
        1.0 / (1.0 + (-z).exp())
    }
}

/// Always escalate questions that mention one of `keywords` (case-insensitive; a keyword of
/// ASCII letters must match whole words).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicRule {
    pub topic: String,
    pub keywords: Vec<String>,
}

impl TopicRule {
    pub fn matches(&self, lower_text: &str) -> bool {
        self.keywords.iter().any(|k| contains_word(lower_text, &k.to_lowercase()))
    }
}

fn contains_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let ascii_word = word.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-' || c == '\'');
    if !ascii_word {
        return text.contains(word);
    }
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    text.match_indices(word)
        .any(|(i, _)| boundary(text[..i].chars().next_back()) && boundary(text[i + word.len()..].chars().next()))
}

/// Where an answer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    Local,
    Server,
    /// Neither the local model nor the server can answer.
    Unavailable,
}

/// Why the router chose its route: carried on the chunk stream and in telemetry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The local model's score cleared the threshold.
    Confident { score: f32, threshold: f32 },
    /// The question names a topic the site always sends to the server.
    CriticalTopic { topic: String },
    /// The audit showed the local model fails this language.
    LanguageRule { lang: String },
    /// Before generating: the score (question + prompt perplexity) is under the threshold.
    LowConfidence { score: f32, threshold: f32 },
    /// During generation: the running score over the last tokens fell under the threshold.
    ConfidenceCollapse { score: f32, threshold: f32, at_token: usize },
    /// The local model is not downloaded/loaded yet.
    ModelUnavailable,
    /// No WebGPU and no CPU capacity for the local model.
    NoCompute,
    /// The server could not be reached: the local model answers instead.
    ServerUnreachable,
}

impl Reason {
    /// Short machine-readable code (telemetry, CSS classes).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Confident { .. } => "confident",
            Reason::CriticalTopic { .. } => "critical_topic",
            Reason::LanguageRule { .. } => "language_rule",
            Reason::LowConfidence { .. } => "low_confidence",
            Reason::ConfidenceCollapse { .. } => "confidence_collapse",
            Reason::ModelUnavailable => "model_unavailable",
            Reason::NoCompute => "no_compute",
            Reason::ServerUnreachable => "server_unreachable",
        }
    }

    /// A sentence for the student.
    pub fn message(&self) -> String {
        match self {
            Reason::Confident { .. } => "Answered on your device.".into(),
            Reason::CriticalTopic { topic } => {
                format!("This looks like a {topic} question, so the tutor server answers it.")
            }
            Reason::LanguageRule { lang } => {
                format!("The on-device model is not reliable in this language ({lang}), so the tutor server answers.")
            }
            Reason::LowConfidence { .. } => "This question looks hard for the on-device model, so the tutor server answers.".into(),
            Reason::ConfidenceCollapse { at_token, .. } => format!(
                "The on-device model became unsure after {at_token} tokens, so the tutor server answers instead."
            ),
            Reason::ModelUnavailable => "The on-device model is not downloaded yet, so the tutor server answers.".into(),
            Reason::NoCompute => "This device cannot run the on-device model, so the tutor server answers.".into(),
            Reason::ServerUnreachable => {
                "The tutor server could not be reached: this answer comes from the on-device model and may be less reliable.".into()
            }
        }
    }
}

/// A route with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteDecision {
    pub route: Route,
    pub reason: Reason,
    /// True when this route is a fallback (the preferred one was not possible).
    pub fallback: bool,
    /// Student-facing explanation (`reason.message()`).
    pub message: String,
}

impl RouteDecision {
    pub fn new(route: Route, reason: Reason, fallback: bool) -> Self {
        let message = reason.message();
        Self { route, reason, fallback, message }
    }
}

/// Everything the router decides with. Serializable so a site can ship its own (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutePolicy {
    /// Score from the question and the prefill (decided before generating).
    pub pre: LinearScore,
    /// Score including the answer window (decided while generating).
    pub full: LinearScore,
    /// Escalate before generating when `pre` < this.
    pub threshold_pre: f32,
    /// Escalate mid-answer when `full` over the window < this.
    pub threshold_full: f32,
    /// Tokens in the confidence window.
    pub window: usize,
    /// No mid-answer decision before this many generated tokens.
    pub min_tokens: usize,
    /// No mid-answer escalation after this many generated tokens (the answer is mostly shown).
    pub max_escalate_tokens: usize,
    pub critical_topics: Vec<TopicRule>,
    /// Language codes (as the site reports them, e.g. "bn") always sent to the server.
    pub escalate_languages: Vec<String>,
    /// The prompt-perplexity features score the prompt's last this many tokens (the end of the
    /// question and the framing's turn marker), measured during the answer's own prefill.
    #[serde(default = "default_prompt_tail")]
    pub prompt_tail: usize,
    /// The prompt the features were calibrated on, `{question}` standing for the question (the
    /// npm package's default tutor prompt; its test checks the two agree).
    #[serde(default = "default_framing")]
    pub framing: String,
    /// The model file the features were measured on. Its scores are on that model's scale: used
    /// with another model, the policy still routes, and [`RoutePolicy::model_mismatch`] says so.
    #[serde(default)]
    pub calibrated_for: Option<CalibratedFor>,
}

/// A model file, by name and content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalibratedFor {
    /// The GGUF file name (e.g. "gemma-3-270m-q4_k_m.gguf").
    pub model: String,
    /// The whole file's sha256, lowercase hex.
    pub sha256: String,
}

/// Prompt tokens scored for the prompt-perplexity features.
pub const DEFAULT_PROMPT_TAIL: usize = 16;

fn default_prompt_tail() -> usize {
    DEFAULT_PROMPT_TAIL
}

/// The framing the policy was calibrated on: the plain tutor framing of one question
/// ([`crate::template`]'s, for a model without a chat template).
pub use crate::template::{frame, PLAIN_FRAMING as DEFAULT_FRAMING};

/// The policies `tutor eval` calibrated (copies of eval/<model>/policy.json), the default first.
const SHIPPED: [&str; 2] = [include_str!("policies/smollm2-135m-instruct-q4_1.json"), include_str!("policies/gemma-3-270m-q4_k_m.json")];

fn default_framing() -> String {
    DEFAULT_FRAMING.to_string()
}


impl RoutePolicy {
    /// `None` when the policy was calibrated on the model file with this sha256; else the
    /// sentence to show (the policy is applied anyway, as the best one at hand).
    pub fn model_mismatch(&self, sha256: &str) -> Option<String> {
        match &self.calibrated_for {
            Some(c) if c.sha256.eq_ignore_ascii_case(sha256) => None,
            Some(c) => Some(format!(
                "the route policy was calibrated on {} (sha256 {}…), not on this model (sha256 {}…): its thresholds may not fit",
                c.model,
                &c.sha256[..c.sha256.len().min(12)],
                &sha256[..sha256.len().min(12)]
            )),
            None => Some("the route policy does not say which model it was calibrated on".into()),
        }
    }

    /// The policy `tutor eval` calibrated on the tutor's default model, SmolLM2-135M-Instruct
    /// (eval/smollm2-135m-instruct-q4_1/report.md).
    pub fn calibrated() -> Result<Self, RouteError> {
        Self::from_json(SHIPPED[0])
    }

    /// The shipped policy calibrated on the model file with this sha256 (SmolLM2-135M-Instruct
    /// or Gemma 3 270M, eval/*/report.md); for any other model, or none named, [`Self::calibrated`].
    pub fn calibrated_for_model(sha256: Option<&str>) -> Result<Self, RouteError> {
        for json in SHIPPED {
            let p = Self::from_json(json)?;
            if sha256.is_some_and(|sha| p.model_mismatch(sha).is_none()) {
                return Ok(p);
            }
        }
        Self::calibrated()
    }

    pub fn from_json(json: &str) -> Result<Self, RouteError> {
        let p: RoutePolicy = serde_json::from_str(json).map_err(|e| RouteError::BadPolicy(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn validate(&self) -> Result<(), RouteError> {
        self.pre.validate()?;
        self.full.validate()?;
        for (name, t) in [("threshold_pre", self.threshold_pre), ("threshold_full", self.threshold_full)] {
            if !(0.0..=1.0).contains(&t) {
                return Err(RouteError::BadPolicy(format!("{name} must be in [0, 1], got {t}")));
            }
        }
        if self.window == 0 {
            return Err(RouteError::BadPolicy("window must be at least 1 token".into()));
        }
        if self.prompt_tail == 0 || self.prompt_tail > 256 {
            return Err(RouteError::BadPolicy(format!("prompt_tail must be 1..=256 tokens, got {}", self.prompt_tail)));
        }
        if !self.framing.contains("{question}") {
            return Err(RouteError::BadPolicy("framing must contain {question}".into()));
        }
        Ok(())
    }

    /// The rules that hold whatever the model says: critical topics, then language rules.
    pub fn rule_for(&self, question: &str, lang: Option<&str>) -> Option<Reason> {
        let lower = question.to_lowercase();
        if let Some(rule) = self.critical_topics.iter().find(|r| r.matches(&lower)) {
            return Some(Reason::CriticalTopic { topic: rule.topic.clone() });
        }
        let lang = lang?.trim().to_lowercase();
        let primary = lang.split(['-', '_']).next().unwrap_or("");
        self.escalate_languages
            .iter()
            .find(|l| l.to_lowercase() == lang || l.to_lowercase() == primary)
            .map(|_| Reason::LanguageRule { lang })
    }
}

/// Default always-escalate topics. Sites replace these in their policy JSON.
pub fn default_critical_topics() -> Vec<TopicRule> {
    let rule = |topic: &str, kw: &[&str]| TopicRule { topic: topic.into(), keywords: kw.iter().map(|s| s.to_string()).collect() };
    vec![
        rule("self-harm", &[
            "suicide", "suicidal", "kill myself", "end my life", "self-harm", "self harm", "hurt myself", "cutting myself",
            "suicidio", "suicidarme", "me quiero morir", "suicide", "me suicider", "selbstmord", "suizid", "суицид",
            "покончить с собой", "आत्महत्या", "আত্মহত্যা", "自杀", "自殺", "kujiua",
        ]),
        rule("medical", &[
            "dosage", "dose", "overdose", "medication", "prescription", "symptom", "symptoms", "diagnosis", "diagnose",
            "pregnant", "pregnancy", "side effects", "antibiotic", "antibiotics", "ibuprofen", "paracetamol", "insulin",
            "dosis", "medicamento", "síntomas", "embarazada", "médicament", "symptômes", "enceinte", "medikament",
            "symptome", "schwanger", "лекарство", "симптомы", "दवा", "ওষুধ", "药物", "症状", "dawa",
        ]),
        rule("legal", &[
            "lawsuit", "sue", "lawyer", "attorney", "illegal", "arrested", "custody", "visa", "deportation", "contract law",
            "abogado", "demanda", "ilegal", "avocat", "procès", "anwalt", "klage", "адвокат", "суд", "वकील", "আইনজীবী", "律师", "弁護士",
        ]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(n: usize) -> LinearScore {
        LinearScore {
            features: FEATURES[..n].iter().map(|s| s.to_string()).collect(),
            mean: vec![0.0; n],
            scale: vec![1.0; n],
            weights: vec![0.0; n],
            bias: 0.0,
        }
    }

    #[test]
    fn word_matching() {
        assert!(contains_word("can i sue my school?", "sue"));
        assert!(!contains_word("the issue is", "sue"));
        assert!(!contains_word("pursue it", "sue"));
        assert!(contains_word("what dose of ibuprofen", "dose"));
        assert!(contains_word("क्या दवा लूं", "दवा"));
        assert!(!contains_word("anything", ""));
    }

    #[test]
    fn rules_and_validation() {
        let p = RoutePolicy {
            pre: flat(PRE_FEATURES),
            full: flat(17),
            threshold_pre: 0.5,
            threshold_full: 0.5,
            window: 8,
            min_tokens: 4,
            max_escalate_tokens: 200,
            critical_topics: default_critical_topics(),
            escalate_languages: vec!["bn".into()],
            prompt_tail: DEFAULT_PROMPT_TAIL,
            framing: DEFAULT_FRAMING.into(),
            calibrated_for: None,
        };
        assert!(p.validate().is_ok());
        assert_eq!(p.rule_for("I want to KILL MYSELF", None), Some(Reason::CriticalTopic { topic: "self-harm".into() }));
        assert_eq!(p.rule_for("What is the maximum dose of paracetamol?", Some("en")).map(|r| r.code()), Some("critical_topic"));
        assert_eq!(p.rule_for("What is 2+2?", Some("bn-IN")), Some(Reason::LanguageRule { lang: "bn-in".into() }));
        assert_eq!(p.rule_for("What is 2+2?", Some("en")), None);
        let back = RoutePolicy::from_json(&p.to_json()).unwrap();
        assert_eq!(back, p);
        let mut bad = p.clone();
        bad.threshold_pre = 1.5;
        assert!(matches!(bad.validate(), Err(RouteError::BadPolicy(_))));
        let mut bad = p.clone();
        bad.prompt_tail = 0;
        assert!(bad.validate().is_err());
        let mut bad = p.clone();
        bad.framing = "Question: ?".into();
        assert!(bad.validate().is_err());
        assert_eq!(frame(&p.framing, "  Why?\n").lines().nth(5), Some("Student: Why?"));
        let mut bad = p.clone();
        bad.full.features[0] = "nonsense".into();
        assert!(bad.validate().is_err());
        assert!(RoutePolicy::from_json("{").is_err());
    }

    #[test]
    fn score_uses_named_features_and_treats_missing_as_mean() {
        let mut s = flat(PRE_FEATURES);
        let j = FEATURES.iter().position(|f| *f == "prompt_mean_nll").unwrap();
        s.weights[j] = -1.0;
        s.mean[j] = 3.0;
        let q = QuestionSignals::of("hello");
        let mut p = PromptStats { tokens: 3, ..Default::default() };
        p.push_nll(5.0);
        p.push_nll(5.0);
        let x = features(&q, Some(&p), None);
        assert!(s.score(&x) < 0.5); // nll above the mean lowers the score
        let x = features(&q, None, None);
        assert!((s.score(&x) - 0.5).abs() < 1e-6); // missing → mean → bias only
    }

    #[test]
    fn each_shipped_policy_names_its_model_and_a_mismatch_is_said() {
        let smollm2 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
        let gemma = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
        let p = RoutePolicy::calibrated().unwrap();
        let c = p.calibrated_for.clone().unwrap();
        assert_eq!((c.model.as_str(), c.sha256.as_str()), ("smollm2-135m-instruct-q4_1.gguf", smollm2));
        assert!(p.framing.contains("<|im_start|>user\n{question}<|im_end|>"), "{}", p.framing);
        assert_eq!(p.model_mismatch(&smollm2.to_uppercase()), None);
        let m = p.model_mismatch(gemma).unwrap();
        assert!(m.contains("smollm2-135m-instruct-q4_1.gguf") && m.contains("a5fd3b62230a"), "{m}");
        let g = RoutePolicy::calibrated_for_model(Some(gemma)).unwrap();
        assert_eq!(g.calibrated_for.as_ref().map(|c| c.model.as_str()), Some("gemma-3-270m-q4_k_m.gguf"));
        assert_eq!(g.framing, DEFAULT_FRAMING);
        assert_eq!(RoutePolicy::calibrated_for_model(Some(smollm2)).unwrap().calibrated_for, p.calibrated_for);
        for other in [Some("00"), None] {
            assert_eq!(RoutePolicy::calibrated_for_model(other).unwrap().calibrated_for, p.calibrated_for, "the default otherwise");
        }
        let anonymous = RoutePolicy { calibrated_for: None, ..p };
        assert!(anonymous.model_mismatch(smollm2).unwrap().contains("does not say"));
    }

    #[test]
    fn the_shipped_policies_are_the_eval_reports_policies() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        for (json, model) in SHIPPED.iter().zip(["smollm2-135m-instruct-q4_1", "gemma-3-270m-q4_k_m"]) {
            let report = std::fs::read_to_string(format!("{root}/eval/{model}/policy.json")).unwrap();
            assert_eq!(*json, report, "crate/src/route/policies/{model}.json is not eval/{model}/policy.json");
        }
    }
}
