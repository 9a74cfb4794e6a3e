#!/usr/bin/env bash
# Installs what building, testing and the demo need on a Debian machine (run as root):
# apt packages (Chromium + ChromeDriver, Mesa Vulkan, redis-server), the wasm32 target, wasm-bindgen-cli,
# web/'s npm packages (npm ci) and the real model (models/fetch-model.sh). Idempotent: skips what is already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WBG_VERSION="0.2.130"
export DEBIAN_FRONTEND=noninteractive
[[ -f "$HOME/.cargo/env" ]] && . "$HOME/.cargo/env"
export PATH="$HOME/.cargo/bin:$PATH"
phase_start() { PHASE="$1"; PT=$SECONDS; echo; echo "=== [setup] $PHASE ==="; }
phase_end() { echo "=== [setup] $PHASE: $(( SECONDS - PT ))s ==="; }

# ---------------------------------------------------------------------------------------------
phase_start "apt packages"
need=()
for p in chromium chromium-driver mesa-vulkan-drivers libvulkan1 redis-server unzip ca-certificates; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)          # linker for rustc, C for `ring`
command -v python3 >/dev/null 2>&1 || need+=(python3)
{ command -v pip3 || command -v pip || python3 -m pip --version; } >/dev/null 2>&1 || need+=(python3-pip)
if (( ${#need[@]} )); then
  echo "installing: ${need[*]}"
  apt-get update
  apt-get install -y --no-install-recommends "${need[@]}"
else
  echo "all present"
fi
phase_end

# ---------------------------------------------------------------------------------------------
phase_start "rust toolchain"
command -v rustup >/dev/null || { echo "rustup not found; install Rust with rustup first" >&2; exit 1; }
rustup target add wasm32-unknown-unknown
rustc --version
cargo --version
phase_end

# ---------------------------------------------------------------------------------------------
phase_start "wasm-bindgen-cli $WBG_VERSION"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [[ "$have" == "$WBG_VERSION" ]] && command -v wasm-bindgen-test-runner >/dev/null; then
  echo "wasm-bindgen $have present"
else
  echo "have '${have:-none}', installing $WBG_VERSION"
  cargo install wasm-bindgen-cli --version "$WBG_VERSION" --force
fi
wasm-bindgen --version
phase_end

# ---------------------------------------------------------------------------------------------
phase_start "npm packages (web/)"
command -v npm >/dev/null || { echo "npm not found (Node.js 20+ is needed for web/)" >&2; exit 1; }
if [[ ! -d web/node_modules || web/package-lock.json -nt web/node_modules/.package-lock.json ]]; then
  (cd web && npm ci --no-audit --no-fund)
else
  echo "web/node_modules up to date"
fi
phase_end

# ---------------------------------------------------------------------------------------------
phase_start "model"
models/fetch-model.sh
phase_end

