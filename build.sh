#!/usr/bin/env bash
# One entry point for people and CI.
#   ./build.sh demo    set up (toolchain, model) and stream an answer from the real model
#   ./build.sh test    set up, then the whole test suite (native + wasm32 in headless Chromium)
#   ./build.sh bench   benchmarks; writes BENCHMARKS.md
#   ./build.sh fuzz    cargo-fuzz targets, each for a fixed time (scripts/fuzz.sh; not part of test)
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
    question="${1:-What is photosynthesis?}"
    ./target/release/tutor run --model models/cache/smollm2-135m-instruct-q4_1.gguf --question "$question" --max-tokens 256
    ;;
  test)
    scripts/setup.sh
    scripts/test.sh "$@"
    ;;
  bench) scripts/bench.sh "$@" ;;
  fuzz) scripts/fuzz.sh "$@" ;;
  web)
    scripts/setup.sh
    web/build.sh
    node web/demo/serve.mjs "${1:-8080}"
    ;;
  *)
    echo "usage: ./build.sh demo|test|bench|fuzz|setup|web" >&2
    exit 2
    ;;
esac
