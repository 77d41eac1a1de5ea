"""Training throughput of the two heavy steps (PatchVAE, enhancer at 128²), measured here and
printed beside a PyTorch step of the same PatchVAE (`torch_ref`, where PyTorch is installed)
and burn's figures for the same steps on an H100 (Vulkan), which TOOLCHAIN.md records. Random
tiles stand in for the pack; the first call of each step (compilation) is not timed. The
trainer and the reference take turns (`--rounds`), and the best round of each is reported, so a
machine whose speed drifts during the run favours neither.

    python -m sacodec_train bench [--plan gpu-wide] [--precision tensorfloat32] [--vae-batch 4096] [--enhancer-batch 64]
        [--torch-python ../target/torchenv/bin/python] [--json ../results/bench-train-cpu.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp

from . import optim
from .train import PLANS, hardware, make_stage, step_function

# burn 0.22.1 on Vulkan on an NVIDIA H100, measured 2026-11 (../shared/TOOLCHAIN.md).
BURN_VULKAN = {"vae_patches_per_s": 10_200, "enhancer_crops_per_s_128": 16}
# Defaults per backend: (precision, VAE batch, enhancer batch).
DEFAULTS = {"cpu": ("highest", 512, 8), "gpu": ("tensorfloat32", 4096, 64)}


def measure(plan: str, stage_name: str, batch: int, precision: str, steps: int, previous: dict) -> tuple[float, dict]:
    base = {c.stage: c for c in PLANS[plan]()}[stage_name]
    cfg = replace(base, batch=batch, precision=precision, crop=128, steps=10**6, val_size=8)
    key = jax.random.key(0)
    tiles = jax.random.randint(key, (64, 256, 256, 3), 0, 256).astype(jnp.uint8)
    with jax.default_matmul_precision(precision):
        stage = make_stage(cfg, previous, tiles, tiles)
        params = stage.init(key)
        opt = optim.init(params, cfg.optimizer)
        step_fn = step_function(stage, key)
        params, opt, v = step_fn(params, opt, jnp.int32(0), stage.frozen, tiles)
        jax.block_until_ready(v)
        t = time.perf_counter()
        for i in range(steps):
            params, opt, v = step_fn(params, opt, jnp.int32(i + 1), stage.frozen, tiles)
        jax.block_until_ready(v)
        dt = time.perf_counter() - t
    return batch * steps / dt, params


def torch_reference(python: str, batch: int, steps: int) -> dict | None:
    """`torch_ref` run by `python` (an environment with PyTorch), or None where it cannot run."""
    cmd = [python, "-m", "sacodec_train.torch_ref", "--batch", str(batch), "--steps", str(steps)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    except (OSError, subprocess.CalledProcessError):
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="sacodec_train bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--precision", help="highest | tensorfloat32 | bfloat16 (default: highest on a CPU)")
    ap.add_argument("--vae-batch", type=int)
    ap.add_argument("--enhancer-batch", type=int)
    ap.add_argument("--plan", choices=sorted(PLANS), default="gpu", help="whose networks and levels to measure")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--torch-python", default=sys.executable, help="a Python with PyTorch, for the reference")
    ap.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    precision, vae_batch, enh_batch = DEFAULTS["cpu" if jax.default_backend() == "cpu" else "gpu"]
    precision = args.precision or precision
    vae_batch, enh_batch = args.vae_batch or vae_batch, args.enhancer_batch or enh_batch
    vae_rates, ref_rates, vae = [], [], {}
    reference = None
    for _ in range(args.rounds):
        rate, vae = measure(args.plan, "vae", vae_batch, precision, args.steps, {})
        vae_rates.append(rate)
        reference = torch_reference(args.torch_python, vae_batch, args.steps)
        if reference is not None:
            ref_rates.append(reference["patches_per_s"])
    enh_rate, _ = measure(args.plan, "enhancer", enh_batch, precision, max(args.steps // 4, 2), vae)
    result = {
        "device": hardware(),
        "plan": args.plan,
        "precision": precision,
        "vae": {"batch": vae_batch, "patches_per_s": round(max(vae_rates), 1), "rounds": [round(r, 1) for r in vae_rates], "target": 200_000},
        "vae_pytorch": None if reference is None else {**reference, "patches_per_s": max(ref_rates), "rounds": ref_rates},
        "enhancer": {"batch": enh_batch, "crop": 128, "crops_per_s": round(enh_rate, 2), "target": 1_000},
        "burn_vulkan_h100": BURN_VULKAN,
        "jax": jax.__version__,
    }
    if ref_rates:
        result["vae_vs_pytorch"] = round(max(vae_rates) / max(ref_rates), 3)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
