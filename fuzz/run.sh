#!/usr/bin/env bash
# Reproduces the runs reported in fuzz/README.md: both targets, RUNS executions each (default
# 10^7), side by side (one core each), from the committed seed corpora (seeds/, copied into
# the working corpora corpus/, which keep what the fuzzer finds). Logs go to logs/<target>.log;
# the last lines of each give executions, exec/s, coverage and peak RSS.
#
#   cd fuzz && ./run.sh                 # 10^7 executions per target
#   RUNS=100000 ./run.sh                # a quick look
#   ./run.sh --seeds                    # first regenerate seeds/ (make_corpus)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --version 0.13.2 --locked`); on a stable
# toolchain RUSTC_BOOTSTRAP=1 lets it pass its nightly flags.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
RUNS=${RUNS:-10000000}
TARGETS=(sac_reader payload_decoder)
# No sanitizer: the library has no unsafe code of its own, and without ASan the run is ~5x
# faster; debug assertions (overflow checks included) stay on.
FLAGS=(--sanitizer none --debug-assertions --codegen-units 16)

if [ "${1:-}" = --seeds ]; then
    cargo run --profile corpus --example make_corpus
fi
for t in "${TARGETS[@]}"; do
    cargo fuzz build "${FLAGS[@]}" "$t"
done
mkdir -p logs
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t"
    cp -n seeds/"$t"/* "corpus/$t/"
    cargo fuzz run "${FLAGS[@]}" "$t" "corpus/$t" -- \
        -runs="$RUNS" -max_len=4096 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        > "logs/$t.log" 2>&1 &
done
status=0
wait -n || status=1
wait -n || status=1
for t in "${TARGETS[@]}"; do
    echo "== $t"
    grep -E '^(#[0-9]+.*(DONE|pulse)|stat::|Done)' "logs/$t.log" | tail -8
    ls artifacts/"$t" 2>/dev/null | sed 's/^/finding: /' || true
done
exit $status
