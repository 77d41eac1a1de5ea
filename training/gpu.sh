#!/usr/bin/env bash
# One chunk of the GPU training run, as the device tool runs it from the repository root,
# carrying the pack:   bash training/gpu.sh [MINUTES]       (carry: training/data)
# Call it again while the machine is still warm (its ignored run folder is kept between
# calls) until it prints "run finished". Each call writes to $OUT the throughput benchmark
# (first call), the run's plan and logs, and, once the run is finished, the exported
# networks and the training curves; then, here:
#   cargo run --release -- train --networks <networks.safetensors> --data ../shared/data/train
set -euo pipefail
cd "$(dirname "$0")"
minutes=${1:-9}
out=${OUT:-runs/gpu-out}
run=runs/gpu
mkdir -p "$out"
[ -f "$run/plan.json" ] || python3 -m sacodec_train bench | tee "$out/bench.json"
python3 -m sacodec_train train --run "$run" --plan gpu --pack data/pack.safetensors \
    --minutes "$minutes" > "$out/train.out"
grep -v '^{' "$out/train.out" || true
tar czf "$out/logs.tgz" --exclude='*.safetensors' "$run"
if grep -q "^run finished" "$out/train.out"; then
    python3 -m sacodec_train export --run "$run" --out "$out/networks.safetensors"
    python3 -m sacodec_train curves --run "$run" --out "$out/training-curves.svg"
fi
