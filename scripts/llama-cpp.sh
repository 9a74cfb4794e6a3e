#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` and `llama-bench` (Release, CPU only, no BLAS, no curl) from
# the llama.cpp that the `llama-cpp-python` sdist on PyPI vendors, into a cache outside the clone:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/tutor-runtime/llama.cpp/<version>/bin/{llama-server,llama-bench}
# Idempotent: an existing build is reused. Prints the bin directory as the last line.
#
#   scripts/llama-cpp.sh [--version X.Y.Z]      (default: the newest sdist pip finds)
# Env: LLAMA_CPP_PYTHON_VERSION (same as --version), LLAMA_CPP_JOBS (default: nproc).
# Not part of the test run: used for side-by-side figures (the gateway in front of llama-server,
# llama-bench). Takes 10+ minutes on 2 cores.
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --version) VERSION="$2"; shift 2 ;;
    *) echo "usage: $0 [--version X.Y.Z]" >&2; exit 2 ;;
  esac
done
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tutor-runtime/llama.cpp"
JOBS="${LLAMA_CPP_JOBS:-$(nproc)}"
mkdir -p "$CACHE"

have_bins() { [[ -x "$1/bin/llama-server" && -x "$1/bin/llama-bench" ]]; }

# A pinned version that is already built needs no network at all.
if [[ -n "$VERSION" ]] && have_bins "$CACHE/$VERSION"; then
  echo "llama.cpp (llama-cpp-python $VERSION) already built" >&2
  echo "$CACHE/$VERSION/bin"
  exit 0
fi

if ! command -v cmake >/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cmake >&2 \
      || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cmake >&2; }
  else
    echo "cmake not found: install it (apt-get install cmake, or pip install cmake)" >&2
    exit 1
  fi
fi
PIP=(python3 -m pip)
command -v g++ >/dev/null || { echo "g++ not found (apt-get install g++)" >&2; exit 1; }

DL="$CACHE/sdist"
mkdir -p "$DL"
spec="llama-cpp-python${VERSION:+==$VERSION}"
# Only the source archive: no dependencies, no wheels.
"${PIP[@]}" download --no-deps --no-binary :all: -d "$DL" "$spec" >&2
if [[ -z "$VERSION" ]]; then
  SDIST="$(ls -t "$DL"/llama_cpp_python-*.tar.gz | head -1)"
  VERSION="$(basename "$SDIST" .tar.gz)"; VERSION="${VERSION#llama_cpp_python-}"
else
  SDIST="$DL/llama_cpp_python-$VERSION.tar.gz"
fi
[[ -f "$SDIST" ]] || { echo "sdist not found at $SDIST" >&2; exit 1; }
OUT="$CACHE/$VERSION"
if have_bins "$OUT"; then
  echo "llama.cpp (llama-cpp-python $VERSION) already built" >&2
  echo "$OUT/bin"
  exit 0
fi

SRC="$OUT/src"
rm -rf "$SRC" "$OUT/build"
mkdir -p "$SRC"
tar -xzf "$SDIST" -C "$SRC" --strip-components=1
LLAMA="$SRC/vendor/llama.cpp"
[[ -f "$LLAMA/CMakeLists.txt" ]] || { echo "no vendor/llama.cpp in $SDIST" >&2; exit 1; }

echo "building llama.cpp from llama-cpp-python $VERSION with $JOBS jobs (this takes a while)" >&2
cmake -S "$LLAMA" -B "$OUT/build" -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF \
  -DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DGGML_NATIVE=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
  -DBUILD_SHARED_LIBS=OFF >&2
nice cmake --build "$OUT/build" --config Release -j "$JOBS" --target llama-server llama-bench >&2
mkdir -p "$OUT/bin"
for b in llama-server llama-bench; do
  f="$(find "$OUT/build" -type f -name "$b" -perm -u+x | head -1)"
  [[ -n "$f" ]] || { echo "$b was not built" >&2; exit 1; }
  cp "$f" "$OUT/bin/$b"
done
rm -rf "$OUT/build"
echo "built $OUT/bin" >&2
echo "$OUT/bin"
