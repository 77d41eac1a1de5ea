#!/usr/bin/env bash
# Readies a GPU call of training/gpu.sh (README, "Training"), here, from the repository root:
#   bash training/gpu-prepare.sh           the pack and the long run's enhancer gpu.sh's plans carry,
#                                          and the bundles and pictures out of git's index (what
#                                          travels must stay under 64 MiB)
#   (the device tool: bash training/gpu.sh 8.5 PLAN, carrying
#    training/data/gpu.safetensors and training/data/enhancer.safetensors)
#   bash training/gpu-prepare.sh --after   them back in git's index, before any commit
set -euo pipefail
cd "$(dirname "$0")/.."
# What stays here: the bundles, the pictures, the long run's legs before (a GPU plan takes the
# long run's PatchVAE, `LONG_RUN`'s) and its enhancer's state (the call carries the enhancer,
# `LONG_ENHANCER`'s, as training/data/enhancer.safetensors, below).
heavy=(weights/sacodec.safetensors weights/previous/*.safetensors www/samples/*.png docs/screenshot.png
       training/runs/cpu2/vae/ckpt.safetensors training/runs/cpu3/vae/ckpt.safetensors
       training/runs/cpu4/vae/ckpt.safetensors training/runs/cpu4/enhancer/ckpt.safetensors)
exclude=.git/info/exclude
mark="# gpu-prepare.sh: these stay here during a GPU call"
if [ "${1:-}" = --after ]; then
    git reset -q -- "${heavy[@]}"
    sed -i "/^$mark\$/,\$d" "$exclude"
    git status --short -- "${heavy[@]}"
    exit 0
fi
source training/pyenv.sh
[ -f training/data/gpu.safetensors ] ||
    (cd training && $py -m sacodec_train pack --data ../../shared/data/train \
        --out data/gpu.safetensors --budget-mib 40 --max-side 0 --cover)
# The long run's enhancer (its parameters at the last checkpoint, without the optimiser's state).
(cd training && $py - <<'PY'
from pathlib import Path
import numpy as np
from safetensors.numpy import save_file
from sacodec_train.train import LONG_ENHANCER, Checkpoint
ckpt = Checkpoint.load(Path(LONG_ENHANCER), "enhancer")
save_file({k: np.asarray(v) for k, v in ckpt.params.items()}, Path("data/enhancer.safetensors"))
PY
)
if ! grep -qx "$mark" "$exclude"; then
    git rm --cached -q -- "${heavy[@]}"
    { echo "$mark"; printf '/%s\n' "${heavy[@]}"; } >> "$exclude"
fi
travels=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
carried=$(du -cb training/data/gpu.safetensors training/data/enhancer.safetensors | tail -1 | cut -f1)
echo "travels: $(( (travels + carried) >> 20 )) MiB of 64 (the tree $((travels >> 20)), carried $((carried >> 20)))"
echo "after the call: bash training/gpu-prepare.sh --after"
