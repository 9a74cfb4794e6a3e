#!/usr/bin/env bash
# Load test of the gateway: the embedded real model (SmolLM2-135M-Instruct, the gateway's default)
# behind tutor-gateway, N concurrent streaming clients for a fixed time from a second process
# (tutor-gateway-loadgen) over loopback, for each engine count and each client count.
# Appends (or replaces) the "Gateway load test" section of BENCHMARKS.md, after the marker line
# that scripts/bench.sh keeps.
#   scripts/bench-gateway.sh [--clients "1 4 16"] [--workers "1 2"] [--seconds 30] [--max-tokens 32] [--no-write]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CLIENTS="1 4 16"
WORKERS="1 2"
SECONDS_RUN=30
MAX_TOKENS=32
WRITE=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --clients) CLIENTS="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --seconds) SECONDS_RUN="$2"; shift 2 ;;
    --max-tokens) MAX_TOKENS="$2"; shift 2 ;;
    --no-write) WRITE=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
models/fetch-model.sh >/dev/null
MODEL="${TUTOR_CHAT_MODEL:-$ROOT/models/cache/smollm2-135m-instruct-q4_1.gguf}"
cargo build --release -p tutor-gateway --bins
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
WORK="$(mktemp -d)"
GW=""
trap '[[ -n "$GW" ]] && kill "$GW" 2>/dev/null; rm -rf "$WORK"' EXIT
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
: > "$WORK/results.jsonl"
for workers in $WORKERS; do
  cat > "$WORK/gateway.toml" <<TOML
listen = "127.0.0.1:0"
[embedded]
model = ["$MODEL"]
workers = $workers
queue = 64
[limits]
requests_per_minute = 1000000
concurrent_streams = 1000
[cache]
enabled = false
TOML
  "$BIN/tutor-gateway" --config "$WORK/gateway.toml" --quiet > "$WORK/out" 2> "$WORK/err" &
  GW=$!
  for _ in $(seq 1 600); do
    grep -q "listening on" "$WORK/out" 2>/dev/null && break
    kill -0 "$GW" 2>/dev/null || { cat "$WORK/err" >&2; exit 1; }
    sleep 0.1
  done
  URL="$(sed -n 's/^tutor-gateway listening on //p' "$WORK/out")"
  [[ -n "$URL" ]] || { echo "gateway did not start" >&2; cat "$WORK/err" >&2; exit 1; }
  # Warm-up (first-touch page faults, thread pools), then the measured runs.
  "$BIN/tutor-gateway-loadgen" --url "$URL" --clients 1 --seconds 1 --max-tokens 8 >/dev/null
  for clients in $CLIENTS; do
    "$BIN/tutor-gateway-loadgen" --url "$URL" --clients "$clients" --seconds "$SECONDS_RUN" --max-tokens "$MAX_TOKENS" --pid "$GW" \
      | tail -1 | python3 -c "import json,sys; r=json.load(sys.stdin); r['workers']=$workers; print(json.dumps(r))" | tee -a "$WORK/results.jsonl"
  done
  kill "$GW"; wait "$GW" 2>/dev/null || true; GW=""
done
[[ "$WRITE" == 1 ]] || exit 0
CPU="$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
python3 - "$WORK/results.jsonl" "$ROOT/BENCHMARKS.md" "$CPU" "$(nproc)" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, sys, datetime
res, out, cpu, ncpu, load0, load1 = sys.argv[1:]
rs = [json.loads(l) for l in open(res) if l.strip()]
head = "## Gateway load test"
f = lambda x: "n/a" if x is None else f"{x:.0f}"
sec = [
    f"{head} — {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC",
    "",
    f"`scripts/bench-gateway.sh`: `tutor-gateway` with the embedded SmolLM2-135M-Instruct Q4_1 (its chat template, answer cache off) on {cpu}, {ncpu} cores; "
    f"`tutor-gateway-loadgen` in a second process on loopback: N concurrent streaming clients for {rs[0]['seconds']:.0f} s each, "
    f"distinct questions, greedy, max_tokens {rs[0]['max_tokens']}. Load average before / after: {load0} / {load1} "
    "(the machine is shared: compare runs only at similar load).",
    "",
    "| engines | clients | answers | answers/s | tokens/s | TTFB p50 | TTFB p99 | latency p50 | latency p99 | errors | RSS start → end (peak) |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
]
for r in rs:
    sec.append(
        f"| {r['workers']} | {r['clients']} | {r['answers']} | {r['answers_per_s']:.2f} | {r['tokens_per_s']:.1f} | {r['ttfb_p50_ms']:.0f} ms | {r['ttfb_p99_ms']:.0f} ms | "
        f"{r['latency_p50_ms']:.0f} ms | {r['latency_p99_ms']:.0f} ms | {r['errors']} | {f(r['rss_start_mb'])} → {f(r['rss_end_mb'])} MB ({f(r['rss_peak_mb'])} MB) |")
sec += [
    "",
    "Each engine (`[embedded] workers`) is a thread with its own copy of the model serving one answer at a time; "
    "requests wait in one bounded queue, so with N clients TTFB is about the answers ahead plus one prefill. "
    "The engines share candle's thread pool, which runs one matrix multiply at a time over all cores: "
    "compare the engine counts above before adding engines. Targets: 0 errors, flat memory.",
    "",
]
text = open(out).read()
marker = "<!-- sections below are kept by ./build.sh bench -->"
if marker not in text:
    text = text.rstrip("\n") + "\n\n" + marker + "\n"
before, after = text.split(marker, 1)
# Drop an older gateway section (up to the next "## " heading).
lines = after.split("\n")
kept, skip = [], False
for l in lines:
    if l.startswith("## "):
        skip = l.startswith(head)
    if not skip:
        kept.append(l)
after = "\n".join(kept).rstrip("\n")
rest = after.strip("\n")
open(out, "w").write(before + marker + "\n" + "\n".join(sec) + ("\n" + rest + "\n" if rest else ""))
print("\n".join(sec))
PY
echo "wrote BENCHMARKS.md"
