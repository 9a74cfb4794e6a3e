//! Score one multiple-choice question with the local model: the prompt's perplexity from the
//! prefill, and each choice's log-likelihood as a continuation (exact correctness: the model's
//! answer is the most likely choice). The picked choice's per-token stats are what the cascade
//! would see if the model generated that answer.

use serde::{Deserialize, Serialize};
use tutor_runtime::route::signals::{token_stats, AnswerStats, PromptStats, QuestionSignals, TokenStats};
use tutor_runtime::stream::Engine;
use tutor_runtime::template::Message;

use super::super::Res;
use super::data::Question;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scored {
    pub id: String,
    pub lang: String,
    pub source: String,
    pub subject: String,
    /// The question text (public eval data), so signals can be recomputed from scored.jsonl.
    pub question: String,
    pub choices: usize,
    pub answer: usize,
    pub pick: usize,
    pub correct: bool,
    /// Sum log-likelihood of each choice.
    pub choice_logprobs: Vec<f32>,
    pub signals: QuestionSignals,
    pub prompt: PromptStats,
    /// Token stats along the picked choice.
    pub answer_stats: Option<AnswerStats>,
    /// Critical-topic rule that matches the question, if any (reported, not scored).
    pub critical_topic: Option<String>,
}

/// `tail`: the prompt-perplexity signal is measured as the tutor measures it, on the last
/// `tail` tokens of the question asked alone in the model's own prompt (`RoutePolicy::framing`).
/// The choices continue the scoring prompt: verbatim for a base model, as the assistant's
/// answer to it for a model with a chat template.
pub fn score(engine: &mut Engine, q: &Question, tail: usize) -> Res<Scored> {
    let ids = if engine.template.is_chat() {
        engine.encode_chat(&[Message::new("user", &q.prompt)])?
    } else {
        engine.tokenizer.encode(&q.prompt, engine.tokenizer.add_bos())?
    };
    let mut choice_ids = Vec::with_capacity(q.choices.len());
    for c in &q.choices {
        choice_ids.push(engine.tokenizer.encode(c, false)?);
    }
    let longest = choice_ids.iter().map(Vec::len).max().unwrap_or(0);
    let limit = engine.model.max_context();
    if ids.len() + longest > limit {
        return Err(format!("{}: prompt + choice is {} tokens, over the context limit {limit}", q.id, ids.len() + longest).into());
    }
    let prompt = prompt_stats(engine, &q.question, tail)?;
    engine.reset();
    let last = engine.model.forward(&ids)?;
    let p = engine.model.pos();
    let vocab = engine.model.config.vocab_size;
    let mut per_choice: Vec<Vec<TokenStats>> = Vec::new();
    for toks in &choice_ids {
        let mut stats = Vec::with_capacity(toks.len());
        if let Some(&first) = toks.first() {
            stats.push(token_stats(&last, first));
        }
        if toks.len() > 1 {
            engine.model.truncate(p);
            let rows = engine.model.forward_all(&toks[..toks.len() - 1])?;
            for (k, &t) in toks.iter().enumerate().skip(1) {
                stats.push(token_stats(&rows[(k - 1) * vocab..k * vocab], t));
            }
        }
        per_choice.push(stats);
    }
    let choice_logprobs: Vec<f32> =
        per_choice.iter().map(|s| if s.is_empty() { f32::NEG_INFINITY } else { s.iter().map(|t| t.logprob).sum() }).collect();
    let pick = choice_logprobs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
    Ok(Scored {
        id: q.id.clone(),
        lang: q.lang.clone(),
        source: q.source.clone(),
        subject: q.subject.clone(),
        question: q.question.clone(),
        choices: q.choices.len(),
        answer: q.answer,
        pick,
        correct: pick == q.answer,
        choice_logprobs,
        signals: QuestionSignals::of(&q.question),
        prompt,
        answer_stats: AnswerStats::of(&per_choice[pick]),
        critical_topic: None,
    })
}

/// The prompt-perplexity signal as the tutor's prefill measures it (`Generation::with_prompt_stats`):
/// the NLL of the last `tail` tokens of the one-question conversation's prompt.
fn prompt_stats(engine: &mut Engine, question: &str, tail: usize) -> Res<PromptStats> {
    let ids = engine.encode_chat(&[Message::new("user", question.trim())])?;
    let question_tokens = engine.tokenizer.encode(question.trim(), false)?.len();
    engine.reset();
    let rows = engine.model.forward_tail(&ids, tail + 1)?;
    Ok(PromptStats { question_tokens, ..PromptStats::of_tail(&ids, &rows, engine.model.config.vocab_size) })
}
