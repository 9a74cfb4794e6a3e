#!/usr/bin/env bash
# Benchmarks side by side with what users would pick instead, on this machine, in one run;
# writes BENCHMARKS.md (ratios ours/theirs, machine, date, versions).
#   scripts/bench.sh [--models "gemma3 smollm2"] [--reps N] [--web-reps N] [--skip-web] [--smoke]
# For each model (default: both real models, from TUTOR_MODEL_DIR or models/cache; any .gguf file
# may be named instead):
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
MODELS="gemma3 smollm2"
OUT="$ROOT/BENCHMARKS.md"
LLAMA_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) REPS="$2"; shift 2 ;;
    --web-reps) WEB_REPS="$2"; shift 2 ;;
    --skip-web) WEB=0; shift ;;
    --models) MODELS="$2"; shift 2 ;;
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
MODEL_DIR="${TUTOR_MODEL_DIR:-$ROOT/models/cache}"

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

# One native run and one browser run per model, each pair of engines side by side on the same file.
REPORT_ARGS=()
for M in $MODELS; do
  case "$M" in
    gemma3) FILE="$MODEL_DIR/gemma-3-270m-q4_k_m.gguf"; NAME=gemma-3-270m; LABEL="Gemma 3 270M Q4_K_M" ;;
    smollm2) FILE="$MODEL_DIR/smollm2-135m-instruct-q4_1.gguf"; NAME=smollm2-135m-instruct; LABEL="SmolLM2-135M-Instruct Q4_1" ;;
    *.gguf) FILE="$(realpath "$M")"; NAME="$(basename "$FILE" .gguf)"; LABEL="$NAME"; M="$NAME" ;;
    *) echo "unknown model $M (gemma3, smollm2 or a .gguf file)" >&2; exit 2 ;;
  esac
  echo "== $LABEL, native: tutor-runtime vs llama.cpp, memory bandwidth, GPU backend" >&2
  NATIVE_ARGS=(--tutor "$TUTOR_BIN" --model "$FILE" --llama-bin "$LLAMA_BIN" --reps "$REPS")
  [[ "$SMOKE" == 1 ]] && NATIVE_ARGS+=(--pp 16 --tg 8 --gpu-pp 4 --gpu-tg 2)
  python3 scripts/bench/native.py "${NATIVE_ARGS[@]}" > "$JSON_DIR/native-$M.json"

  WEB_JSON="$JSON_DIR/web-$M.json"
  if [[ "$WEB" == 1 ]]; then
    echo "== $LABEL, browser: npm package vs @wllama/wllama in headless Chromium" >&2
    if [[ "$SMOKE" == 0 || ! -f web/dist/tutor_runtime_bg.wasm ]] && [[ "${WEB_BUILT:-0}" == 0 ]]; then
      web/build.sh >&2
      WEB_BUILT=1
    fi
    WEB_ARGS=(--model "$FILE" --name "$NAME")
    if [[ "$SMOKE" == 1 ]]; then WEB_ARGS+=(--smoke); else WEB_ARGS+=(--reps "$WEB_REPS"); fi
    (cd web && node bench/bench.mjs "${WEB_ARGS[@]}") > "$WEB_JSON"
  elif [[ -f "$WEB_JSON" && "$SMOKE" == 0 ]]; then
    echo "(--skip-web: reusing the browser figures of $WEB_JSON, measured $(date -r "$WEB_JSON" -u '+%F %H:%M') UTC)" >&2
  else
    WEB_JSON=-
  fi
  REPORT_ARGS+=(--model "$LABEL" "$JSON_DIR/native-$M.json" "$WEB_JSON" "$(stat -L -c %s "$FILE")")
done

CPU="$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
FLAGS="$(grep -o -w -E 'avx2|avx512f|avx512_vnni|avx512vnni' /proc/cpuinfo | sort -u | tr '\n' ' ' | sed 's/ $//')"
GPU="$(lspci 2>/dev/null | grep -i -E 'vga|3d|display' | sed 's/^[^ ]* //' | head -1 || true)"
MACHINE="$CPU, $(nproc) cores ($FLAGS), $(free -g | awk '/Mem:/{print $2}') GiB RAM, ${GPU:-no GPU}; $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
VERSIONS="tutor-runtime $(git describe --always --dirty 2>/dev/null || echo '?'), $(rustc --version), candle-core 0.11.1, wgpu 30, node $(node --version)"
python3 scripts/bench/report.py "${REPORT_ARGS[@]}" --out "$OUT" --machine "$MACHINE" --versions "$VERSIONS"
cat "$OUT"
echo "wrote $OUT (raw figures: $JSON_DIR/)" >&2
