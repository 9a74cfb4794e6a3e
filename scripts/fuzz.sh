#!/usr/bin/env bash
# Runs each cargo-fuzz target in fuzz/ for a fixed time (libFuzzer, nightly, all cores but one
# shared by the jobs), then replays every input under fuzz/regressions/<target>/ (crashes found
# earlier, committed) so a fixed bug stays fixed. Not part of ./build.sh test.
#   scripts/fuzz.sh [--seconds 300] [target ...]     targets: gguf tokenizer sse template
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"
SECONDS_EACH=300
TARGETS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
(( ${#TARGETS[@]} )) || TARGETS=(gguf tokenizer sse template)
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
JOBS=$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))
for t in "${TARGETS[@]}"; do
  echo "=== fuzz $t: ${SECONDS_EACH}s, $JOBS jobs ==="
  mkdir -p "corpus/$t"
  # Seed corpus: the committed regressions and, for the parsers, real inputs from the repository.
  case "$t" in
    sse) cp ../tests/reference/gemma3/sse_sample*.txt "corpus/$t/" ;;
    template) for f in ../tests/reference/templates/*.json; do python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["source"], end="")' "$f" > "corpus/$t/$(basename "$f" .json)" 2>/dev/null || true; done ;;
  esac
  [[ -d "regressions/$t" ]] && cp regressions/"$t"/* "corpus/$t/" 2>/dev/null || true
  cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" -jobs="$JOBS" -workers="$JOBS" -max_len=65536 \
    > "$t.log" 2>&1 || true
  grep -h -A3 "panicked at\|ERROR: libFuzzer" "$t.log" fuzz-*.log 2>/dev/null | head -20 || true
  grep -h "^Done [0-9]* runs\|stat::number_of_executed_units" "$t.log" fuzz-*.log 2>/dev/null | tail -"$JOBS" || true
  rm -f fuzz-*.log
  if [[ -d "regressions/$t" ]]; then
    cargo +nightly fuzz run -O "$t" regressions/"$t"/* -- -runs=0 2>&1 | tail -1
  fi
done
ls artifacts/*/crash-* 2>/dev/null && { echo "crashes found (above): copy each into fuzz/regressions/<target>/ with its fix" >&2; exit 1; }
echo "no crashes"
