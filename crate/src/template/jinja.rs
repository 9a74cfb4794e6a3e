//! A GGUF's Jinja chat template, rendered with `minijinja` the way llama.cpp's own Jinja engine
//! (`common/jinja`, driven by `common/chat.cpp`) renders it for `llama-server --jinja`:
//! `trim_blocks` + `lstrip_blocks`, Python string methods (`minijinja-contrib` pycompat),
//! `raise_exception`, `strftime_now`, and llama.cpp's context and input workarounds:
//!
//! - variables: `messages`, `bos_token`, `eos_token`, `enable_thinking`, `datetime`,
//!   `date_string`, `preserve_reasoning` (llama-server's default template kwarg, true) with the
//!   variables llama.cpp derives from it (`preserve_thinking`, `clear_thinking`,
//!   `truncate_history_thinking`, `drop_thinking`), and `add_generation_prompt` only when true;
//!   `tools` absent;
//! - the system role: probed as llama.cpp probes it (does the template read the system
//!   message's `content`?); where unsupported, a leading system message is merged into the next
//!   message with "\n" (or dropped when it is the only one);
//! - the source patches llama.cpp applies before parsing (GPT-OSS, Mistral `[TOOL_CALLS]`) and
//!   StepFun's trimmed contents.
//!
//! tests/reference/templates/ holds llama.cpp's renderings of 70+ real templates; the test
//! crate/tests/native/templates.rs holds this renderer to them byte for byte.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{context, Environment, Error, ErrorKind, State};

use super::{Message, RenderOptions, TemplateError};

const NAME: &str = "chat";
/// The hidden variable carrying the render's date to `strftime_now` (set in `render`).
const NOW: &str = "__tutor_now";

/// llama.cpp's `common_chat_templates_init` patches: a condition the template raises on is
/// replaced by `false` (the GPT-OSS and Mistral templates reject inputs llama.cpp sends).
const PATCHES: [(&str, &str, &str); 2] = [
    (
        "<|channel|>",
        "{%- if \"<|channel|>analysis<|message|>\" in message.content or \"<|channel|>final<|message|>\" in message.content %}",
        "in message.content or",
    ),
    (
        "[TOOL_CALLS]",
        "{%- if (message['content'] is none or message['content'] == '' or message['content']|length == 0) and (message['tool_calls'] is not defined or message['tool_calls'] is none or message['tool_calls']|length == 0) %}",
        "if (message['content'] is none or",
    ),
];
/// StepFun's template (recognised as llama.cpp does): message contents are trimmed first.
const TRIM_MARK: &str = "You have access to the following functions in JSONSchema format";

/// Instructions one render may run (minijinja's fuel).
const FUEL: u64 = 2_000_000;

pub struct Jinja {
    env: Environment<'static>,
    bos: String,
    eos: String,
    supports_system: bool,
    trim_content: bool,
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
        // A template comes from the model file (untrusted): bound its work, so a looping one is
        // an error, not a hung tab. Real templates over long conversations use a few thousand.
        env.set_fuel(Some(FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        let trim_content = source.contains(TRIM_MARK);
        env.add_template_owned(NAME, patch(source)).map_err(|e| TemplateError::Syntax(describe(&e)))?;
        let mut j = Self { env, bos: bos.into(), eos: eos.into(), supports_system: true, trim_content };
        j.supports_system = j.probe_system();
        Ok(j)
    }

    pub fn bos(&self) -> &str {
        &self.bos
    }

    pub fn supports_system_role(&self) -> bool {
        self.supports_system
    }

    pub fn render(&self, messages: &[Message], opts: &RenderOptions) -> Result<String, TemplateError> {
        let mut msgs: Vec<Message> = messages.to_vec();
        if self.trim_content {
            msgs.iter_mut().for_each(|m| m.content = m.content.trim().to_string());
        }
        if !self.supports_system {
            merge_leading_system(&mut msgs);
        }
        let values: Vec<Value> = msgs.iter().map(|m| message_value(&m.role, Value::from(m.content.as_str()))).collect();
        let ctx = context! {
            messages => values,
            bos_token => self.bos.as_str(),
            eos_token => self.eos.as_str(),
            enable_thinking => opts.enable_thinking,
            preserve_reasoning => opts.preserve_reasoning,
            preserve_thinking => opts.preserve_reasoning,
            clear_thinking => !opts.preserve_reasoning,
            truncate_history_thinking => !opts.preserve_reasoning,
            drop_thinking => !opts.preserve_reasoning,
            datetime => opts.now.format("%b %d %Y").to_string(),
            date_string => opts.now.format("%d %b %Y").to_string(),
            __tutor_now => opts.now.format("%Y-%m-%d").to_string(),
        };
        let ctx = if opts.add_generation_prompt { context! { add_generation_prompt => true, ..ctx } } else { ctx };
        self.render_ctx(ctx).map_err(|e| TemplateError::Render(describe(&e)))
    }

    fn render_ctx(&self, ctx: Value) -> Result<String, Error> {
        self.env.get_template(NAME)?.render(ctx)
    }

    /// llama.cpp's `supports_system_role` capability: render a system + user pair (with `tools`
    /// an empty list and an open generation prompt, as its probe does) and see whether the
    /// template read the system message's `content` at all. Rendering errors count as "not read".
    fn probe_system(&self) -> bool {
        let read = Arc::new(Probe { role: "system", content: "System message", read: AtomicBool::new(false) });
        let ctx = context! {
            messages => vec![Value::from_dyn_object(read.clone()), message_value("user", Value::from("User message"))],
            tools => Vec::<Value>::new(),
            bos_token => "",
            eos_token => "",
            add_generation_prompt => true,
            __tutor_now => "2024-07-26",
        };
        let _ = self.render_ctx(ctx);
        read.read.load(Ordering::Relaxed)
    }
}

/// The template source with llama.cpp's patches applied, and Hugging Face's
/// `{% generation %}` … `{% endgeneration %}` (which marks the assistant's tokens for training and
/// renders its body, as llama.cpp does) written as an always-true `if`, which minijinja knows.
fn patch(source: &str) -> String {
    let mut s = source.to_string();
    for (marker, from, probe) in PATCHES {
        if s.contains(marker) && s.contains(probe) {
            s = s.replace(from, "{%- if false %}");
        }
    }
    rename_tag(&rename_tag(&s, "generation", "if true"), "endgeneration", "endif")
}

/// Every `{% name %}` tag (any whitespace control) with its name replaced by `with`.
fn rename_tag(source: &str, name: &str, with: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(i) = rest.find("{%") {
        let (before, tag) = rest.split_at(i);
        out.push_str(before);
        // The tag's end after its "{%" (in "{%}" the "%}" shares the "%").
        let Some(end) = tag[2..].find("%}").map(|e| e + 2) else { break };
        let inner = &tag[2..end];
        // Whitespace control on each side, then the body between ("{%-%}" has no body).
        let open = inner.len() - inner.trim_start_matches(['-', '+']).len();
        let body = inner[open..].trim_end_matches(['-', '+']);
        if body.trim() == name {
            out.push_str(&format!("{{%{} {with} {}%}}", &inner[..open], &inner[open + body.len()..]));
        } else {
            out.push_str(&tag[..end + 2]);
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A message as the template sees it: a map of `role` and `content`.
fn message_value(role: &str, content: Value) -> Value {
    context! { role => role, content => content }
}

/// llama.cpp's `system_message_not_supported`: a leading system message is prepended to the
/// next message's content with "\n", or dropped when nothing follows it.
fn merge_leading_system(msgs: &mut Vec<Message>) {
    if msgs.first().is_some_and(|m| m.role == "system") {
        let system = msgs.remove(0);
        if let Some(next) = msgs.first_mut() {
            next.content = format!("{}\n{}", system.content, next.content);
        }
    }
}

/// A system message that records whether the template read its `content`.
#[derive(Debug)]
struct Probe {
    role: &'static str,
    content: &'static str,
    read: AtomicBool,
}

impl Object for Probe {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "role" => Some(Value::from(self.role)),
            "content" => {
                self.read.store(true, Ordering::Relaxed);
                Some(Value::from(self.content))
            }
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["role", "content"])
    }
}

fn raise_exception(msg: String) -> Result<String, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, format!("Jinja Exception: {msg}")))
}

/// `strftime_now(format)`: the render's date (`RenderOptions::now`) formatted as C's strftime
/// formats it (templates print dates only: the time of day is midnight).
fn strftime_now(state: &State, format: String) -> Result<String, Error> {
    let now = state.lookup(NOW).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let date = chrono::NaiveDate::parse_from_str(&now, "%Y-%m-%d")
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("strftime_now: {e}")))?;
    let mut out = String::new();
    std::fmt::write(&mut out, format_args!("{}", date.and_time(chrono::NaiveTime::MIN).format(&format)))
        .map_err(|_| Error::new(ErrorKind::InvalidOperation, format!("strftime_now: bad format {format:?}")))?;
    Ok(out)
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

    fn opts() -> RenderOptions {
        RenderOptions { add_generation_prompt: true, ..RenderOptions::default() }
    }

    #[test]
    fn chatml_renders() {
        let j = Jinja::new(CHATML, "", "<|im_end|>").unwrap();
        let p = j.render(&[Message::new("user", "Hi")], &opts()).unwrap();
        assert_eq!(p, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        assert!(j.supports_system);
    }

    #[test]
    fn system_merged_where_the_template_raises() {
        let j = Jinja::new(NO_SYSTEM, "<bos>", "<eos>").unwrap();
        assert!(!j.supports_system);
        let p = j.render(&[Message::new("system", "Be brief."), Message::new("user", "Hi")], &opts()).unwrap();
        assert_eq!(p, "<bos><start_of_turn>user\nBe brief.\nHi<end_of_turn>\n<start_of_turn>model\n");
        let alone = j.render(&[Message::new("system", "Be brief.")], &opts()).unwrap();
        assert_eq!(alone, "<bos><start_of_turn>model\n");
    }

    #[test]
    fn raise_exception_is_a_render_error_naming_the_message() {
        let j = Jinja::new("{{ raise_exception('only user turns') }}", "", "").unwrap();
        let e = j.render(&[Message::new("user", "Hi")], &opts()).unwrap_err();
        assert!(matches!(&e, TemplateError::Render(m) if m.contains("only user turns")), "{e}");
    }

    #[test]
    fn a_template_that_loops_for_ever_is_an_error_not_a_hang() {
        let j = Jinja::new("{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}x{% endfor %}{% endfor %}{% endfor %}", "", "").unwrap();
        let e = j.render(&[Message::new("user", "Hi")], &opts()).unwrap_err();
        assert!(matches!(&e, TemplateError::Render(m) if m.contains("fuel")), "{e}");
    }

    #[test]
    fn tags_without_a_body_are_syntax_errors_not_panics() {
        // Found by fuzz/ (regressions/template/): the tag renamer sliced "{%-%}" and "{%}" wrongly.
        for source in ["{%-%}", "{%}", "{%+-%}x{% generation %}", "{%%}"] {
            assert!(matches!(Jinja::new(source, "", ""), Err(TemplateError::Syntax(_))), "{source}");
        }
        assert_eq!(rename_tag("a{%- generation +%}b{%%}", "generation", "if true"), "a{%- if true +%}b{%%}");
    }

    #[test]
    fn bad_syntax_is_a_typed_error() {
        assert!(matches!(Jinja::new("{% for %}", "", ""), Err(TemplateError::Syntax(_))));
    }

    #[test]
    fn generation_tags_render_their_body() {
        let j = Jinja::new("a{%- generation -%} b {%- endgeneration %}c{% generation %}d{% endgeneration %}", "", "").unwrap();
        assert_eq!(j.render(&[Message::new("user", "Hi")], &opts()).unwrap(), "abcd");
    }

    #[test]
    fn pycompat_string_methods() {
        let j = Jinja::new("{{ messages[0]['content'].strip().upper() }}", "", "").unwrap();
        assert_eq!(j.render(&[Message::new("user", "  hi ")], &opts()).unwrap(), "HI");
    }

    #[test]
    fn dates_and_generation_prompt_flag() {
        let j = Jinja::new("{{ strftime_now('%d %B %Y') }}|{{ date_string }}|{{ add_generation_prompt is defined }}", "", "").unwrap();
        let now = chrono::NaiveDate::from_ymd_opt(2024, 7, 26).unwrap();
        let o = RenderOptions { add_generation_prompt: false, now, ..RenderOptions::default() };
        assert_eq!(j.render(&[Message::new("user", "Hi")], &o).unwrap(), "26 July 2024|26 Jul 2024|False");
    }
}
