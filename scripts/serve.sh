#!/usr/bin/env bash
# Installs what a fresh machine lacks (see tools.sh), builds the page with Cargo's dev profile
# (dependencies optimised, no LTO: the networks run at speed, and a change to the Rust side
# rebuilds in seconds) and serves it at http://127.0.0.1:8080/, rebuilding on every change.
# Extra arguments go to `trunk serve` (`--release`: the published site's size-optimised
# build, ~30 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
exec trunk serve "$@"
