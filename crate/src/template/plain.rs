//! The plain framing for a model without a chat template (a base model): an instruction, one
//! worked example, then "Student:" / "Tutor:" turns; the answer ends where the model starts the
//! next "Student:" line. The route policy calibrated on Gemma 3 270M records this framing.

use super::Message;

/// The instruction used when the conversation has no system message.
const INSTRUCTION: &str = "A patient tutor answers a student's question with a short, correct explanation.";
/// One worked example, so a base model answers in the tutor's voice.
const EXAMPLE: &str = "Student: What is 3 times 4?\nTutor: 3 times 4 is 12, because three groups of four make twelve.\n\n";
/// Where a plain-framed answer ends: the model starting the student's next turn.
pub const PLAIN_STOP: [&str; 1] = ["\nStudent:"];
/// The framing of one question, `{question}` standing for it (the route policy's `framing`).
pub const PLAIN_FRAMING: &str = "A patient tutor answers a student's question with a short, correct explanation.\n\nStudent: What is 3 times 4?\nTutor: 3 times 4 is 12, because three groups of four make twelve.\n\nStudent: {question}\nTutor:";

/// `framing` with the question put in (trimmed).
pub fn frame(framing: &str, question: &str) -> String {
    framing.replace("{question}", question.trim())
}

pub(super) fn render(messages: &[Message]) -> String {
    let system: Vec<&str> = messages.iter().filter(|m| m.role == "system").map(|m| m.content.trim()).collect();
    let mut p = if system.is_empty() { INSTRUCTION.to_string() } else { system.join("\n") };
    p.push_str("\n\n");
    p.push_str(EXAMPLE);
    for m in messages {
        match m.role.as_str() {
            "user" => p.push_str(&format!("Student: {}\n", m.content.trim())),
            "assistant" => p.push_str(&format!("Tutor: {}\n\n", m.content.trim())),
            _ => {}
        }
    }
    p.push_str("Tutor:");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_question_is_the_policy_framing() {
        let q = "  Why is the sky blue?\n";
        assert_eq!(render(&[Message::new("user", q)]), frame(PLAIN_FRAMING, q));
    }

    #[test]
    fn turns_and_system() {
        let p = render(&[Message::new("system", "Be brief."), Message::new("user", "2+2?"), Message::new("assistant", "4"), Message::new("user", "3+3?")]);
        assert!(p.starts_with("Be brief.\n\nStudent: What is 3 times 4?"), "{p}");
        assert!(p.ends_with("Student: 2+2?\nTutor: 4\n\nStudent: 3+3?\nTutor:"), "{p}");
    }
}
