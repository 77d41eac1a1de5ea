#!/usr/bin/env bash
# Installs what a fresh machine lacks (see tools.sh), builds the page in release mode and
# serves it at http://127.0.0.1:8080/ (extra arguments go to `trunk serve`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
exec trunk serve --release "$@"
