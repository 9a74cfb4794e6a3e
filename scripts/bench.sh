#!/usr/bin/env bash
# Benchmarks side by side with what users would pick instead, on this machine, in one run;
# writes BENCHMARKS.md (ratios ours/theirs, machine, date, versions).
#   scripts/bench.sh [--reps N] [--web-reps N] [--skip-web] [--smoke]
# 1. native CPU: tutor-runtime vs llama.cpp (llama-bench + llama-server built from the
#    llama-cpp-python sdist by scripts/llama-cpp.sh, cached outside the clone), 1 and 2 threads,
#    pair by pair (scripts/bench/native.py); memory bandwidth (`tutor bandwidth`) and the
#    generation ceiling; the GPU backend on whatever adapter wgpu finds (llvmpipe without a GPU).
# 2. browser: the npm package vs @wllama/wllama in headless Chromium, 1 and 2 threads, plus our
#    WebGPU path on SwiftShader; page load → first token with a warm cache; .wasm and npm sizes
#    (web/bench/bench.mjs).
# 3. scripts/bench/report.py writes BENCHMARKS.md.
# --smoke: one short repetition of everything (CI: keeps the command from rotting; numbers
# meaningless; llama.cpp only if already built; the report goes to a temp file).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[[ -f "$HOME/.cargo/env" ]] && . "$HOME/.cargo/env"
export PATH="$HOME/.cargo/bin:$PATH"
REPS=5
WEB_REPS=3
SMOKE=0
WEB=1
OUT="$ROOT/BENCHMARKS.md"
LLAMA_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) REPS="$2"; shift 2 ;;
    --web-reps) WEB_REPS="$2"; shift 2 ;;
    --skip-web) WEB=0; shift ;;
    --smoke) SMOKE=1; REPS=1; OUT="$(mktemp)"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
TUTOR_BIN="$TARGET/release/tutor"
JSON_DIR="$TARGET/bench"
# The smoke run's figures are meaningless: they must not replace a real run's raw JSON.
[[ "$SMOKE" == 1 ]] && JSON_DIR="$(mktemp -d)"
mkdir -p "$JSON_DIR"
models/fetch-model.sh >/dev/null
MODEL="${TUTOR_MODEL:-$ROOT/models/cache/gemma-3-270m-q4_k_m.gguf}"
export TUTOR_MODEL="$MODEL"

# The smoke run reuses the binaries the test build just made (a plain build resolves features
# without dev-dependencies and would recompile candle).
if [[ "$SMOKE" == 0 || ! -x "$TUTOR_BIN" ]]; then
  cargo build --release --bin tutor
fi

# llama.cpp: built once (10+ minutes on 2 cores) into ~/.cache; the smoke run only uses a cached build.
LLAMA_BIN=""
CACHED_LLAMA="${XDG_CACHE_HOME:-$HOME/.cache}/tutor-runtime/llama.cpp/$LLAMA_VERSION/bin"
if [[ "$SMOKE" == 0 ]]; then
  LLAMA_BIN="$(scripts/llama-cpp.sh --version "$LLAMA_VERSION" | tail -1)"
elif [[ -x "$CACHED_LLAMA/llama-bench" && -x "$CACHED_LLAMA/llama-server" ]]; then
  LLAMA_BIN="$CACHED_LLAMA"
else
  echo "(smoke: llama.cpp not built here; skipping its side — scripts/llama-cpp.sh builds it)" >&2
fi

echo "== native: tutor-runtime vs llama.cpp, memory bandwidth, GPU backend" >&2
NATIVE_ARGS=(--tutor "$TUTOR_BIN" --model "$MODEL" --llama-bin "$LLAMA_BIN" --reps "$REPS")
[[ "$SMOKE" == 1 ]] && NATIVE_ARGS+=(--pp 16 --tg 8 --gpu-pp 4 --gpu-tg 2)
python3 scripts/bench/native.py "${NATIVE_ARGS[@]}" > "$JSON_DIR/native.json"

WEB_JSON=()
if [[ "$WEB" == 1 ]]; then
  echo "== browser: npm package vs @wllama/wllama in headless Chromium" >&2
  if [[ "$SMOKE" == 0 || ! -f web/dist/tutor_runtime_bg.wasm ]]; then
    web/build.sh >&2
  fi
  if [[ "$SMOKE" == 1 ]]; then
    (cd web && node bench/bench.mjs --smoke) > "$JSON_DIR/web.json"
  else
    (cd web && node bench/bench.mjs --reps "$WEB_REPS") > "$JSON_DIR/web.json"
  fi
  WEB_JSON=(--web "$JSON_DIR/web.json")
elif [[ -f "$JSON_DIR/web.json" && "$SMOKE" == 0 ]]; then
  echo "(--skip-web: reusing the browser figures of $JSON_DIR/web.json, measured $(date -r "$JSON_DIR/web.json" -u '+%F %H:%M') UTC)" >&2
  WEB_JSON=(--web "$JSON_DIR/web.json")
fi

CPU="$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
FLAGS="$(grep -o -w -E 'avx2|avx512f|avx512_vnni|avx512vnni' /proc/cpuinfo | sort -u | tr '\n' ' ' | sed 's/ $//')"
GPU="$(lspci 2>/dev/null | grep -i -E 'vga|3d|display' | sed 's/^[^ ]* //' | head -1 || true)"
MACHINE="$CPU, $(nproc) cores ($FLAGS), $(free -g | awk '/Mem:/{print $2}') GiB RAM, ${GPU:-no GPU}; $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
VERSIONS="tutor-runtime $(git describe --always --dirty 2>/dev/null || echo '?'), $(rustc --version), candle-core 0.11.1, wgpu 30, node $(node --version)"
python3 scripts/bench/report.py --native "$JSON_DIR/native.json" "${WEB_JSON[@]}" --out "$OUT" \
  --machine "$MACHINE" --versions "$VERSIONS" --model-bytes "$(stat -L -c %s "$MODEL")"
cat "$OUT"
echo "wrote $OUT (raw figures: $JSON_DIR/native.json${WEB_JSON:+, $JSON_DIR/web.json})" >&2
