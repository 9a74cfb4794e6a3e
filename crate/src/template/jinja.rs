//! A GGUF's Jinja chat template, rendered with `minijinja` under Hugging Face's conventions:
//! `messages`, `add_generation_prompt`, `bos_token` / `eos_token`, `raise_exception`,
//! `strftime_now`, Python string methods (`minijinja-contrib` pycompat), `tojson`,
//! `trim_blocks` + `lstrip_blocks`.
//!
//! A template that does not support the system role (it raises, or drops the text) gets the
//! system text folded into the first user turn, as llama.cpp does.

use minijinja::{context, Environment, Error, ErrorKind};

use super::{Message, TemplateError};

const NAME: &str = "chat";

pub struct Jinja {
    env: Environment<'static>,
    bos: String,
    eos: String,
    supports_system: bool,
}

impl Jinja {
    pub fn new(source: &str, bos: &str, eos: &str) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| TemplateError::Syntax(e.to_string()))?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned(NAME, source.to_string()).map_err(|e| TemplateError::Syntax(describe(&e)))?;
        let mut j = Self { env, bos: bos.into(), eos: eos.into(), supports_system: true };
        j.supports_system = j.probe_system();
        Ok(j)
    }

    pub fn bos(&self) -> &str {
        &self.bos
    }

    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String, TemplateError> {
        if self.supports_system || !messages.iter().any(|m| m.role == "system") {
            return self.render_raw(messages, add_generation_prompt);
        }
        self.render_raw(&fold_system(messages), add_generation_prompt)
    }

    fn render_raw(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String, TemplateError> {
        let t = self.env.get_template(NAME).map_err(|e| TemplateError::Syntax(describe(&e)))?;
        t.render(context! {
            messages => messages.iter().map(|m| context! { role => m.role.as_str(), content => m.content.as_str() }).collect::<Vec<_>>(),
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos.as_str(),
            eos_token => self.eos.as_str(),
        })
        .map_err(|e| TemplateError::Render(describe(&e)))
    }

    /// Whether a system message's text reaches the prompt (llama.cpp's `supports_system_role`
    /// capability probe): render a system + user pair with a marker and look for it.
    fn probe_system(&self) -> bool {
        const MARK: &str = "<System Needle 7c1f>";
        let msgs = [Message::new("system", MARK), Message::new("user", "Hi")];
        matches!(self.render_raw(&msgs, false), Ok(s) if s.contains(MARK))
    }
}

/// The system messages' text, joined, put before the first user message's content.
fn fold_system(messages: &[Message]) -> Vec<Message> {
    let system: Vec<&str> = messages.iter().filter(|m| m.role == "system").map(|m| m.content.as_str()).collect();
    let mut prefix = Some(system.join("\n\n"));
    let mut out = Vec::with_capacity(messages.len());
    for m in messages.iter().filter(|m| m.role != "system") {
        match (m.role.as_str(), prefix.take()) {
            ("user", Some(p)) => out.push(Message { role: "user".into(), content: format!("{p}\n\n{}", m.content) }),
            (_, p) => {
                prefix = p;
                out.push(m.clone());
            }
        }
    }
    if let Some(p) = prefix {
        out.insert(0, Message::new("user", &p));
    }
    out
}

fn raise_exception(msg: String) -> Result<String, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, msg))
}

/// `strftime_now(format)`: today's date (Llama 3.x templates print it). Rendering must be
/// reproducible, so it is a fixed date, as llama.cpp's tests fix it.
fn strftime_now(format: String) -> String {
    format.replace("%d", "26").replace("%b", "Jul").replace("%B", "July").replace("%Y", "2024").replace("%m", "07")
}

/// The error with its source chain (minijinja puts the template's own message in the detail).
fn describe(e: &Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
    const NO_SYSTEM: &str = "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}";

    #[test]
    fn chatml_renders() {
        let j = Jinja::new(CHATML, "", "<|im_end|>").unwrap();
        let p = j.render(&[Message::new("user", "Hi")], true).unwrap();
        assert_eq!(p, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        assert!(j.supports_system);
    }

    #[test]
    fn system_folded_where_the_template_raises() {
        let j = Jinja::new(NO_SYSTEM, "<bos>", "<eos>").unwrap();
        assert!(!j.supports_system);
        let p = j.render(&[Message::new("system", "Be brief."), Message::new("user", "Hi")], true).unwrap();
        assert_eq!(p, "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n");
    }

    #[test]
    fn raise_exception_is_a_render_error_naming_the_message() {
        let j = Jinja::new("{{ raise_exception('only user turns') }}", "", "").unwrap();
        let e = j.render(&[Message::new("user", "Hi")], true).unwrap_err();
        assert!(matches!(&e, TemplateError::Render(m) if m.contains("only user turns")), "{e}");
    }

    #[test]
    fn bad_syntax_is_a_typed_error() {
        assert!(matches!(Jinja::new("{% for %}", "", ""), Err(TemplateError::Syntax(_))));
    }

    #[test]
    fn pycompat_string_methods() {
        let j = Jinja::new("{{ messages[0]['content'].strip().upper() }}", "", "").unwrap();
        assert_eq!(j.render(&[Message::new("user", "  hi ")], false).unwrap(), "HI");
    }
}
