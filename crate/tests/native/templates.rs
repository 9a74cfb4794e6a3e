//! Chat-template rendering against llama.cpp's own: every fixture under tests/reference/templates/
//! (llama-server --jinja /apply-template over 70 real templates and SmolLM2's own, written by
//! scripts/reference/templates.sh) must come out of `ChatTemplate` byte for byte, errors where
//! llama.cpp errors. Then the two real models: SmolLM2's template from its GGUF, Gemma 3 270M's
//! plain framing.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tutor_runtime::load::gguf::Gguf;
use tutor_runtime::load::shards::FileShards;
use tutor_runtime::template::{frame, ChatTemplate, Message, RenderOptions, PLAIN_FRAMING};
use tutor_runtime::tokenize::Tokenizer;

/// Templates whose llama.cpp rendering minijinja cannot reproduce, with the reason. Empty: every
/// fixture must match.
const KNOWN_DIFFERENT: &[(&str, &str)] = &[(
    "fireworks-ai-llama-3-firefunction-v2",
    "it concatenates the undefined variable `functions` (its own tooling passes it): llama.cpp's engine \
     treats `string + undefined` as the string, minijinja (like Python's Jinja2) raises, and \
     minijinja has no hook for operators on undefined values",
)];

fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/reference/templates"))
}

fn fixture(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn messages(case: &Value) -> Vec<Message> {
    let list = case["messages"].as_array().expect("messages");
    list.iter().map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap())).collect()
}

/// What one rendering of a fixture gives with our renderer: the prompt llama.cpp would send
/// (BOS text stripped when the vocab adds BOS itself, as llama.cpp does).
fn ours(source: &str, render: &Value, case: &Value, now: chrono::NaiveDate) -> Result<String, String> {
    let s = |k: &str| render[k].as_str().unwrap_or_else(|| panic!("fixture lacks {k}"));
    let t = ChatTemplate::jinja(source, s("bos"), s("eos")).map_err(|e| e.to_string())?;
    let opts = RenderOptions {
        add_generation_prompt: case["add_generation_prompt"].as_bool().unwrap(),
        now,
        // llama-server picks enable_thinking per template (its parser's verdict, recorded by the
        // fixture script); null: the template renders the same either way.
        enable_thinking: render["enable_thinking"].as_bool().unwrap_or(true),
        preserve_reasoning: true,
    };
    let text = t.render_with(&messages(case), &opts).map_err(|e| e.to_string())?;
    Ok(if render["add_bos"].as_bool().unwrap() { t.strip_bos(&text).to_string() } else { text })
}

/// Every mismatch of one fixture, described.
fn mismatches(fx: &Value) -> Vec<String> {
    let name = fx["template"].as_str().unwrap();
    let source = fx["source"].as_str().unwrap();
    let now = chrono::NaiveDate::parse_from_str(fx["date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    let mut out = Vec::new();
    for render in fx["renders"].as_array().unwrap() {
        assert!(render.get("load_error").is_none(), "{name}: llama.cpp could not load it; record why in KNOWN_DIFFERENT");
        let model = render["model"].as_str().unwrap();
        let want_system = render["caps"]["supports_system_role"].as_bool().unwrap();
        match ChatTemplate::jinja(source, "", "") {
            Ok(t) if t.supports_system_role() != want_system => {
                out.push(format!("{name} [{model}]: supports_system_role {} but llama.cpp says {want_system}", t.supports_system_role()))
            }
            _ => {}
        }
        for case in render["cases"].as_array().unwrap() {
            let got = ours(source, render, case, now);
            let what = format!("{name} [{model}] {}", case["name"].as_str().unwrap());
            match (case.get("prompt").and_then(Value::as_str), &got) {
                (Some(want), Ok(g)) if want == g => {}
                (Some(want), _) => out.push(format!("{what}:\n  llama.cpp: {want:?}\n  ours:      {got:?}")),
                (None, Err(_)) => {}
                (None, Ok(g)) => out.push(format!("{what}: llama.cpp failed ({}), ours rendered {g:?}", case["error"])),
            }
        }
    }
    out
}

#[test]
fn every_template_renders_as_llama_cpp_does() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures_dir()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    paths.sort();
    assert!(paths.len() >= 71, "expected the 70 vendored templates and SmolLM2's, found {}", paths.len());
    let (mut equal, mut cases, mut failures) = (0, 0, Vec::new());
    for p in &paths {
        let fx = fixture(p);
        let name = fx["template"].as_str().unwrap().to_string();
        cases += fx["renders"].as_array().unwrap().iter().map(|r| r["cases"].as_array().unwrap().len()).sum::<usize>();
        let bad = mismatches(&fx);
        let known = KNOWN_DIFFERENT.iter().find(|(n, _)| *n == name);
        match (bad.is_empty(), known) {
            (true, None) => equal += 1,
            (true, Some(_)) => failures.push(format!("{name} is listed in KNOWN_DIFFERENT but now matches: remove it")),
            (false, Some(_)) => {}
            (false, None) => failures.extend(bad),
        }
    }
    eprintln!("{equal} of {} templates equal to llama.cpp ({cases} renderings)", paths.len());
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

fn model_path(file: &str) -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/cache")).join(file);
    assert!(p.exists(), "{} not found — run models/fetch-model.sh all", p.display());
    p
}

/// The template a real model's GGUF carries, built as the engine builds it.
fn model_template(file: &str) -> (ChatTemplate, Gguf) {
    let mut src = FileShards::open(&[model_path(file)]).unwrap();
    let g = Gguf::read(&mut src).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    let text = |id: Option<u32>| id.and_then(|i| tok.id_to_piece(i)).unwrap_or("").to_string();
    (ChatTemplate::from_gguf(&g, &text(tok.bos_id()), &text(tok.eos_id())).unwrap(), g)
}

#[test]
fn smollm2_renders_its_own_template_as_llama_cpp_does() {
    let (t, g) = model_template("smollm2-135m-instruct-q4_1.gguf");
    assert!(t.is_chat());
    let fx = fixture(&fixtures_dir().join("model-smollm2-135m-instruct.json"));
    assert_eq!(g.get_str("tokenizer.chat_template").unwrap(), fx["source"].as_str().unwrap(), "the fixture is of this model's template");
    let render = &fx["renders"][0];
    assert_eq!(render["add_bos"], false);
    let now = chrono::NaiveDate::parse_from_str(fx["date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    for case in render["cases"].as_array().unwrap() {
        let opts = RenderOptions { add_generation_prompt: true, now, ..RenderOptions::default() };
        assert_eq!(t.render_with(&messages(case), &opts).unwrap(), case["prompt"].as_str().unwrap());
    }
}

#[test]
fn gemma_base_has_no_template_and_gets_the_plain_framing() {
    let (t, g) = model_template("gemma-3-270m-q4_k_m.gguf");
    assert!(g.get_str("tokenizer.chat_template").is_err());
    assert!(!t.is_chat());
    let q = "Why is the sky blue?";
    assert_eq!(t.render(&[Message::new("user", q)], true).unwrap(), frame(PLAIN_FRAMING, q));
    assert_eq!(t.stop_strings(), vec!["\nStudent:".to_string()]);
}
