"""`python -m sacodec_train compare`: how many fewer bits one bundle needs than another for the
same PSNR (BD-rate, `recipe.bd_rate`), decoded and enhanced — on the held-out images of two
entries of a weights manifest (`held_out`, as `sacodec train` measured them), or on the
images of two `sacodec eval --json` reports. Files coded with SimCLR ids, with context priors
(`--prior context`, the default) or the subclass priors alone (`--prior subclass`: what a
change of the context's coding leaves out).

    python -m sacodec_train compare --manifest ../weights/manifest.json \\
        previous/0ff61aa3b3800824.safetensors sacodec.safetensors
    python -m sacodec_train compare --eval old/kodak.json ../results/kodak.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .recipe import bd_rate

Curve = list[tuple[float, float]]


def manifest_curves(manifest: dict, file: str, prior: str = "context") -> dict[str, Curve]:
    """The held-out curves of the manifest entry of `file` under `prior`."""
    entry = next((f for f in manifest["files"] if f["file"] == file), None)
    if entry is None:
        raise SystemExit(f"no entry for {file} in the manifest")
    levels = entry["held_out"]["levels"]
    bpp = [lv["context"]["bpp_context_simclr"] if prior == "context" else lv["bpp_simclr"] for lv in levels]
    return {
        "decoded patches": list(zip(bpp, (lv["psnr_patches_stored"] for lv in levels))),
        "decoded crops": list(zip(bpp, (lv["psnr_decoded_crops"] for lv in levels))),
        "enhanced crops": list(zip(bpp, (lv["psnr_enhanced_crops"] for lv in levels))),
    }


def eval_curves(report: dict, prior: str = "context") -> dict[str, Curve]:
    """The mean curves of a `sacodec eval --json` report under `prior`."""
    means = report["means"]
    bpp = [m[f"bpp_{prior}_simclr"] for m in means]
    out = {"decoded": list(zip(bpp, (m["psnr_decoded"] for m in means)))}
    if all(m.get("psnr_enhanced") is not None for m in means):
        out["enhanced"] = list(zip(bpp, (m["psnr_enhanced"] for m in means)))
    return out


def compare(old: dict[str, Curve], new: dict[str, Curve]) -> dict[str, float | None]:
    """BD-rate (%) of each of `new`'s curves against the same curve of `old`."""
    return {name: bd_rate(old[name], curve) for name, curve in new.items() if name in old}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="sacodec_train compare", description=__doc__.split("\n\n")[0])
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--manifest", type=Path, help="a weights manifest; OLD and NEW are its `file` names")
    group.add_argument("--eval", action="store_true", help="OLD and NEW are `sacodec eval --json` reports")
    ap.add_argument("--prior", choices=("context", "subclass"), default="context", help="whose bits (SimCLR ids)")
    ap.add_argument("old")
    ap.add_argument("new")
    args = ap.parse_args(argv)
    if args.manifest:
        manifest = json.loads(args.manifest.read_text())
        old, new = (manifest_curves(manifest, f, args.prior) for f in (args.old, args.new))
    else:
        old, new = (eval_curves(json.loads(Path(p).read_text()), args.prior) for p in (args.old, args.new))
    for name, bd in compare(old, new).items():
        print(f"{name}: " + ("n/a" if bd is None else f"{bd:+.2f} % BD-rate, {args.new} against {args.old}"))
