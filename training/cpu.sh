#!/usr/bin/env bash
# One chunk of the long CPU run (README, "Training"): `LONG_RUN` of train.py (plan `LONG_PLAN`),
# whose state is committed, so any machine resumes it exactly where the last chunk stopped.
#   bash training/cpu.sh [MINUTES]      (default 60; at nice 19, so builds keep the cores)
# The Python environment (target/pyenv) and the pack (every pixel of ../shared/data/train)
# are made first where they are missing; the pack's hash must be the one the run started with. Then the run's curves are redrawn into results/.
set -euo pipefail
cd "$(dirname "$0")"
minutes=${1:-60}
source pyenv.sh
read -r run plan < <($py -c "from sacodec_train.train import LONG_RUN, LONG_PLAN; print(LONG_RUN, LONG_PLAN)")
pack=data/cpu.safetensors
[ -f "$pack" ] || $py -m sacodec_train pack --data ../../shared/data/train --out "$pack" \
    --budget-mib 0 --max-side 0 --cover
if [ -f "$run/pack.json" ]; then
    want=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['sha256'])" "$run/pack.json")
    have=$($py -c "from sacodec_train import io; import pathlib, sys; print(io.sha256(pathlib.Path(sys.argv[1])))" "$pack")
    [ "$want" = "$have" ] || { echo "error: $pack is not the pack $run was started on" >&2; exit 1; }
fi
nice -n 19 $py -m sacodec_train train --run "$run" --plan "$plan" --pack "$pack" --minutes "$minutes"
$py -m sacodec_train curves --run "$run" --out "../results/training-curves-$plan.svg"
