"""A weights bundle's networks, per-level gains and λ as a trainer's export, so that
`sacodec train --networks` can bundle the same networks again (a new storage format; the
priors, K and the held-out figures are fitted and measured anew).

    target/pyenv/bin/python scripts/bundle-to-export.py weights/sacodec.safetensors \
        weights/manifest.json runs/rebundle/export.safetensors --note "why"

The networks are read exactly (f16 and f32 as they are; 8-bit as integer × scale); λ and
the trainer's record come from the bundle's manifest entry, with the note appended."""

import argparse
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

NETS = ("vae.", "projection.", "enhancer.")

ap = argparse.ArgumentParser()
ap.add_argument("bundle", type=Path)
ap.add_argument("manifest", type=Path)
ap.add_argument("out", type=Path)
ap.add_argument("--note", required=True)
args = ap.parse_args()

bundle = load_file(args.bundle)
entry = next(f for f in json.loads(args.manifest.read_text())["files"] if f["file"] == args.bundle.name)
out = {}
for name, t in bundle.items():
    if not name.startswith(NETS) or name.endswith(".scale"):
        continue
    if t.dtype == np.int8:
        scale = bundle[name + ".scale"].astype(np.float32)
        t = t.astype(np.float32) * scale.reshape((-1,) + (1,) * (t.ndim - 1))
    out[name] = t.astype(np.float32)
levels = len(entry["held_out"]["levels"])
out["levels.gain"] = np.stack([bundle[f"levels.{q}.gain"] for q in range(levels)]).astype(np.float32)
out["levels.lambda"] = np.array([l["lambda"] for l in entry["held_out"]["levels"]], np.float32)
record = dict(entry["trainer"])
record["notes"] = record.get("notes", []) + [args.note]
args.out.parent.mkdir(parents=True, exist_ok=True)
save_file(out, args.out, metadata={"format": "sacodec-networks-1", "record": json.dumps(record)})
print(f"{args.out}: {sum(t.size for n, t in out.items() if n.startswith(NETS))} network parameters, {levels} levels")
