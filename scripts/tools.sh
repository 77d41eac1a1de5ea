#!/usr/bin/env bash
# Installs what building and testing the page needs, skipping what is there already:
# rustup components and the wasm32 target, trunk 0.21.14, wasm-bindgen-cli at Cargo.lock's
# wasm-bindgen version, xz, and (with `--browser`) Chromium, chromedriver and the npm packages
# of tests/e2e (playwright-core, binaryen's wasm-opt). Sourced by serve.sh and test.sh; it
# puts npm's wasm-opt first on PATH (Debian's binaryen builds broken modules).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rustup component add rustfmt clippy >/dev/null
rustup target add wasm32-unknown-unknown >/dev/null

# The tools are built to build quickly (no LTO, 16 codegen units, opt-level 1: trunk's own
# release profile, whole-program LTO and one codegen unit, is slow to build on 2 cores) and
# without their default features (TLS, for downloads and update checks: they never download).
quick="CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1"
bindgen=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen" ]; then
    # `--locked` fails for this crate (a pinned dependency is gone from the index).
    env $quick cargo install wasm-bindgen-cli --version "$bindgen" --no-default-features
fi
if [ "$(trunk --version 2>/dev/null)" != "trunk 0.21.14" ]; then
    # trunk 0.22 needs a newer rustc than 1.95.
    env $quick cargo install trunk --locked --version 0.21.14 --no-default-features
fi

# xz compresses the page's weights (scripts/site-hook.sh).
if ! command -v xz >/dev/null; then
    sudo=$(command -v sudo || true)
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq xz-utils
fi
if [ "${1:-}" = "--browser" ] && ! command -v chromedriver >/dev/null; then
    sudo=$(command -v sudo || true)
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq chromium chromium-driver
fi
if [ ! -x tests/e2e/node_modules/.bin/wasm-opt ]; then
    (cd tests/e2e && npm ci --no-audit --no-fund)
fi
# Trunk builds offline: fetch every crate of every target first.
cargo fetch --locked
export PATH="$PWD/tests/e2e/node_modules/.bin:$PATH"
