#!/usr/bin/env bash
# One entry point for people and CI.
#   ./build.sh demo    set up (toolchain, model) and stream an answer from the real model
#   ./build.sh test    set up, then the whole test suite (native + wasm32 in headless Chromium)
#   ./build.sh bench   benchmarks; writes BENCHMARKS.md
#   ./build.sh web     set up, build the npm package (web/) and serve its demo page on 127.0.0.1:8080
#   ./build.sh setup   only install what the others need
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
[[ -f "$HOME/.cargo/env" ]] && . "$HOME/.cargo/env"
export PATH="$HOME/.cargo/bin:$PATH"

cmd="${1:-}"
shift || true
case "$cmd" in
  setup) scripts/setup.sh ;;
  demo)
    scripts/setup.sh
    cargo build --release --bin tutor
    prompt="${1:-Photosynthesis is the process by which}"
    ./target/release/tutor run --model models/cache/gemma-3-270m-q4_k_m.gguf --prompt "$prompt" --max-tokens 64
    ;;
  test)
    scripts/setup.sh
    scripts/test.sh "$@"
    ;;
  bench) scripts/bench.sh "$@" ;;
  web)
    scripts/setup.sh
    web/build.sh
    node web/demo/serve.mjs "${1:-8080}"
    ;;
  *)
    echo "usage: ./build.sh demo|test|bench|setup|web" >&2
    exit 2
    ;;
esac
