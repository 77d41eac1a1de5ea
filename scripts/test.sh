#!/usr/bin/env bash
# Installs what a fresh machine lacks (rustup components and the wasm32 target), then runs
# every check CI runs: formatting, clippy, the wasm32 build of the library, all tests
# (unit, integration, property, CLI, doc) and each benchmark once in test mode.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component add rustfmt clippy
rustup target add wasm32-unknown-unknown

cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo check --locked --lib --target wasm32-unknown-unknown --no-default-features
cargo test --locked --all-targets
cargo test --locked --doc
