//! The chat-template renderer (minijinja with Hugging Face's conventions) on arbitrary template
//! sources and messages: a template that does not compile or raises is a typed error, never a
//! panic, and rendering terminates (minijinja's fuel bounds loops).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tutor_runtime::template::{ChatTemplate, Message};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Template source, then up to three message contents, separated by NUL.
    let mut parts = text.split('\0');
    let source = parts.next().unwrap_or_default();
    let roles = ["system", "user", "assistant"];
    let messages: Vec<Message> = parts.take(3).enumerate().map(|(i, c)| Message::new(roles[i % 3], c)).collect();
    if let Ok(t) = ChatTemplate::jinja(source, "<s>", "</s>") {
        let msgs = if messages.is_empty() { vec![Message::new("user", "Hi")] } else { messages };
        let _ = t.render(&msgs, true);
    }
});
