//! Router signals: what the question looks like, how surprised the local model was by the
//! prompt (prefill), and how sure it is of each token it generates. Pure functions over text and
//! logits; no I/O.

use serde::{Deserialize, Serialize};

use crate::forward::backend::TopLogits;

/// The local model's confidence in one generated token, from the raw logits the sampler saw
/// (before penalties or temperature).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TokenStats {
    /// Natural-log probability of the chosen token.
    pub logprob: f32,
    /// Entropy of the next-token distribution, in nats.
    pub entropy: f32,
    /// Probability of the most likely token.
    pub top1: f32,
}

/// Log-sum-exp and max of a logits row, computed stably.
fn lse_max(logits: &[f32]) -> (f32, f32) {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return (max, max);
    }
    let sum: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
    (max + sum.ln() as f32, max)
}

/// Stats of `token` under the distribution softmax(`logits`). An empty or non-finite row gives
/// the maximal-uncertainty value (logprob -inf, entropy ln(vocab), top1 0).
pub fn token_stats(logits: &[f32], token: u32) -> TokenStats {
    let (lse, max) = lse_max(logits);
    if !lse.is_finite() || logits.is_empty() {
        return TokenStats { logprob: f32::NEG_INFINITY, entropy: (logits.len().max(1) as f32).ln(), top1: 0.0 };
    }
    // H = lse - sum p * l
    let mut expect = 0.0f64;
    for &l in logits {
        let p = ((l - lse) as f64).exp();
        expect += p * l as f64;
    }
    let logprob = logits.get(token as usize).map_or(f32::NEG_INFINITY, |&l| l - lse);
    TokenStats { logprob, entropy: (lse as f64 - expect).max(0.0) as f32, top1: (max - lse).exp() }
}

/// [`token_stats`] from the best logits alone, with logsumexp and entropy computed over the
/// whole vocabulary (what the GPU reads back instead of every logit). A token outside `top`
/// gets logprob -inf.
pub fn top_token_stats(top: &TopLogits, token: u32) -> TokenStats {
    let logprob = top.ids.iter().position(|&t| t == token).map_or(f32::NEG_INFINITY, |i| top.logits[i] - top.log_z);
    let top1 = top.logits.first().map_or(0.0, |&l| (l - top.log_z).exp());
    TokenStats { logprob, entropy: top.entropy.max(0.0), top1 }
}

/// Negative log-likelihood of `token` under softmax(`logits`), in nats.
pub fn token_nll(logits: &[f32], token: u32) -> f32 {
    let (lse, _) = lse_max(logits);
    logits.get(token as usize).map_or(f32::INFINITY, |&l| lse - l)
}

/// How surprising the prompt was to the local model: the prefill's per-token negative
/// log-likelihoods (token i+1 under the logits at position i), accumulated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptStats {
    /// Prompt tokens (including BOS and the framing around the question).
    pub tokens: usize,
    /// Tokens of the question alone (its own tokenization, no BOS): its length in the model's
    /// vocabulary, whatever framing surrounds it.
    #[serde(default)]
    pub question_tokens: usize,
    /// Tokens whose likelihood was scored (the prompt's last ones: the policy's `prompt_tail`).
    pub scored: usize,
    pub sum_nll: f64,
    pub max_nll: f32,
}

impl PromptStats {
    /// Score a prompt's last tokens from the logits of its last k positions (`rows`: (k, vocab),
    /// as `Model::forward_tail` returns them): rows 0..k-1 predict the last k-1 prompt tokens
    /// (the last row is the next token's).
    pub fn of_tail(ids: &[u32], rows: &[f32], vocab: usize) -> Self {
        let k = rows.len().checked_div(vocab).unwrap_or(0).min(ids.len());
        let mut ps = PromptStats { tokens: ids.len(), ..Default::default() };
        for (r, row) in rows.chunks(vocab).take(k.saturating_sub(1)).enumerate() {
            ps.push_nll(token_nll(row, ids[ids.len() - k + r + 1]));
        }
        ps
    }

    pub fn push_nll(&mut self, nll: f32) {
        if nll.is_finite() {
            self.scored += 1;
            self.sum_nll += nll as f64;
            self.max_nll = self.max_nll.max(nll);
        }
    }
    /// Mean NLL per scored token (the log of the prompt perplexity); 0 when nothing was scored.
    pub fn mean_nll(&self) -> f32 {
        if self.scored == 0 {
            0.0
        } else {
            (self.sum_nll / self.scored as f64) as f32
        }
    }
    pub fn perplexity(&self) -> f32 {
        self.mean_nll().exp()
    }
}

/// Aggregate of the token stats over an answer (or a window of it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnswerStats {
    pub tokens: usize,
    pub mean_logprob: f32,
    pub mean_entropy: f32,
    pub min_top1: f32,
    pub mean_top1: f32,
}

impl AnswerStats {
    pub fn of(tokens: &[TokenStats]) -> Option<Self> {
        if tokens.is_empty() {
            return None;
        }
        let n = tokens.len() as f32;
        // A -inf logprob (token outside the row) is clamped so means stay finite.
        let lp = |t: &TokenStats| t.logprob.max(-30.0);
        Some(Self {
            tokens: tokens.len(),
            mean_logprob: tokens.iter().map(lp).sum::<f32>() / n,
            mean_entropy: tokens.iter().map(|t| t.entropy).sum::<f32>() / n,
            min_top1: tokens.iter().map(|t| t.top1).fold(1.0, f32::min),
            mean_top1: tokens.iter().map(|t| t.top1).sum::<f32>() / n,
        })
    }
}

/// Writing system of a question (by the majority of its letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Script {
    Latin,
    Cyrillic,
    /// Han, kana, Hangul.
    Cjk,
    /// Devanagari, Bengali, Gurmukhi, Gujarati, Oriya, Tamil, Telugu, Kannada, Malayalam, Sinhala.
    Indic,
    /// Arabic and Hebrew.
    Arabic,
    Other,
}

impl Script {
    pub fn of_char(c: char) -> Option<Script> {
        let u = c as u32;
        if !c.is_alphabetic() {
            return None;
        }
        Some(match u {
            0x0041..=0x024F | 0x1E00..=0x1EFF => Script::Latin,
            0x0370..=0x03FF => Script::Other, // Greek
            0x0400..=0x052F => Script::Cyrillic,
            0x0590..=0x06FF | 0x0750..=0x077F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => Script::Arabic,
            0x0900..=0x0DFF => Script::Indic,
            0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF => Script::Cjk,
            _ => Script::Other,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Script::Latin => "latin",
            Script::Cyrillic => "cyrillic",
            Script::Cjk => "cjk",
            Script::Indic => "indic",
            Script::Arabic => "arabic",
            Script::Other => "other",
        }
    }
}

/// Cues in the question text alone (computed before the model runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionSignals {
    pub chars: usize,
    pub words: usize,
    pub script: Script,
    /// Share of characters that are ASCII digits.
    pub digit_share: f32,
    /// Arithmetic operators, equations, units of calculation, "how many/much".
    pub math_markers: usize,
    /// Sequencing words and multiple sentences with quantities (multi-step problems).
    pub multistep_markers: usize,
    /// Code fences, braces with semicolons, keywords of common languages.
    pub code_markers: usize,
}

const MATH_WORDS: &[&str] = &[
    "how many", "how much", "calculate", "compute", "solve", "equation", "sum of", "product of", "percent",
    "total", "average", "cuántos", "cuánto", "combien", "wie viele", "wie viel", "сколько", "多少", "いくつ", "何",
];
const MULTISTEP_WORDS: &[&str] = &[
    "then", "after that", "afterwards", "each", "remaining", "left over", "in total", "twice", "half", "per ",
    "first", "finally", "luego", "después", "ensuite", "puis", "danach", "dann", "затем", "потом",
];
const CODE_WORDS: &[&str] = &["```", "def ", "function ", "return ", "#include", "public static", "console.log", "print(", "import ", "=>", "</"];

fn count_phrases(lower: &str, phrases: &[&str]) -> usize {
    phrases.iter().map(|p| lower.matches(p).count()).sum()
}

impl QuestionSignals {
    pub fn of(text: &str) -> Self {
        let lower = text.to_lowercase();
        let chars = text.chars().count();
        let mut counts = [0usize; 6];
        let mut digits = 0usize;
        let mut ops = 0usize;
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits += 1;
            }
            if matches!(c, '+' | '×' | '÷' | '=' | '^' | '√' | '%' | '*' | '/') {
                ops += 1;
            }
            if let Some(s) = Script::of_char(c) {
                counts[s as usize] += 1;
            }
        }
        let all = [Script::Latin, Script::Cyrillic, Script::Cjk, Script::Indic, Script::Arabic, Script::Other];
        let script = if counts.iter().all(|&c| c == 0) {
            Script::Latin
        } else {
            all[counts.iter().enumerate().max_by_key(|(i, &c)| (c, usize::MAX - i)).map_or(0, |(i, _)| i)]
        };
        // Runs of digits (numbers), not digits, count as quantities.
        let numbers = text.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).count();
        let sentences = text.split(['.', '?', '!', '。', '？', '।']).filter(|s| s.trim().len() > 3).count();
        let code_markers = count_phrases(&lower, CODE_WORDS) + usize::from(text.contains('{') && text.contains(';'));
        Self {
            chars,
            words: text.split_whitespace().count(),
            script,
            digit_share: if chars == 0 { 0.0 } else { digits as f32 / chars as f32 },
            math_markers: ops + count_phrases(&lower, MATH_WORDS),
            multistep_markers: count_phrases(&lower, MULTISTEP_WORDS) + usize::from(numbers >= 3 && sentences >= 3) * numbers.min(6),
            code_markers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_stats_of_a_known_distribution() {
        // Two equal logits and one much smaller: top1 ≈ 0.5, entropy ≈ ln 2.
        let s = token_stats(&[0.0, 0.0, -50.0], 1);
        assert!((s.top1 - 0.5).abs() < 1e-4);
        assert!((s.entropy - std::f32::consts::LN_2).abs() < 1e-4);
        assert!((s.logprob - 0.5f32.ln()).abs() < 1e-4);
        // A confident distribution.
        let s = token_stats(&[10.0, 0.0, 0.0], 0);
        assert!(s.top1 > 0.999 && s.entropy < 0.01 && s.logprob > -0.001);
        // Out-of-range token and a degenerate row do not panic.
        assert_eq!(token_stats(&[1.0], 5).logprob, f32::NEG_INFINITY);
        assert_eq!(token_stats(&[], 0).top1, 0.0);
        assert!((token_nll(&[0.0, 0.0], 0) - std::f32::consts::LN_2).abs() < 1e-5);
    }

    #[test]
    fn prompt_tail_scores_the_tokens_its_rows_predict() {
        // vocab 3; ids [0, 2, 1]; two rows: row 0 predicts id 2, row 1 is the next token's.
        let rows = [0.0, 0.0, 10.0, 5.0, 0.0, 0.0];
        let p = PromptStats::of_tail(&[0, 2, 1], &rows, 3);
        assert_eq!((p.tokens, p.scored), (3, 1));
        assert!((p.mean_nll() - token_nll(&rows[..3], 1)).abs() < 1e-6, "{p:?}");
        assert_eq!(PromptStats::of_tail(&[0, 1], &[], 3).scored, 0);
    }

    #[test]
    fn prompt_and_answer_aggregates() {
        let mut p = PromptStats::default();
        p.push_nll(1.0);
        p.push_nll(3.0);
        p.push_nll(f32::INFINITY);
        assert_eq!((p.scored, p.mean_nll(), p.max_nll), (2, 2.0, 3.0));
        let a = AnswerStats::of(&[
            TokenStats { logprob: -1.0, entropy: 2.0, top1: 0.9 },
            TokenStats { logprob: f32::NEG_INFINITY, entropy: 4.0, top1: 0.1 },
        ])
        .unwrap();
        assert_eq!((a.tokens, a.mean_logprob, a.mean_entropy, a.min_top1), (2, -15.5, 3.0, 0.1));
        assert!(AnswerStats::of(&[]).is_none());
    }

    #[test]
    fn question_cues() {
        let q = QuestionSignals::of("Tom has 3 apples. He buys 5 more, then gives half away. How many apples are left?");
        assert_eq!(q.script, Script::Latin);
        assert!(q.math_markers >= 1 && q.multistep_markers >= 2, "{q:?}");
        assert_eq!(q.code_markers, 0);
        assert_eq!(QuestionSignals::of("Сколько будет два плюс два?").script, Script::Cyrillic);
        assert_eq!(QuestionSignals::of("জেনেটের হাঁসগুলি প্রতিদিন 16টি করে ডিম পাড়ে।").script, Script::Indic);
        assert_eq!(QuestionSignals::of("小明有5个苹果").script, Script::Cjk);
        assert_eq!(QuestionSignals::of("سن خواهر علیرضا کدام است؟").script, Script::Arabic);
        assert!(QuestionSignals::of("Why does `def f(x): return x` fail?\n```py\nimport os\n```").code_markers >= 3);
        assert_eq!(QuestionSignals::of("").chars, 0);
    }
}
