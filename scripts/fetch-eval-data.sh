#!/usr/bin/env bash
# Builds the router evaluation set (multiple-choice questions, normalized JSONL) from public data:
#   - MGSM (9 languages; CC BY 4.0) from ../shared/data/mgsm (or $MGSM_DIR), turned into 4-way multiple
#     choice: the gold answer plus the gold answers of 3 other problems of the same language (seeded);
#   - BIG-bench (Apache 2.0) multiple-choice tasks in English, Persian, Kannada, Hindi, Spanish and
#     Swahili, from the `bigbench==1.0.0` package on PyPI (the sdist ships every task.json).
# Output: $TUTOR_EVAL_DIR/questions.jsonl (default ~/.cache/tutor-runtime/eval), one question a line:
#   {"id","lang","source","subject","question","prompt","choices":[...],"answer":index}
# `question` is what a student would type (what the router sees); `prompt` is the scoring prompt
# whose continuations `choices` are scored by log-likelihood.
#
# Usage: scripts/fetch-eval-data.sh [--per-source N]   (default caps below; same seed → same set)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${TUTOR_EVAL_DIR:-$HOME/.cache/tutor-runtime/eval}"
MGSM_DIR="${MGSM_DIR:-$ROOT/../shared/data/mgsm}"
BB_VERSION="1.0.0"
mkdir -p "$DIR"
BB="$DIR/bigbench-$BB_VERSION"
if [[ ! -d "$BB/bigbench/benchmark_tasks" ]]; then
  if [[ ! -f "$DIR/bigbench-$BB_VERSION.tar.gz" ]]; then
    echo "fetching bigbench==$BB_VERSION (sdist, ~360 MB) from PyPI" >&2
    python3 -m pip download --no-deps -d "$DIR" "bigbench==$BB_VERSION" >&2
  fi
  tar xzf "$DIR/bigbench-$BB_VERSION.tar.gz" -C "$DIR" --wildcards \
    "bigbench-$BB_VERSION/LICENSE" "bigbench-$BB_VERSION/bigbench/benchmark_tasks/*/task.json"
fi
[[ -d "$MGSM_DIR" ]] || { echo "MGSM not found at $MGSM_DIR (set MGSM_DIR)" >&2; exit 1; }

python3 - "$BB/bigbench/benchmark_tasks" "$MGSM_DIR" "$DIR/questions.jsonl" <<'PY'
import json, random, sys, os
bb, mgsm, out = sys.argv[1:4]
SEED = 6
rows = []

# MGSM: the same problem indices in every language, so languages compare on identical problems.
MGSM_LANGS = ["en", "de", "es", "fr", "ru", "zh", "ja", "sw", "bn"]
MGSM_N = 35
idx = list(range(250)); random.Random(SEED).shuffle(idx); idx = idx[:MGSM_N]
for lang in MGSM_LANGS:
    items = []
    with open(os.path.join(mgsm, f"mgsm_{lang}.tsv"), encoding="utf-8") as f:
        for line in f:
            q, a = line.rstrip("\n").split("\t")
            items.append((q, a.replace(",", "").strip()))
    golds = [a for _, a in items]
    for i in idx:
        q, a = items[i]
        rng = random.Random(f"{SEED}-{lang}-{i}")
        pool = sorted({g for g in golds if g != a})
        choices = rng.sample(pool, 3) + [a]
        rng.shuffle(choices)
        rows.append(dict(id=f"mgsm-{lang}-{i}", lang=lang, source="mgsm", subject="math",
                         question=q, prompt=f"Question: {q}\nAnswer:",
                         choices=[" " + c for c in choices], answer=choices.index(a)))

# BIG-bench multiple-choice tasks: (task, language, subject, cap).
TASKS = [("general_knowledge", "en", "general", 70), ("physical_intuition", "en", "science", 81),
         ("misconceptions", "en", "general", 50), ("physics", "en", "science", 50),
         ("parsinlu_qa", "fa", "general", 70), ("kannada", "kn", "riddles", 70),
         ("entailed_polarity_hindi", "hi", "reading", 70), ("cryobiology_spanish", "es", "medicine", 70),
         ("swahili_english_proverbs", "sw", "language", 50)]
for task, lang, subject, cap in TASKS:
    with open(os.path.join(bb, task, "task.json"), encoding="utf-8") as f:
        t = json.load(f)
    prefix = t.get("task_prefix", "") or ""
    qpre = t.get("example_input_prefix") or ""
    apre = t.get("example_output_prefix") or "\nAnswer:"
    ex = [e for e in t["examples"] if "target_scores" in e and sum(1 for v in e["target_scores"].values() if v == 1) == 1]
    order = list(range(len(ex))); random.Random(f"{SEED}-{task}").shuffle(order)
    for k in order[:cap]:
        e = ex[k]
        ch = list(e["target_scores"].keys())
        gold = [c for c, v in e["target_scores"].items() if v == 1][0]
        q = e["input"].strip()
        prompt = (prefix.strip() + "\n" if prefix.strip() else "") + qpre.lstrip("\n") + q + apre.rstrip()
        rows.append(dict(id=f"bigbench-{task}-{k}", lang=lang, source=f"bigbench/{task}", subject=subject,
                         question=q, prompt=prompt, choices=[" " + c.strip() for c in ch], answer=ch.index(gold)))

# Seeded shuffle: any prefix (`tutor eval --limit N`) is a balanced sample of sources and languages.
random.Random(SEED).shuffle(rows)
with open(out, "w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
from collections import Counter
print(f"{len(rows)} questions -> {out}", file=sys.stderr)
print(dict(Counter(r["lang"] for r in rows)), file=sys.stderr)
PY
