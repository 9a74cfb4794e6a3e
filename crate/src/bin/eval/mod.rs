//! `tutor eval`: run labelled multiple-choice questions through the local model and the router,
//! and write report.json, report.md, curve.svg, policy.json (the calibrated route policy) and
//! scored.jsonl (per-question results; `--scored FILE` rebuilds the report from it without the
//! model).

mod data;
mod report;
mod score;
mod svg;

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use tutor_runtime::route::policy::{default_critical_topics, CalibratedFor, Reason, RoutePolicy, DEFAULT_FRAMING, DEFAULT_PROMPT_TAIL};

use super::{load, ModelArgs, Res};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// The model to score with (not needed with --scored).
    #[command(flatten)]
    model: ModelArgs,
    /// Normalized multiple-choice questions, JSONL (repeatable; scripts/fetch-eval-data.sh).
    #[arg(long, value_name = "FILE")]
    data: Vec<String>,
    /// Where report.json, report.md, curve.svg, policy.json and scored.jsonl go.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Score only the first N questions (0: all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    /// Rebuild the report from this scored.jsonl without the model.
    #[arg(long, value_name = "FILE", conflicts_with = "data")]
    scored: Option<String>,
    /// With --scored: the model file's name the scores came from.
    #[arg(long, default_value = "gemma-3-270m-q4_k_m.gguf", requires = "scored")]
    model_name: String,
    /// With --scored: that file's sha256.
    #[arg(long, default_value = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", requires = "scored")]
    model_sha256: String,
    /// With --scored: the prompt of one question the scores were measured in (`{question}`
    /// standing for it; `tutor eval` writes it into policy.json).
    #[arg(long, default_value = DEFAULT_FRAMING, requires = "scored")]
    framing: String,
    /// How often the server model is assumed right.
    #[arg(long, default_value_t = 0.9)]
    server_accuracy: f64,
    /// The accuracy loss (vs all-server) the calibrated policy may cost.
    #[arg(long, default_value_t = 0.02)]
    max_loss: f64,
    #[arg(long, default_value_t = 5)]
    folds: usize,
    #[arg(long, default_value_t = 6)]
    seed: u64,
    /// Prompt tokens the prompt-perplexity signal reads.
    #[arg(long, default_value_t = DEFAULT_PROMPT_TAIL)]
    prompt_tail: usize,
}
use score::Scored;

pub fn eval(args: &EvalArgs) -> Res<()> {
    let out = &args.out;
    let mut cfg = report::Config {
        server_accuracy: args.server_accuracy,
        max_loss: args.max_loss,
        folds: args.folds,
        seed: args.seed,
        model: String::new(),
        prompt_tail: args.prompt_tail,
        framing: args.framing.clone(),
        calibrated_for: None,
    };
    if !(0.0..=1.0).contains(&cfg.server_accuracy) || !(0.0..1.0).contains(&cfg.max_loss) {
        return Err("--server-accuracy must be in [0, 1] and --max-loss in [0, 1)".into());
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let (scored, model) = if let Some(scored_from) = &args.scored {
        let text = std::fs::read_to_string(scored_from).map_err(|e| format!("{scored_from}: {e}"))?;
        let mut v = Vec::new();
        for (i, l) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let mut s = serde_json::from_str::<Scored>(l).map_err(|e| format!("{scored_from}:{}: {e}", i + 1))?;
            // Text signals and rules are recomputed, so changes to them need no model run.
            s.signals = tutor_runtime::route::signals::QuestionSignals::of(&s.question);
            s.critical_topic = critical_topic(&s.question)?;
            v.push(s);
        }
        // The scored file does not carry the model's identity: the flags say it.
        (v, CalibratedFor { model: args.model_name.clone(), sha256: args.model_sha256.clone() })
    } else {
        let (scored, model, framing) = run_model(args, out, &cfg)?;
        cfg.framing = framing;
        (scored, model)
    };
    if scored.len() < 10 {
        return Err(format!("{} scored questions: at least 10 are needed for a report", scored.len()).into());
    }
    let rep = report::build(&scored, &report::Config { model: model.model.clone(), calibrated_for: Some(model), ..cfg })?;
    let write = |name: &str, body: &str| std::fs::write(out.join(name), body).map_err(|e| format!("{}: {e}", out.join(name).display()));
    write("report.json", &serde_json::to_string_pretty(&rep.json)?)?;
    write("report.md", &rep.markdown)?;
    write("curve.svg", &rep.svg)?;
    write("policy.json", &rep.policy.to_json())?;
    let h = &rep.json["headline"];
    println!(
        "questions {} | languages {} | local accuracy {:.3} | router AUROC {:.3} | local share at <= {} pts loss {:.3} (length-only {:.3}, random {:.3}) -> {}",
        h["questions"],
        h["languages"],
        h["local_model_accuracy"].as_f64().unwrap_or(f64::NAN),
        h["router_auroc"].as_f64().unwrap_or(f64::NAN),
        cfg.max_loss * 100.0,
        h["local_share_at_max_loss"].as_f64().unwrap_or(f64::NAN),
        h["local_share_at_max_loss_baselines"]["length_only"].as_f64().unwrap_or(f64::NAN),
        h["local_share_at_max_loss_baselines"]["random"].as_f64().unwrap_or(f64::NAN),
        out.display()
    );
    Ok(())
}

/// The model's file name and the sha256 of its bytes (all shards, in order).
fn identify(paths: &[String]) -> Res<CalibratedFor> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in paths {
        let mut f = std::fs::File::open(p).map_err(|e| format!("{p}: {e}"))?;
        std::io::copy(&mut f, &mut h).map_err(|e| format!("{p}: {e}"))?;
    }
    let model = paths.first().map(|m| m.rsplit('/').next().unwrap_or(m).to_string()).unwrap_or_default();
    Ok(CalibratedFor { model, sha256: h.finalize().iter().map(|b| format!("{b:02x}")).collect() })
}

/// Scores every question; returns them with the model's identity and its one-question framing.
fn run_model(args: &EvalArgs, out: &std::path::Path, cfg: &report::Config) -> Res<(Vec<Scored>, CalibratedFor, String)> {
    let paths = &args.data;
    if paths.is_empty() {
        return Err("--data FILE.jsonl is required (scripts/fetch-eval-data.sh builds one)".into());
    }
    let mut questions = data::load(paths)?;
    if args.limit > 0 {
        questions.truncate(args.limit);
    }
    let (mut engine, load_s) = load(&args.model)?;
    let model = identify(&args.model.model)?;
    let framing = engine.framing()?;
    eprintln!("[eval: {} questions, model loaded in {load_s:.1}s, framing {framing:?}]", questions.len());
    let path = out.join("scored.jsonl");
    let mut file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let t0 = Instant::now();
    let mut scored = Vec::with_capacity(questions.len());
    for (i, q) in questions.iter().enumerate() {
        let mut s = score::score(&mut engine, q, cfg.prompt_tail)?;
        s.critical_topic = critical_topic(&q.question)?;
        writeln!(file, "{}", serde_json::to_string(&s)?)?;
        scored.push(s);
        if (i + 1) % 25 == 0 || i + 1 == questions.len() {
            let right = scored.iter().filter(|s| s.correct).count();
            eprintln!("[{}/{} scored, {right} right, {:.1}s]", i + 1, questions.len(), t0.elapsed().as_secs_f64());
        }
    }
    Ok((scored, model, framing))
}

/// The default critical-topic rule the question matches, if any.
fn critical_topic(question: &str) -> Res<Option<String>> {
    let rules = RoutePolicy { critical_topics: default_critical_topics(), escalate_languages: vec![], ..RoutePolicy::calibrated()? };
    Ok(match rules.rule_for(question, None) {
        Some(Reason::CriticalTopic { topic }) => Some(topic),
        _ => None,
    })
}
