#!/usr/bin/env bash
# Regenerates tests/reference/templates/*.json: llama.cpp's own rendering of chat templates, the
# reference crate/tests/native/templates.rs compares our renderer with byte for byte.
#
#   scripts/reference/templates.sh
#
# For every template in the llama-cpp-python 0.3.36 sdist's vendor/llama.cpp/models/templates/
# plus the fetched models' own tokenizer.chat_template, it starts
#   llama-server --jinja --chat-template-file F -m MODEL --host 127.0.0.1 --port P
# and POSTs /apply-template with a fixed set of conversations (templates.py). Each template is
# rendered under the SmolLM2 vocab (bos/eos texts "<|im_start|>"/"<|im_end|>", add_bos false) and,
# when the template names bos_token, also under Gemma 3's (add_bos true: llama.cpp strips BOS).
# Needs llama.cpp built by scripts/llama-cpp.sh (never run in CI: the fixtures are committed).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VERSION=0.3.36
BIN="$("$ROOT/scripts/llama-cpp.sh" --version "$VERSION" | tail -n 1)"
SRC="${XDG_CACHE_HOME:-$HOME/.cache}/tutor-runtime/llama.cpp/$VERSION/src/vendor/llama.cpp/models/templates"
[[ -d "$SRC" ]] || { echo "no llama.cpp source at $SRC (run scripts/llama-cpp.sh --version $VERSION)" >&2; exit 1; }
MODELS="$ROOT/models/cache"
for m in smollm2-135m-instruct-q4_1.gguf gemma-3-270m-q4_k_m.gguf; do
  [[ -f "$MODELS/$m" ]] || { echo "missing $MODELS/$m (models/fetch-model.sh all)" >&2; exit 1; }
done
# strftime_now / date_string print the local date: render in UTC, record the date in the fixture.
export TZ=UTC
exec python3 "$ROOT/scripts/reference/templates.py" \
  --server "$BIN/llama-server" --templates "$SRC" --models "$MODELS" \
  --out "$ROOT/tests/reference/templates" --llama-version "$VERSION"
