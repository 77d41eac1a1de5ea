#!/usr/bin/env bash
# The GPU run, as the device tool runs it from the repository root (README, "Training"):
#   bash training/gpu.sh [MINUTES] [PLAN]      (default 8.5 minutes, plan `gpu`)
# carrying the pack (`PACK`, default training/data/gpu.safetensors) and, for the plans that
# warm-start it, the long run's enhancer as training/data/enhancer.safetensors — both made by
# training/gpu-prepare.sh (the long CPU run's PatchVAE, `LONG_RUN` in train.py, is committed). First the throughput benchmark (bench.json); from it
# the steps of the VAE, SimCLR and enhancer stages are sized to fit MINUTES with the
# compilations and validations; then the run, its export and curves, all written to $OUT (at
# most 8 files); then, here:
#   cargo run --release -- train --networks <networks.safetensors> --data ../shared/data/train
set -euo pipefail
cd "$(dirname "$0")"
minutes=${1:-8.5}
plan=${2:-gpu}
pack=${PACK:-data/gpu.safetensors}
out=${OUT:-runs/$plan-out}
run=runs/$plan
export PYTHONUNBUFFERED=1
start=$(date +%s)
mkdir -p "$out"
sets=()
if [ ! -f "$run/plan.json" ]; then
    python3 -m sacodec_train bench --plan "$plan" --rounds 1 --torch-python none --vae-batch 2048 \
        --enhancer-batch 32 --json "$out/bench.json" > /dev/null
    # Shares of MINUTES: VAE 40 %, SimCLR at most 6 %, enhancer 25 %; the rest is for the
    # benchmark, compiling, validating and exporting.
    read -r vae simclr enh < <(python3 - "$out/bench.json" "$minutes" <<'PY'
import json, sys
b, s = json.load(open(sys.argv[1])), float(sys.argv[2]) * 60
v, e = b["vae"]["patches_per_s"], b["enhancer"]["crops_per_s"]
print(int(v * 0.40 * s / 2048), min(1500, int(v * 0.06 * s / 2048)), int(e * 0.25 * s / 32))
PY
)
    echo "steps sized from the benchmark: vae $vae, simclr $simclr, enhancer $enh"
    sets=(--set "vae.steps=$vae" --set "simclr.steps=$simclr" --set "enhancer.steps=$enh")
fi
left=$(python3 -c "print($minutes - ($(date +%s) - $start) / 60 - 0.5)")
python3 -m sacodec_train train --run "$run" --plan "$plan" --pack "$pack" "${sets[@]}" \
    --minutes "$left" | tee "$out/train.out" | grep -v '^{' || true
tar czf "$out/logs.tgz" --exclude='*.safetensors' "$run"
cp "$run/vae/ckpt.safetensors" "$out/vae-ckpt.safetensors"
python3 -m sacodec_train export --run "$run" --out "$out/networks.safetensors"
python3 -m sacodec_train curves --run "$run" --out "$out/training-curves.svg"
# The device tool brings back files of up to 16 MiB (a wide run's networks and checkpoint are
# larger): those are cut into parts, joined here by `cat NAME.part* > NAME`.
for f in "$out"/*; do
    if [ "$(stat -c %s "$f")" -gt $((15 << 20)) ]; then split -b 15M -d "$f" "$f.part" && rm "$f"; fi
done
echo "gpu.sh: $(( $(date +%s) - start )) s"
