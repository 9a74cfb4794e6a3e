#!/usr/bin/env bash
# Builds the npm package into web/dist:
#   1. the engine: cargo (wasm32, release) → wasm-bindgen --target web → web/pkg/
#   2. TypeScript: tsc type-checks and writes .d.ts into dist/types; esbuild bundles
#      dist/index.js + dist/element.js (ESM, shared chunk) and dist/worker.js (module worker
#      with the wasm glue), and the .wasm is copied next to worker.js.
# Usage: web/build.sh [all|ts]   (ts: skip the cargo/wasm-bindgen step)
set -euo pipefail
WEB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$WEB/.." && pwd)"
[[ -f "$HOME/.cargo/env" ]] && . "$HOME/.cargo/env"
export PATH="$HOME/.cargo/bin:$PATH"
WHAT="${1:-all}"
cd "$WEB"
[[ -d node_modules ]] || npm ci --no-audit --no-fund

if [[ "$WHAT" == all ]]; then
  # Thin LTO for the .wasm's size (native builds go without it: see the workspace Cargo.toml).
  (cd "$ROOT" && CARGO_PROFILE_RELEASE_LTO=thin cargo rustc --release --target wasm32-unknown-unknown --no-default-features -p tutor-runtime --lib --crate-type cdylib)
  TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
  wasm-bindgen --target web --out-dir "$WEB/pkg" "$TARGET_DIR/wasm32-unknown-unknown/release/tutor_runtime.wasm"
fi
[[ -f pkg/tutor_runtime.js ]] || { echo "web/pkg missing: run web/build.sh all" >&2; exit 1; }

rm -rf dist
npx tsc -p tsconfig.json
npx esbuild src/index.ts src/element.ts --bundle --format=esm --splitting --target=es2022 --outdir=dist --log-level=warning
npx esbuild src/worker.ts --bundle --format=esm --target=es2022 --outfile=dist/worker.js --log-level=warning
cp pkg/tutor_runtime_bg.wasm dist/tutor_runtime_bg.wasm
ls -l dist/*.js dist/*.wasm | awk '{ printf "%10d  %s\n", $5, $9 }'
