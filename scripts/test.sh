#!/usr/bin/env bash
# The README's test command and CI's: installs what a fresh machine lacks (scripts/tools.sh:
# the wasm32 target, trunk, wasm-bindgen-cli, Chromium and chromedriver, playwright-core),
# then runs every check: the Python trainer's unit tests and the parity fixture it writes,
# formatting, clippy (native and the wasm32 app), all native tests (unit, integration,
# property, CLI, doc, and the parity of burn's networks with the trainer's) and each benchmark
# once in test mode, the fuzzers' targets and seed corpora, the codec in wasm in headless Chromium (CPU and WebGPU), and the built
# page end to end in headless Chromium with and without WebGPU (screenshots in target/e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each step says how long it took (where a CI run's minutes go).
step() {
    local start=$SECONDS
    "$@"
    echo "test.sh: $((SECONDS - start)) s: $*" | cut -c1-110 >&2
}
step source scripts/tools.sh --browser

# The trainer (training/: JAX, on the CPU here) in its own virtual environment: its unit
# tests, and the parity fixtures that tests/parity.rs checks burn's networks and the shared
# rules against.
[ -x target/pyenv/bin/python ] || python3 -m venv target/pyenv
step target/pyenv/bin/pip install --quiet --disable-pip-version-check -r training/requirements-ci.txt
step env -C training ../target/pyenv/bin/python -m unittest discover -s tests
step env -C training ../target/pyenv/bin/python -m sacodec_train parity \
    --out ../target/parity

step cargo fmt --check
step cargo clippy --locked --all-targets -- -D warnings
# The page's three binaries in one run (one check of the dependencies, not three).
step cargo clippy --locked --target wasm32-unknown-unknown --no-default-features \
    --features app,worker-gpu --bins -- -D warnings
step cargo test --locked --all-targets
step cargo test --locked --doc
step cargo test --locked --test parity -- --ignored
# The fuzzers (fuzz/, its own workspace): the targets compile, and their seed corpora come out
# of the fixture unchanged, every file decoding back to what it was made from (running the
# targets needs cargo-fuzz: fuzz/README.md).
step cargo check --locked --manifest-path fuzz/Cargo.toml --bins
step cargo run --locked --manifest-path fuzz/Cargo.toml --profile corpus --example make_corpus
changed=$(git status --porcelain -- fuzz/seeds)
[ -z "$changed" ] || { echo "fuzz/seeds changed:"; echo "$changed"; exit 1; } >&2

# With the WebGPU worker's features, so the page's build below reuses every dependency this
# builds (only the test's own crates differ): one wasm build of burn and wgpu, not two.
CHROMEDRIVER=$(command -v chromedriver) step cargo test --locked --target wasm32-unknown-unknown \
    --no-default-features --features worker-gpu --test wasm

# The e2e test's CLI is target/debug/sacodec, built by `cargo test` for the integration
# tests (a separate `cargo build` would rebuild the dependencies without dev features).
step trunk build
for backend in cpu webgpu; do
    step node tests/e2e/page.mjs --backend "$backend" --site pkg --out target/e2e --cli target/debug/sacodec
done
