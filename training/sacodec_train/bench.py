"""Training throughput of the two heavy steps (PatchVAE, enhancer at 128²), measured here and
printed beside burn's figures for the same steps on an H100 (Vulkan), which TOOLCHAIN.md
records. Random tiles stand in for the pack; the first call of each step (compilation) is not
timed.

    python -m sacodec_train bench [--precision tensorfloat32] [--vae-batch 4096] [--enhancer-batch 64]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import jax
import jax.numpy as jnp

from . import optim
from .train import PLANS, hardware, make_stage, step_function

# burn 0.22.1 on Vulkan on an NVIDIA H100, measured 2026-11 (../shared/TOOLCHAIN.md).
BURN_VULKAN = {"vae_patches_per_s": 10_200, "enhancer_crops_per_s_128": 16}


def measure(stage_name: str, batch: int, precision: str, steps: int, previous: dict) -> tuple[float, dict]:
    base = {c.stage: c for c in PLANS["gpu"]()}[stage_name]
    cfg = replace(base, batch=batch, precision=precision, crop=128, steps=10**6, val_size=8)
    key = jax.random.key(0)
    tiles = jax.random.randint(key, (64, 256, 256, 3), 0, 256).astype(jnp.uint8)
    with jax.default_matmul_precision(precision):
        stage = make_stage(cfg, previous, tiles, tiles)
        params = stage.init(key)
        adam = optim.init(params)
        step_fn = step_function(stage, key)
        params, adam, v = step_fn(params, adam, jnp.int32(0), stage.frozen, tiles)
        jax.block_until_ready(v)
        t = time.perf_counter()
        for i in range(steps):
            params, adam, v = step_fn(params, adam, jnp.int32(i + 1), stage.frozen, tiles)
        jax.block_until_ready(v)
        dt = time.perf_counter() - t
    return batch * steps / dt, params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="sacodec_train bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--precision", default="tensorfloat32", help="highest | tensorfloat32 | bfloat16")
    ap.add_argument("--vae-batch", type=int, default=4096)
    ap.add_argument("--enhancer-batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    vae_rate, vae = measure("vae", args.vae_batch, args.precision, args.steps, {})
    enh_rate, _ = measure("enhancer", args.enhancer_batch, args.precision, max(args.steps // 4, 2), vae)
    result = {
        "device": hardware(),
        "precision": args.precision,
        "vae": {"batch": args.vae_batch, "patches_per_s": round(vae_rate, 1), "target": 200_000},
        "enhancer": {"batch": args.enhancer_batch, "crop": 128, "crops_per_s": round(enh_rate, 2), "target": 1_000},
        "burn_vulkan_h100": BURN_VULKAN,
        "jax": jax.__version__,
    }
    print(json.dumps(result, indent=2))
