#!/usr/bin/env bash
# Installs what a fresh machine lacks (see tools.sh), builds the page with Cargo's dev profile
# (dependencies optimised, no LTO: the networks run at speed, and a change to the Rust side
# rebuilds in seconds) and serves it at http://127.0.0.1:8080/, rebuilding on every change.
#   ./scripts/serve.sh            the page on the CPU path: without its WebGPU worker, whose
#                                 build (wgpu, cubecl) is half of a first build; the page then
#                                 says WebGPU is unavailable and runs on the CPU
#   ./scripts/serve.sh --webgpu   the whole page, as the tests and the published site build it
# Further arguments go to `trunk serve` (`--release`: the published site's size-optimised
# build, ~30 minutes on 2 cores with --webgpu).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
if [ "${1:-}" = "--webgpu" ]; then
    shift
    exec trunk serve "$@"
fi
# The page less the WebGPU worker's line (www/cpu.html, not committed: made from index.html).
grep -v 'data-bin="sacodec-worker-gpu"' www/index.html > www/cpu.html
exec trunk serve www/cpu.html "$@"
