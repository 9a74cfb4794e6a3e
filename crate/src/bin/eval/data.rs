//! Evaluation questions: normalized multiple-choice JSONL (see scripts/fetch-eval-data.sh).

use serde::{Deserialize, Serialize};

use super::super::Res;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    pub lang: String,
    pub source: String,
    #[serde(default)]
    pub subject: String,
    /// What a student would type: the router's text signals read this.
    pub question: String,
    /// The scoring prompt; `choices` are scored as its continuations.
    pub prompt: String,
    pub choices: Vec<String>,
    /// Index of the right choice.
    pub answer: usize,
}

/// Read every line of every file; a malformed line is an error naming file and line.
pub fn load(paths: &[String]) -> Res<Vec<Question>> {
    let mut out = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let q: Question = serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", i + 1))?;
            if q.choices.len() < 2 || q.answer >= q.choices.len() {
                return Err(format!("{path}:{}: needs ≥2 choices and a valid answer index", i + 1).into());
            }
            out.push(q);
        }
    }
    if out.is_empty() {
        return Err("no questions in the --data files".into());
    }
    Ok(out)
}
