"""The recipe, decided by measurement: a set of short runs that each change one thing against a
baseline, compared on held-out tiles of the pack, written to `results/recipe-SCALE.{json,md}`.

- the autoencoder's ceiling (PSNR of unquantized μ) beside every run's curve;
- one gained model for all levels against per-level models;
- larger widths of the same topology;
- learning-rate schedule, and batch size at an equal number of patches;
- subclass priors in the loop: SimCLR and rate-optimal savings (measured by `sacodec train` on
  held-out images) before and after fine-tuning with the subclass rate;
- the enhancer told the level, or not.

Runs are resumable like any other (`--minutes` cuts the work into chunks); a finished run is
not trained again.

    python -m sacodec_train recipe --scale cpu --sacodec ../target/release/sacodec --data ../../shared/data/train
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import io, train
from .curves import read_log
from .nets import UNetConfig, unet_shapes


@dataclass(frozen=True)
class Experiment:
    name: str
    question: str
    sets: tuple[str, ...] = ()
    stages: str = "vae"
    reuse: tuple[str, ...] = ()  # stage folders copied from the `base` run
    bundle: bool = False  # export and run `sacodec train` (subclass savings)


@dataclass(frozen=True)
class Scale:
    plan: str
    base: tuple[str, ...]
    steps: int
    batch: int
    widths: str
    subclass_steps: int
    simclr_steps: int
    enhancer_steps: int
    enhancer_batch: int
    enhancer_crop: int
    bundle_args: tuple[str, ...]


SCALES = {
    "cpu": Scale(
        plan="cpu",
        base=("vae.val_every=500", "all.val_size=1024", "enhancer.val_size=8"),
        steps=1500,
        batch=64,
        widths="64,128,256",
        subclass_steps=300,
        simclr_steps=300,
        enhancer_steps=300,
        enhancer_batch=4,
        enhancer_crop=96,
        bundle_args=("--subclasses", "16,32,64", "--prior-patches", "16384", "--valid-patches", "2048", "--enhancer-crops", "4"),
    ),
    "gpu": Scale(
        plan="gpu",
        base=("vae.val_every=2000", "all.val_size=8192", "enhancer.val_size=64"),
        steps=10_000,
        batch=2048,
        widths="64,128,256",
        subclass_steps=2000,
        simclr_steps=2000,
        enhancer_steps=4000,
        enhancer_batch=64,
        enhancer_crop=128,
        bundle_args=("--subclasses", "16,32,64,128"),
    ),
}


def experiments(s: Scale) -> list[Experiment]:
    vae = (f"vae.steps={s.steps}", f"vae.batch={s.batch}", "subclass.steps=0", "simclr.steps=0", "enhancer.steps=0")
    simclr = (f"simclr.steps={s.simclr_steps}", "enhancer.steps=0")
    enhancer = (f"enhancer.steps={s.enhancer_steps}", f"enhancer.batch={s.enhancer_batch}", f"enhancer.crop={s.enhancer_crop}")
    after_vae = (f"vae.steps={s.steps}", f"vae.batch={s.batch}")
    gpu_only = [
        Experiment("precision-f32", "full f32 matmuls and convolutions instead of TF32", vae + ("vae.precision=highest",)),
        Experiment("precision-bf16", "bf16 matmuls and convolutions instead of TF32", vae + ("vae.precision=bfloat16",)),
    ]
    return ([] if s.plan != "gpu" else gpu_only) + [
        Experiment("base", "baseline: one gained model, 8 levels, Adam 1e-3, cosine", vae),
        Experiment("schedule-step", "learning rate ÷10 for the last fifth instead of cosine", vae + ("vae.schedule=step",)),
        Experiment("schedule-constant", "constant learning rate", vae + ("vae.schedule=constant",)),
        Experiment("batch-x4", "4× the batch, ¼ the steps (equal patches)", vae + (f"vae.batch={4 * s.batch}", f"vae.steps={s.steps // 4}")),
        Experiment("wide", f"PatchVAE widths {s.widths} (4× the work)", vae + (f"vae.vae_widths={s.widths}",)),
        Experiment("per-level-q2", "a model for level 2 alone (same steps as the gained model)", vae + ("vae.level=2",)),
        Experiment("per-level-q6", "a model for level 6 alone", vae + ("vae.level=6",)),
        Experiment(
            "simclr-base",
            "SimCLR on the baseline VAE: subclass savings before fine-tuning",
            after_vae + ("subclass.steps=0",) + simclr,
            stages="vae,simclr",
            reuse=("vae",),
            bundle=True,
        ),
        Experiment(
            "simclr-subclass",
            f"the baseline VAE fine-tuned {s.subclass_steps} steps with the subclass rate, then SimCLR",
            after_vae + (f"subclass.steps={s.subclass_steps}", f"subclass.batch={s.batch}") + simclr,
            stages="vae,subclass,simclr",
            reuse=("vae",),
            bundle=True,
        ),
        Experiment(
            "enhancer-level",
            "the enhancer with the level as a fourth input channel",
            after_vae + ("subclass.steps=0", "simclr.steps=0") + enhancer + ("enhancer.level_input=true",),
            stages="vae,enhancer",
            reuse=("vae",),
        ),
        Experiment(
            "enhancer-plain",
            "the enhancer without the level",
            after_vae + ("subclass.steps=0", "simclr.steps=0") + enhancer + ("enhancer.level_input=false",),
            stages="vae,enhancer",
            reuse=("vae",),
        ),
    ]


def last_val(run: Path, stage: str) -> dict | None:
    rows = [r for r in read_log(run, stage) if "val" in r]
    return rows[-1]["val"] if rows else None


def bd_rate(ref: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    """Bjøntegaard delta rate (%) of `test` against `ref`, points (bpp, PSNR): cubic fits of
    log-rate against PSNR, integrated over the PSNR range both cover."""
    if len(ref) < 4 or len(test) < 4:
        return None
    r, t = np.array(sorted(ref, key=lambda p: p[1])), np.array(sorted(test, key=lambda p: p[1]))
    lo, hi = max(r[:, 1].min(), t[:, 1].min()), min(r[:, 1].max(), t[:, 1].max())
    if hi <= lo:
        return None
    pr = np.polyint(np.polyfit(r[:, 1], np.log(r[:, 0]), 3))
    pt = np.polyint(np.polyfit(t[:, 1], np.log(t[:, 0]), 3))
    diff = (np.polyval(pt, hi) - np.polyval(pt, lo) - np.polyval(pr, hi) + np.polyval(pr, lo)) / (hi - lo)
    return float((math.exp(diff) - 1) * 100)


@dataclass
class KSaving:
    """One candidate K of `sacodec train`'s held-out measurement (its manifest)."""

    k: int
    saving_simclr_percent: float
    saving_rate_optimal_percent: float


@dataclass
class Result:
    name: str
    question: str
    reuses_base: bool = False
    stages: dict = field(default_factory=dict)
    savings: list[KSaving] = field(default_factory=list)


def run_bundle(run: Path, sacodec: Path, data: list[Path], extra: tuple[str, ...]) -> list[KSaving]:
    tensors, meta = train.export(run)
    io.save(run / "networks.safetensors", tensors, meta)
    out = run / "bundle" / "sacodec.safetensors"
    cmd = [str(sacodec), "train", "--networks", str(run / "networks.safetensors"), "--data", *map(str, data), "--out", str(out), *extra]
    subprocess.run(cmd, check=True)
    manifest = json.loads((out.parent / "manifest.json").read_text())
    choices = manifest["files"][0]["held_out"]["subclass_choices"]
    return [KSaving(c["k"], c["saving_simclr_percent"], c["saving_rate_optimal_percent"]) for c in choices]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="sacodec_train recipe", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    ap.add_argument("--pack", type=Path, default=Path("data/pack.safetensors"))
    ap.add_argument("--runs", type=Path, help="default runs/recipe-SCALE")
    ap.add_argument("--out", type=Path, help="default ../results/recipe-SCALE (.json, .md)")
    ap.add_argument("--only", help="comma-separated experiment names")
    ap.add_argument("--minutes", type=float, default=float("inf"))
    ap.add_argument("--sacodec", type=Path, help="the sacodec binary, for the subclass-saving runs")
    ap.add_argument("--data", type=Path, nargs="*", default=[], help="training folders for `sacodec train`")
    args = ap.parse_args(argv)
    scale = SCALES[args.scale]
    runs = args.runs or Path(f"runs/recipe-{args.scale}")
    out = args.out or Path(f"../results/recipe-{args.scale}")
    deadline = time.time() + args.minutes * 60
    chosen = [e for e in experiments(scale) if not args.only or e.name in args.only.split(",")]
    results = []
    for e in chosen:
        run = runs / e.name
        for stage in e.reuse:
            if not (run / stage).exists() and (runs / "base" / stage).exists():
                shutil.copytree(runs / "base" / stage, run / stage)
        minutes = (deadline - time.time()) / 60
        if minutes <= 0:
            print(f"out of time before {e.name}")
            break
        argv_run = ["--run", str(run), "--pack", str(args.pack), "--stages", e.stages, "--minutes", str(minutes)]
        if not (run / "plan.json").exists():
            argv_run += ["--plan", scale.plan] + [a for s in scale.base + e.sets for a in ("--set", s)]
        train.main(argv_run)
        r = Result(e.name, e.question, bool(e.reuse))
        plan = {c.stage: c for c in train.load_plan(run, None, [])}
        for stage in e.stages.split(","):
            ckpt = train.Checkpoint.load(run, stage)
            if ckpt is not None and stage in plan:
                r.stages[stage] = {
                    "steps": ckpt.step,
                    "batch": plan[stage].batch,
                    "wall_s": round(ckpt.wall_s, 1),
                    "val": last_val(run, stage),
                }
        if e.bundle and args.sacodec and all(s.get("steps") for s in r.stages.values()):
            saved = run / "savings.json"
            if not saved.exists():
                io.save_json(saved, [vars(k) for k in run_bundle(run, args.sacodec, args.data, scale.bundle_args)])
            r.savings = [KSaving(**k) for k in json.loads(saved.read_text())]
        results.append(r)
    write(out, args.scale, results)


def curve(r: Result) -> list[tuple[float, float]]:
    val = (r.stages.get("vae") or {}).get("val") or {}
    return [(lv["bpp"], lv["psnr"]) for lv in val.get("levels", [])]


def write(out: Path, scale: str, results: list[Result]) -> None:
    io.save_json(out.with_suffix(".json"), {"scale": scale, "experiments": [vars(r) | {"savings": [vars(k) for k in r.savings]} for r in results]})
    by = {r.name: r for r in results}
    base = by.get("base")
    md = [f"# Recipe experiments ({scale} scale)", "", f"Written by `python -m sacodec_train recipe --scale {scale}`; "
          "values on the pack's held-out tiles (bpp: information content of rounded latents under the "
          "training prior; PSNR of decoded 32×32 patches). BD-rate against `base` (negative: fewer bits "
          "for the same PSNR).", ""]
    md += ["| run | question | steps × batch | wall s | ceiling dB | q0 bpp / dB | q7 bpp / dB | BD-rate vs base |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        v = r.stages.get("vae")
        if r.reuses_base or not v or not v.get("val"):
            continue
        pts = curve(r)
        bd = bd_rate(curve(base), pts) if base and r is not base and "per-level" not in r.name else None
        md.append(
            f"| {r.name} | {r.question} | {v['steps']} × {v['batch']} | {v['wall_s']:.0f} | {v['val']['ceiling_psnr']:.2f} | "
            f"{pts[0][0]:.3f} / {pts[0][1]:.2f} | {pts[-1][0]:.3f} / {pts[-1][1]:.2f} | "
            + (f"{bd:+.1f} %" if bd is not None else "–")
            + " |"
        )
    for q in (2, 6):
        r = by.get(f"per-level-q{q}")
        if base and r and curve(r) and curve(base):
            (bb, pb), (br, pr) = curve(base)[q], curve(r)[q]
            md += ["", f"Level {q}: gained model {bb:.3f} bpp / {pb:.2f} dB; a model for this level alone {br:.3f} bpp / {pr:.2f} dB."]
    sub = by.get("simclr-subclass")
    if base and sub and (sub.stages.get("subclass") or {}).get("val"):
        after = [(lv["bpp"], lv["psnr"]) for lv in sub.stages["subclass"]["val"]["levels"]]
        bd = bd_rate(curve(base), after)
        md += ["", f"Subclass fine-tune ({sub.stages['subclass']['steps']} steps × {sub.stages['subclass']['batch']}): "
               f"held-out bpp under its K subclass priors (best subclass per patch, ids included) against the base "
               f"model under its factorized prior: BD-rate {bd:+.1f} %." if bd is not None else ""]
    if any(r.savings for r in results):
        md += ["", "Subclass priors (held-out images, `sacodec train`), saving against the global prior, ids included:", "",
               "| run | K | SimCLR saves | rate-optimal saves |", "|---|---|---|---|"]
        for r in results:
            for k in r.savings:
                md.append(f"| {r.name} | {k.k} | {k.saving_simclr_percent:.2f} % | {k.saving_rate_optimal_percent:.2f} % |")
    enh = [r for r in results if "enhancer" in r.stages and (r.stages["enhancer"].get("val") or {}).get("levels")]
    if enh:
        md += ["", "Enhancer, held-out gain (enhanced − decoded PSNR) per level:", "",
               "| run | weights (f16) | " + " | ".join(f"q{q}" for q in range(len(enh[0].stages["enhancer"]["val"]["levels"]))) + " |",
               "|---|---|" + "---|" * len(enh[0].stages["enhancer"]["val"]["levels"])]
        for r in enh:
            level_input = "plain" not in r.name
            mb = sum(math.prod(s) for s in unet_shapes(UNetConfig(level_input=level_input)).values()) * 2 / 1e6
            gains = [lv["psnr_enhanced"] - lv["psnr_decoded"] for lv in r.stages["enhancer"]["val"]["levels"]]
            md.append(f"| {r.name} | {mb:.2f} MB | " + " | ".join(f"{g:+.2f}" for g in gains) + " |")
    io.write_atomic(out.with_suffix(".md"), ("\n".join(md) + "\n").encode())
    print(f"wrote {out}.json and {out}.md")
