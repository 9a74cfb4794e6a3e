#!/usr/bin/env bash
# The whole test suite: native (release) tests of the workspace, then the wasm32 tests in headless
# Chromium (wasm-bindgen-test-runner + chromedriver; browser flags in crate/webdriver.json).
#
# Usage: scripts/test.sh [all|native|wasm|web]   (default: all)
#   web: the npm package (web/) in headless Chromium via playwright-core with the real model.
#
# Needs: the real model (models/fetch-model.sh; run here when missing), chromium + chromium-driver,
# the wasm32-unknown-unknown target and wasm-bindgen-cli 0.2.130 (see .ci/run).
# Env: TUTOR_MODEL (Gemma 3 270M, the exactness reference), TUTOR_CHAT_MODEL (SmolLM2, the
#      gateway's chat model) or TUTOR_MODEL_DIR for both, CHROMEDRIVER, WASM_BINDGEN_TEST_TIMEOUT (s),
#      CARGO_TARGET_DIR (default: target/ in the clone), TUTOR_REQUIRE_GPU (default 1 here: no GPU
#      adapter fails the GPU tests instead of skipping them; 0 lets a machine without Vulkan skip).
set -euo pipefail
export TUTOR_REQUIRE_GPU="${TUTOR_REQUIRE_GPU:-1}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WHAT="${1:-all}"
case "$WHAT" in all|native|wasm|web) ;; *) echo "usage: $0 [all|native|wasm|web]" >&2; exit 2 ;; esac
WBG_VERSION="0.2.130"
T0=$SECONDS
# Every cargo test summary line is collected here; the last line printed is the grand total.
RESULTS="$(mktemp)"
totals() {
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
       END { printf "tests: %d passed, %d failed, %d skipped (reported as ignored: not run)\n", p, f, s }' "$RESULTS"
}
phase() { echo; echo "=== $* ==="; }
took() { echo "--- $1: $(( SECONDS - $2 ))s"; }

# The real model, for the native tests that run it.
if [[ "$WHAT" != wasm && -z "${TUTOR_MODEL:-}" ]]; then
  "$ROOT/models/fetch-model.sh"
  export TUTOR_MODEL="${TUTOR_MODEL_DIR:-$ROOT/models/cache}/gemma-3-270m-q4_k_m.gguf"
fi
export TUTOR_CHAT_MODEL="${TUTOR_CHAT_MODEL:-${TUTOR_MODEL_DIR:-$ROOT/models/cache}/smollm2-135m-instruct-q4_1.gguf}"

# The npm package in headless Chromium (playwright-core), real model; node's test runner's totals
# are printed as a cargo-style "test result:" line so the grand total counts them.
web_tests() {
  phase "web: npm package in headless Chromium (playwright-core, real model)"
  local t=$SECONDS log rc pass fail skip
  log="$(mktemp)"
  "$ROOT/web/build.sh"
  set +e
  (cd "$ROOT/web" && node --test --test-concurrency=1 --test-reporter=tap test/web.test.mjs ../tests/e2e/cascade.test.mjs ../tests/e2e/conversation.test.mjs) 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  pass="$(awk '/^# pass /{ n = $3 } END { print n + 0 }' "$log")"
  fail="$(awk '/^# fail /{ n = $3 } END { print n + 0 }' "$log")"
  skip="$(awk '/^# skipped /{ n = $3 } END { print n + 0 }' "$log")"
  if [[ $rc -eq 0 && $fail -eq 0 ]]; then
    echo "test result: ok. $pass passed; $fail failed; $skip ignored" | tee -a "$RESULTS"
  else
    (( fail > 0 )) || fail=1
    echo "test result: FAILED. $pass passed; $fail failed; $skip ignored" | tee -a "$RESULTS"
    totals
    exit 1
  fi
  took "web browser tests" "$t"
}
if [[ "$WHAT" == web ]]; then
  web_tests
  echo; echo "WEB TESTS PASSED in $(( SECONDS - T0 ))s"; totals; exit 0
fi

if [[ "$WHAT" != wasm ]]; then
  phase "native: cargo test --workspace --release"
  t=$SECONDS
  cargo test --workspace --release 2>&1 | tee -a "$RESULTS"
  took "native tests" "$t"
fi
[[ "$WHAT" == native ]] && { echo; echo "NATIVE TESTS PASSED in $(( SECONDS - T0 ))s"; totals; exit 0; }

phase "wasm32: browser tests in headless Chromium"
t=$SECONDS
command -v wasm-bindgen-test-runner >/dev/null \
  || { echo "wasm-bindgen-test-runner not on PATH: cargo install wasm-bindgen-cli --version $WBG_VERSION" >&2; exit 1; }
got="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')"
[[ "$got" == "$WBG_VERSION" ]] \
  || { echo "wasm-bindgen-cli is ${got:-missing}, the crate pins $WBG_VERSION: cargo install wasm-bindgen-cli --version $WBG_VERSION" >&2; exit 1; }
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver || echo /usr/bin/chromedriver)}"
[[ -x "$CHROMEDRIVER" ]] || { echo "chromedriver not found (apt-get install chromium chromium-driver)" >&2; exit 1; }
# The runner's default per-suite limit is 20 s; model-running browser tests need more.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-300}"
# Run from crate/ so the runner picks up crate/webdriver.json (headless, --enable-unsafe-webgpu, ...).
# Release with thin LTO, as web/build.sh builds the package's .wasm: the two builds share every
# dependency (the test profile's full debug info made this compile take 3-4x as long).
(cd "$ROOT/crate" && CARGO_PROFILE_RELEASE_LTO=thin cargo test --release --target wasm32-unknown-unknown --no-default-features --test wasm_smoke) 2>&1 | tee -a "$RESULTS"
took "wasm browser tests" "$t"

[[ "$WHAT" == all ]] && web_tests

if [[ "$WHAT" == all ]]; then
  phase "benchmark smoke run (one short repetition; numbers not meaningful)"
  t=$SECONDS
  "$ROOT/scripts/bench.sh" --smoke >/dev/null
  took "bench smoke" "$t"
fi

echo
[[ "$WHAT" == wasm ]] && { echo "WASM BROWSER TESTS PASSED in $(( SECONDS - T0 ))s"; totals; exit 0; }
echo "ALL TESTS PASSED (native release + wasm32 + web package in headless Chromium) in $(( SECONDS - T0 ))s"
totals
