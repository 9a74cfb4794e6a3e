#!/usr/bin/env bash
# Web benchmark: the npm package (web/) against @wllama/wllama in the same headless Chromium,
# same model file served from 127.0.0.1: page load → first token with a warm cache, prompt and
# generation tokens/s, .wasm size (raw, gzip) and npm package size. Writes the "Web package"
# section of BENCHMARKS.md (after the kept-sections marker) and the raw JSON to
# target/bench-web.json.
# Usage: scripts/bench-web.sh [--reps N]   (default 3)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/models/fetch-model.sh"
export TUTOR_MODEL="${TUTOR_MODEL:-$ROOT/models/cache/gemma-3-270m-q4_k_m.gguf}"
"$ROOT/web/build.sh"
JSON="${CARGO_TARGET_DIR:-$ROOT/target}/bench-web.json"
(cd web && node bench/bench.mjs "$@") > "$JSON"
node web/bench/report.mjs "$JSON" BENCHMARKS.md
echo "wrote BENCHMARKS.md (web section) from $JSON"
