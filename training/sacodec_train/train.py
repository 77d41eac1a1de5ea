"""Training the three networks, in resumable stages that a run takes in order:

1. `vae`: the PatchVAE for rate–distortion, one model (per-level gains) for every level.
2. `subclass` (optional): encoder and decoder fine-tuned with the rate measured under K
   subclass priors per level, each patch coded by its best subclass, id included, so latents
   learn to fall into subclasses.
3. `simclr`: the SimCLR projection (NT-Xent) on the frozen final encoder's μ.
4. `enhancer`: the AttentionUNet on the final VAE's decoded crops, told the level.

A run folder holds `plan.json` (every stage's settings, fixed when the run starts) and per
stage `ckpt.safetensors` (parameters, optimiser state, step, wall time) and `log.jsonl` (training
and validation values). The same command continues where the run stopped; `--minutes` ends a
call after that much wall time, and SIGTERM or Ctrl-C after the step under way, each with a
checkpoint, so a run can be cut into chunks of any length. Every step's data and noise are functions of (seed, step), so a resumed run
computes what an uninterrupted one would.

    python -m sacodec_train train --run runs/gpu --plan gpu --minutes 9
    python -m sacodec_train export --run runs/gpu --out runs/gpu/networks.safetensors
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import data, io, nets, optim, rate
from .nets import Params
from .curves import read_log
from .pack import Pack, load as load_pack
from .record import PackRecord, StageRecord, TrainerRecord, networks_file

STAGES = ("vae", "subclass", "simclr", "enhancer")


@dataclass(frozen=True)
class StageConfig:
    """One stage's settings; a plan is a list of them."""

    stage: str
    steps: int
    batch: int
    lr: float
    schedule: str = "cosine"
    warmup: int = 200
    # `rsqrt`: steps at the full rate before it falls as 1/√step; `cycles`: each cycle's steps.
    hold: int = 0
    clip: float = 1.0
    # `optim.OPTIMIZERS`: `adafactor` keeps a state of a few per cent of the parameters'.
    optimizer: str = "adam"
    levels: int = 8
    # The rate–distortion trade-off of each level (the first `levels` are used).
    lambdas: tuple[float, ...] = rate.LAMBDAS
    # A per-level model: every sample trains at this level (−1: every level, one gained model).
    level: int = -1
    seed: int = 0x5AC0DEC0
    # `jax.default_matmul_precision`: "highest" (f32), "tensorfloat32" or "bfloat16".
    precision: str = "highest"
    vae_widths: tuple[int, int, int] = (32, 64, 128)
    unet_widths: tuple[int, int, int] = (32, 64, 128)
    unet_bottleneck: int = 256
    level_input: bool = True
    crop: int = 128
    # Crops in all 8 rotations and mirror images, not only mirrored left–right.
    rotate: bool = False
    subclasses: int = 64
    temperature: float = 0.2
    log_every: int = 100
    val_every: int = 1000
    ckpt_every: int = 1000
    val_size: int = 2048
    # The enhancer's squared error in the 2-px band along the borders between 32-px patches
    # (`seam_band`) counts 1 + seam_weight times (0: every pixel alike).
    seam_weight: float = 0.0
    # The rate the vae stage trains under (`rate.PRIORS`): its levels' `factorized` priors, or the
    # `context` model's on crops of `crop` (`batch` and `val_size` still count patches), whose
    # parameters train at `context_lr` times `lr` (they start from nothing; the networks warm).
    prior: str = "factorized"
    context_lr: float = 30.0
    # Where this stage's starting weights come from (a warm start; the optimiser and the step
    # count start afresh): a run folder or a file of networks (`warm_start`), e.g. a longer
    # enhancer on a newer PatchVAE.
    warm_from: str = ""

    @property
    def level_lambdas(self) -> tuple[float, ...]:
        if len(self.lambdas) < self.levels:
            raise SystemExit(f"{self.levels} levels but {len(self.lambdas)} lambdas")
        return tuple(self.lambdas[: self.levels])

    @property
    def vae(self) -> nets.VaeConfig:
        return nets.VaeConfig(widths=self.vae_widths)

    @property
    def unet(self) -> nets.UNetConfig:
        return nets.UNetConfig(self.unet_widths, self.unet_bottleneck, self.level_input)


def _plan(**stages: dict[str, Any]) -> list[StageConfig]:
    common = stages.pop("common", {})
    return [StageConfig(stage=s, **{**common, **kw}) for s, kw in stages.items()]


# Ten levels, one below CompressAI's eight and one above (Kodak: 0.21–1.28 bpp over the eight,
# each level ~1.37× the bits of the one below for ~1.93× the λ, so 2.25× less λ for ≤ 0.15 bpp
# and ~2× more for ≥ 1.5; the bundle shipped on 2026-12-06 spans 0.121–1.501): what the long
# run and the plans that go on from it train.
SPAN: dict[str, Any] = dict(levels=10, lambdas=(0.0008, *rate.LAMBDAS, 0.35))

# SimCLR and the enhancer on a CPU run's PatchVAE, as `cpu-ship` and `cpu-anneal` train them.
_CPU_SHIP: dict[str, dict[str, Any]] = dict(
    common=dict(log_every=100, val_every=500, ckpt_every=250, val_size=2048, rotate=True, **SPAN),
    simclr=dict(steps=600, batch=256, lr=1e-3, val_every=200),
    enhancer=dict(steps=1600, batch=8, lr=5e-4, warmup=100, val_size=32, val_every=400),
)

# The long CPU run that goes on (cpu.sh, which starts it with plan `LONG_PLAN`), whose PatchVAE
# the anneal and the GPU's continuation start from; and the run whose enhancer a GPU call
# carries (gpu-prepare.sh).
LONG_RUN, LONG_PLAN = "runs/cpu5", "cpu-long-5"
LONG_ENHANCER = "runs/cpu4"

# Named plans. The GPU plans' steps are what a run started without gpu.sh takes; gpu.sh sizes
# them from the throughput it measures first, to fit one call of the device tool (README,
# "Training"). `gpu` trains every network from scratch.
PLANS: dict[str, Callable[[], list[StageConfig]]] = {
    "gpu": lambda: _plan(
        common=dict(precision="tensorfloat32", log_every=200, val_every=2000, ckpt_every=2000, val_size=8192),
        vae=dict(steps=30_000, batch=2048, lr=1e-3, warmup=1000),
        subclass=dict(steps=3000, batch=2048, lr=1e-4, warmup=200, subclasses=64),
        simclr=dict(steps=3000, batch=1024, lr=1e-3),
        enhancer=dict(steps=10_000, batch=32, lr=5e-4, warmup=500, val_size=64),
    ),
    # A GPU machine continuing the long run: its PatchVAE (`LONG_RUN`) at GPU batch, annealed,
    # and the long run's enhancer (`data/enhancer.safetensors`, made by gpu.sh's caller) at GPU
    # batch; gpu.sh sizes the steps from the throughput it measures first.
    "gpu-continue": lambda: _plan(
        common=dict(precision="tensorfloat32", log_every=200, val_every=2000, ckpt_every=2000, val_size=4096, rotate=True, **SPAN),
        vae=dict(steps=20_000, batch=2048, lr=6e-4, warmup=300, warm_from=LONG_RUN),
        simclr=dict(steps=1500, batch=1024, lr=1e-3),
        enhancer=dict(steps=4000, batch=32, lr=5e-4, warmup=200, val_size=64, val_every=1000, warm_from="data/enhancer.safetensors"),
    ),
    # The next GPU run (README, "Training"): a PatchVAE of twice the widths from scratch (on the
    # GPU it gained 1.4–1.7 dB over the default widths at the same patches seen), over the ten
    # levels of `SPAN`, then SimCLR and the long run's enhancer on it, its seams weighed 5× (README,
    # "Training").
    "gpu-wide": lambda: _plan(
        common=dict(precision="tensorfloat32", log_every=200, val_every=2000, ckpt_every=2000, val_size=4096, rotate=True,
                    vae_widths=(64, 128, 256), **SPAN),
        vae=dict(steps=30_000, batch=2048, lr=1e-3, warmup=1000),
        simclr=dict(steps=1500, batch=1024, lr=1e-3),
        enhancer=dict(steps=4000, batch=32, lr=5e-4, warmup=200, val_size=64, val_every=1000, warm_from="data/enhancer.safetensors", seam_weight=4.0),
    ),
    "cpu": lambda: _plan(
        common=dict(log_every=50, val_every=500, ckpt_every=250, val_size=1024),
        vae=dict(steps=3000, batch=128, lr=1e-3),
        subclass=dict(steps=0, batch=128, lr=1e-4, subclasses=16),
        simclr=dict(steps=300, batch=128, lr=1e-3, val_every=100),
        enhancer=dict(steps=300, batch=4, lr=5e-4, crop=96, val_size=8, val_every=100),
    ),
    # The long run on 2 CPU cores (README, "Training"): the PatchVAE with no known end, in
    # chunks (`--minutes`), on `pack --max-side 0 --cover` (every pixel of the training photos).
    # A snapshot of it is shipped by `--fork runs/cpu2 --plan cpu-ship`: SimCLR and the enhancer
    # on its PatchVAE as it is, about 50 minutes of the 2 cores (the enhancer still gained at
    # 1,600 steps: +0.25 to +0.51 dB on held-out crops, from +0.13 to +0.25 at 400).
    "cpu-long": lambda: _plan(
        common=dict(log_every=500, val_every=4000, ckpt_every=2000, val_size=4096, rotate=True),
        vae=dict(steps=10**9, batch=512, lr=1e-3, warmup=1000, schedule="rsqrt", hold=20_000),
    ),
    # Its second leg (`LONG_RUN`): the PatchVAE of the GPU run of 2026-12-04 (which continued
    # `runs/cpu` 72,914 steps of 2048 patches) going on at batch 512, at the rate that batch
    # takes after the GPU's, held for 50 k steps, then as 1/√step.
    "cpu-long-2": lambda: _plan(
        common=dict(log_every=500, val_every=4000, ckpt_every=2000, val_size=4096, rotate=True),
        vae=dict(steps=10**9, batch=512, lr=1e-4, warmup=500, schedule="rsqrt", hold=50_000, warm_from="runs/gpu-2026-12-04"),
    ),
    # Its third leg (`LONG_RUN`): the second's PatchVAE (at step 17,897 its held-out curve had
    # been flat since 8,000) over the ten levels of `SPAN`, the new levels' gains and priors
    # extrapolated from the eight (`resample_levels`), at the second leg's rate. From step
    # 7,424 its noisy latents are clamped at ±127 as the coder clamps (`rate.noisy_latents`).
    "cpu-long-3": lambda: _plan(
        common=dict(log_every=500, val_every=4000, ckpt_every=2000, val_size=4096, rotate=True, **SPAN),
        vae=dict(steps=10**9, batch=512, lr=1e-4, warmup=200, schedule="rsqrt", hold=50_000, warm_from="runs/cpu2"),
    ),
    # Its fourth leg (`LONG_RUN`, forked from `runs/cpu3` at step 24,721: that PatchVAE's
    # held-out curve had been flat since step 8,000, while the enhancer shipped from it still
    # gained when its 1,600 steps ended): the enhancer with no known end, seams weighed 5×, from
    # the shipped one as 1,071 more steps with Adam at 3·10⁻⁴ left it (`runs/cpu4-adam`, not
    # kept: Adam's state of 1.9 M parameters is 23 MB; at step 1,000 its held-out gains were
    # below the shipped enhancer's, whose rate had fallen to 0), with Adafactor (state 7.9 MB)
    # in cosine cycles of 2,000 steps, held out at each cycle's end.
    "cpu-long-4": lambda: _plan(
        common=dict(log_every=200, val_every=2000, ckpt_every=250, val_size=32, rotate=True, **SPAN),
        enhancer=dict(steps=10**9, batch=8, lr=3e-4, warmup=100, schedule="cycles", hold=2000, seam_weight=4.0,
                      optimizer="adafactor", warm_from="runs/cpu4-adam"),
    ),
    # Its fifth leg (`LONG_RUN`): the third leg's PatchVAE (`runs/cpu3` at step 24,721, as
    # shipped) under the context model's rate (`prior=context`: 32 crops of 4 × 4 patches a
    # step), in cosine cycles of 2,000 steps. A scratch study of the same from that PatchVAE
    # (docs/DESIGN.md, "Training with the context rate") gained 0.7–0.9 % BD-rate at steps
    # 2,000–6,000 under the context model, all of it at levels 5–9; the fourth leg's
    # enhancer (`LONG_ENHANCER`) is what an enhancer for it starts from.
    "cpu-long-5": lambda: _plan(
        common=dict(log_every=200, val_every=2000, ckpt_every=250, val_size=4096, rotate=True, **SPAN),
        vae=dict(steps=10**9, batch=512, lr=1e-4, warmup=100, schedule="cycles", hold=2000, prior="context",
                 warm_from="runs/cpu3"),
    ),
    "cpu-ship": lambda: _plan(**_CPU_SHIP),
    # The long run's PatchVAE annealed (a new run, warm-started from `LONG_RUN`: the rate falls
    # from where the long run's is, to 1 % by the end), then cpu-ship's SimCLR and enhancer.
    "cpu-anneal": lambda: _plan(
        vae=dict(steps=4000, batch=512, lr=6e-4, warmup=200, val_every=1000, val_size=4096, warm_from=LONG_RUN, **SPAN),
        **_CPU_SHIP,
    ),
    "smoke": lambda: _plan(
        common=dict(log_every=2, val_every=4, ckpt_every=2, val_size=64, warmup=2, levels=3),
        vae=dict(steps=4, batch=16, lr=1e-3),
        subclass=dict(steps=2, batch=16, lr=1e-4, subclasses=4),
        simclr=dict(steps=2, batch=8, lr=1e-3),
        enhancer=dict(steps=2, batch=2, lr=5e-4, crop=64, val_size=2, unet_widths=(8, 16, 32), unet_bottleneck=64),
    ),
}


# ---------------------------------------------------------------------------------------------
# Stages: which parameters train, the loss, and validation


def psnr(mse: jax.Array) -> jax.Array:
    return -10.0 * jnp.log10(jnp.maximum(mse, 1e-12))


def seam_band(side: int, width: int | None = None) -> jax.Array:
    """1 on the 2-px band along the borders between the 32-px patches of a crop `side` px
    high and `width` wide (square by default; the crop starts at a patch's corner; its own
    edges are no seam), else 0: shape [side, width, 1], NHWC — the band of `eval`'s `seam dB`
    (`metrics::seam_excess_db`)."""

    def near(n: int) -> jax.Array:
        at = jnp.arange(n)
        return ((at % nets.PATCH == 0) & (at > 0)) | ((at % nets.PATCH == nets.PATCH - 1) & (at < n - 1))

    return (near(side)[:, None] | near(width or side)[None, :]).astype(jnp.float32)[:, :, None]


def seam_db(sq: jax.Array, band: jax.Array) -> float:
    """The squared error `sq` ([n, side, side, 3]) of the seam band over the interior's, in dB
    (`eval`'s `seam dB`)."""
    b = band[None]
    seam = (sq * b).sum() / (b.sum() * sq.shape[0] * sq.shape[3])
    inner = (sq * (1 - b)).sum() / ((1 - b).sum() * sq.shape[0] * sq.shape[3])
    return float(10.0 * jnp.log10(seam / inner))


def balanced_levels(n: int, levels: int, key: jax.Array) -> jax.Array:
    """Every level equally often in a batch, in a random order."""
    return jax.random.permutation(key, jnp.arange(n) % levels)


@dataclass
class Stage:
    cfg: StageConfig
    frozen: Params
    init: Callable[[jax.Array], Params]
    # (trainable, frozen, training tiles, key) → (loss, values to log)
    loss: Callable[..., tuple[jax.Array, dict[str, jax.Array]]]
    # (trainable, frozen) → values on the held-out tiles
    validate: Callable[[Params, Params], dict[str, Any]]


def make_stage(cfg: StageConfig, previous: Params, tiles: jax.Array, valid: jax.Array) -> Stage:
    """`previous`: the final parameters of the stages before (the VAE and its gains)."""
    L = cfg.levels
    lam = jnp.array(cfg.level_lambdas) * 255.0**2
    vkey = jax.random.key(cfg.seed ^ 0x7A1D)

    if cfg.stage in ("vae", "subclass"):
        subclasses = cfg.stage == "subclass"
        prior = "subclass" if subclasses else cfg.prior
        if prior not in rate.PRIORS:
            raise SystemExit(f"unknown prior {prior}: {', '.join(rate.PRIORS)}")
        side = cfg.crop if prior == "context" else nets.PATCH
        grid = side // nets.PATCH
        val_x = data.crops(valid, vkey, max(cfg.val_size // grid**2, 1), side)

        def init(key: jax.Array) -> Params:
            if not subclasses:
                p = {**nets.init(key, nets.vae_shapes(cfg.vae)), **rate.init_rate(cfg.level_lambdas)}
                return {**p, **rate.init_context(p)} if prior == "context" else p
            start = {k: v for k, v in previous.items() if k.startswith("vae.") or k == "rate.log_gain"}
            mu = nets.encode_mu(previous, data.crops(tiles, key, 4096, nets.PATCH))
            return {**start, **rate.init_subclasses(previous, mu, cfg.subclasses, key)}

        frozen = {k: v for k, v in previous.items() if subclasses and k.startswith("rate.")}
        frozen.pop("rate.log_gain", None)

        def loss(p: Params, fz: Params, tiles: jax.Array, key: jax.Array):
            kx, kq, kn = jax.random.split(key, 3)
            n = max(cfg.batch // grid**2, 1)
            x = data.crops(tiles, kx, n, side, cfg.rotate)
            q = balanced_levels(n, L, kq) if cfg.level < 0 else jnp.full((n,), cfg.level)
            t = rate.rd_terms({**fz, **p}, x, q, kn, prior)
            value = (rate.at_levels(lam, q) * t["mse"] + t["bpp"]).mean()
            return value, {"loss": value, "bpp": t["bpp"].mean(), "psnr": psnr(t["mse"].mean())}

        def validate(p: Params, fz: Params) -> dict[str, Any]:
            p = {**fz, **p}
            n = val_x.shape[0]
            mu = nets.encode_mu(p, data.to_patches(val_x))

            def decoded(z: jax.Array) -> jax.Array:
                return data.stitch(nets.decode(p, z), n, side, side)

            out: dict[str, Any] = {"ceiling_psnr": float(psnr(((decoded(mu) - val_x) ** 2).mean()))}
            levels = []
            for q in range(L):
                qs = jnp.full((n,), q)
                qp = jnp.repeat(qs, grid**2)
                zq = rate.quantize(p, mu, qp)
                bits = rate.coded_bits(p, zq * rate.gains(p, qp), qs, grid, prior)
                levels.append(
                    {
                        "psnr": float(psnr(((decoded(zq) - val_x) ** 2).mean())),
                        "bpp": float(bits.mean() / (side * side)),
                    }
                )
            out["levels"] = levels
            return out

        return Stage(cfg, frozen, init, loss, validate)

    vae = {k: v for k, v in previous.items() if k.startswith("vae.") or k == "rate.log_gain"}

    if cfg.stage == "simclr":
        va, vb = data.view_pairs(valid, vkey, cfg.val_size)

        def init(key: jax.Array) -> Params:
            return nets.init(key, nets.projection_shapes())

        def embed(p: Params, fz: Params, a: jax.Array, b: jax.Array):
            mu = jax.lax.stop_gradient(nets.encode_mu(fz, jnp.concatenate([a, b])))
            return nets.project(p, mu)

        def loss(p: Params, fz: Params, tiles: jax.Array, key: jax.Array):
            a, b = data.view_pairs(tiles, key, cfg.batch)
            value, acc = nt_xent(embed(p, fz, a, b), cfg.temperature)
            return value, {"loss": value, "top1": acc}

        def validate(p: Params, fz: Params) -> dict[str, Any]:
            value, acc = nt_xent(embed(p, fz, va, vb), cfg.temperature)
            return {"loss": float(value), "top1": float(acc), "chance": math.log(2 * cfg.val_size - 1)}

        return Stage(cfg, vae, init, loss, validate)

    if cfg.stage == "enhancer":
        side = cfg.crop
        val_x = data.crops(valid, vkey, cfg.val_size, side)

        def init(key: jax.Array) -> Params:
            return nets.init(key, nets.unet_shapes(cfg.unet), zero=nets.IDENTITY_HEAD)

        def decoded(fz: Params, x: jax.Array, q: jax.Array) -> jax.Array:
            n = x.shape[0]
            per = (side // nets.PATCH) ** 2
            mu = nets.encode_mu(fz, data.to_patches(x))
            zq = rate.quantize(fz, mu, jnp.repeat(q, per))
            return jax.lax.stop_gradient(data.stitch(nets.decode(fz, zq), n, side, side))

        def level_input(q: jax.Array):
            return nets.enhancer_input(q, L) if cfg.level_input else None

        band = seam_band(side)
        weight = (1.0 + cfg.seam_weight * band) / (1.0 + cfg.seam_weight * band.mean())

        def loss(p: Params, fz: Params, tiles: jax.Array, key: jax.Array):
            kx, kq = jax.random.split(key)
            x = data.crops(tiles, kx, cfg.batch, side, cfg.rotate)
            q = balanced_levels(cfg.batch, L, kq)
            d = decoded(fz, x, q)
            e = nets.enhance(p, d, level_input(q))
            mse_in = (weight * (d - x) ** 2).mean(axis=(1, 2, 3))
            mse_out = (weight * (e - x) ** 2).mean(axis=(1, 2, 3))
            # The mean gain in dB over crops: every level and every crop counts alike.
            gain_db = 10.0 * (jnp.log10(mse_in + 1e-10) - jnp.log10(mse_out + 1e-10))
            value = -gain_db.mean()
            return value, {"loss": value, "gain_db": gain_db.mean(), "psnr_in": psnr(mse_in.mean())}

        def validate(p: Params, fz: Params) -> dict[str, Any]:
            levels = []
            for q in range(L):
                qs = jnp.full((val_x.shape[0],), q)
                d = decoded(fz, val_x, qs)
                e = nets.enhance(p, d, level_input(qs))
                levels.append(
                    {
                        "psnr_decoded": float(psnr(((d - val_x) ** 2).mean())),
                        "psnr_enhanced": float(psnr(((e - val_x) ** 2).mean())),
                        "seam_db_decoded": seam_db((d - val_x) ** 2, band),
                        "seam_db_enhanced": seam_db((e - val_x) ** 2, band),
                    }
                )
            return {"levels": levels}

        return Stage(cfg, vae, init, loss, validate)

    raise ValueError(f"unknown stage {cfg.stage}")


def nt_xent(e: jax.Array, temperature: float) -> tuple[jax.Array, jax.Array]:
    """NT-Xent of unit embeddings `[2n, d]` (rows i and i + n are views of one region), and the
    share of views whose nearest other view is their partner."""
    n2 = e.shape[0]
    n = n2 // 2
    sim = e @ e.T / temperature
    sim = jnp.where(jnp.eye(n2, dtype=bool), -1e9, sim)
    partner = (jnp.arange(n2) + n) % n2
    logp = jax.nn.log_softmax(sim, axis=1)
    value = -logp[jnp.arange(n2), partner].mean()
    return value, (sim.argmax(axis=1) == partner).mean()


# ---------------------------------------------------------------------------------------------
# The loop, checkpoints and logs


def hardware() -> str:
    dev = jax.devices()[0]
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{dev.platform}: {dev.device_kind} ×{jax.device_count()}; host {cpu}, {os.cpu_count()} cores"


@dataclass
class Checkpoint:
    params: Params
    # The optimiser's state (`optim.init`'s parts); empty once the stage is finished.
    opt: dict[str, Params]
    step: int = 0
    wall_s: float = 0.0
    hardware: list[str] = field(default_factory=list)

    @staticmethod
    def path(run: Path, stage: str) -> Path:
        return run / stage / "ckpt.safetensors"

    def save(self, run: Path, cfg: StageConfig) -> None:
        """A finished stage keeps its parameters only (what later stages and the export read),
        which keeps a run small enough to travel between machines."""
        tensors = {k: np.asarray(v) for k, v in self.params.items()}
        if self.step < cfg.steps:
            for part, arrays in self.opt.items():
                tensors.update({f"{cfg.optimizer}.{part}.{k}": np.asarray(v) for k, v in arrays.items()})
        meta = {
            "step": str(self.step),
            "wall_s": repr(self.wall_s),
            "hardware": json.dumps(self.hardware),
            "config": json.dumps(asdict(cfg)),
        }
        io.save(self.path(run, cfg.stage), tensors, meta)

    @classmethod
    def load(cls, run: Path, stage: str) -> "Checkpoint | None":
        path = cls.path(run, stage)
        if not path.exists():
            return None
        t = io.load(path)
        meta = io.metadata(path)
        kind = json.loads(meta["config"]).get("optimizer", "adam")
        params = {k: jnp.asarray(v) for k, v in t.items() if k.split(".", 1)[0] not in optim.OPTIMIZERS}
        opt: dict[str, Params] = {}
        if any(k.startswith(kind + ".") for k in t):  # unfinished: the optimiser goes on
            opt = optim.init(params, kind)
            for part, arrays in opt.items():
                for k in arrays:
                    arrays[k] = jnp.asarray(t[f"{kind}.{part}.{k}"])
        return cls(params, opt, int(meta["step"]), float(meta["wall_s"]), json.loads(meta["hardware"]))


def final_params(run: Path, plan: list[StageConfig], upto: str, snapshot: bool = False) -> Params:
    """Everything the stages before `upto` produced, later stages overriding earlier ones (the
    subclass stage's VAE replaces the vae stage's). With `snapshot`, what the run has so far:
    up to the first stage not finished, as at its last checkpoint (a run that never ends)."""
    out: Params = {}
    for cfg in plan:
        if cfg.stage == upto:
            break
        ckpt = Checkpoint.load(run, cfg.stage)
        finished = ckpt is not None and ckpt.step >= cfg.steps
        if not (finished or snapshot):
            raise SystemExit(f"stage {cfg.stage} is not finished: run it first")
        if ckpt is not None:
            out.update(ckpt.params)
        if not finished:
            break
    return out


def log_line(run: Path, stage: str, record: dict[str, Any]) -> None:
    path = run / stage / "log.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def step_function(stage: Stage, key: jax.Array) -> Callable:
    """One jitted optimizer step: `(params, opt, step, frozen, tiles) → (params, opt, values)`;
    the step's data and noise come from `fold_in(key, step)`."""
    cfg = stage.cfg

    @partial(jax.jit, donate_argnums=(0, 1))
    def step_fn(p: Params, opt: dict[str, Params], step: jax.Array, fz: Params, tiles: jax.Array):
        k = jax.random.fold_in(key, step)
        (_, values), grads = jax.value_and_grad(stage.loss, has_aux=True)(p, fz, tiles, k)
        lr = optim.learning_rate(cfg.lr, step, cfg.steps, cfg.warmup, cfg.schedule, cfg.hold)
        scale = {name: cfg.context_lr for name in rate.CONTEXT_NAMES if name in p}
        p, opt, norm = optim.update(p, grads, opt, step, lr, cfg.clip, scale)
        return p, opt, {**values, "grad_norm": norm, "lr": lr}

    return step_fn


# Set by SIGTERM or SIGINT: the chunk ends after the step under way, with a checkpoint.
STOP = threading.Event()


def source_lambdas(source: Path) -> tuple[float, ...] | None:
    """The λ of each level of a warm start's source: a run's (its vae stage's plan) or a file's
    (`levels.lambda`, as `export` writes it); None where it has none."""
    if source.is_file():
        lam = io.load(source).get("levels.lambda")
        return None if lam is None else tuple(float(x) for x in lam)
    path = Checkpoint.path(source, "vae")
    if not path.exists():
        return None
    cfg = json.loads(io.metadata(path)["config"])
    return tuple(cfg["lambdas"][: cfg["levels"]])


def resample_levels(tensors: dict[str, np.ndarray], have: tuple[float, ...], want: tuple[float, ...]) -> dict[str, np.ndarray]:
    """The per-level rate tensors (`rate.*`, level first) of levels at λ `have` made for levels
    at λ `want`: linear in ln λ between the two nearest levels, and beyond the ends along the
    line through the last two (the gains go as about √λ), so a PatchVAE trained at eight levels
    starts a run at ten from where its levels point."""
    x, out = np.log(np.array(have)), dict(tensors)
    rows = []
    for t in np.log(np.array(want)):
        i = int(np.clip(np.searchsorted(x, t) - 1, 0, len(x) - 2))
        rows.append((i, (t - x[i]) / (x[i + 1] - x[i])))
    for k, v in tensors.items():
        if k.split(".", 1)[0] in ("rate", "ctx") and v.shape[:1] == (len(have),):
            v = np.asarray(v)
            out[k] = np.stack([(1 - w) * v[i] + w * v[i + 1] for i, w in rows]).astype(v.dtype)
    return out


def warm_start(source: Path, stage: str, params: Params, lambdas: tuple[float, ...] | None = None) -> Params:
    """The weights of `params` as `source` has them: a run folder (its checkpoint of `stage`)
    or a file of networks (an `export`, or a shipped bundle turned back into one by
    `scripts/bundle-to-export.py`); with `lambdas` (the levels `params` trains), the source's
    per-level rate tensors resampled to them where its levels differ."""
    if source.is_file():
        tensors = io.load(source)
    else:
        ckpt = Checkpoint.load(source, stage)
        tensors = {} if ckpt is None else ckpt.params
    # A PatchVAE trained under its factorized priors starts the context model from them.
    derived = set(rate.CONTEXT_NAMES) if "ctx.mean" not in tensors else set()
    if not params.keys() - derived <= tensors.keys():
        raise SystemExit(f"{source} has no {stage} weights of this network")
    have = source_lambdas(source)
    if lambdas is not None and have is not None and have != lambdas:
        tensors = resample_levels(tensors, have, lambdas)
        print(f"{stage}: levels at λ {have} resampled to λ {lambdas}", flush=True)
    for k, v in params.items():
        if k in tensors and tensors[k].shape != v.shape:
            raise SystemExit(f"{source}: {k} is {tensors[k].shape}, not {v.shape}")
    print(f"{stage}: warm start from {source}", flush=True)
    out = {k: jnp.asarray(tensors[k], dtype=v.dtype) for k, v in params.items() if k in tensors}
    return {**out, **rate.init_context(out)} if derived & params.keys() else out


def train_stage(run: Path, plan: list[StageConfig], cfg: StageConfig, pack: Pack, deadline: float) -> bool:
    """Trains one stage until its step count or `deadline` (time.time()); True when finished."""
    ckpt = Checkpoint.load(run, cfg.stage)
    if ckpt is not None and ckpt.step >= cfg.steps:
        return True
    with jax.default_matmul_precision(cfg.precision):
        tiles, valid = jnp.asarray(pack.train), jnp.asarray(pack.valid)
        stage = make_stage(cfg, final_params(run, plan, cfg.stage), tiles, valid)
        key = jax.random.key(cfg.seed)
        if ckpt is None:
            params = stage.init(jax.random.fold_in(key, 0x1417))
            if cfg.warm_from:
                params = warm_start(Path(cfg.warm_from), cfg.stage, params, cfg.level_lambdas)
            ckpt = Checkpoint(params, optim.init(params, cfg.optimizer))
        hw = hardware()
        if hw not in ckpt.hardware:
            ckpt.hardware.append(hw)

        step_fn = step_function(stage, key)
        params, opt, frozen = ckpt.params, ckpt.opt, stage.frozen
        print(f"{cfg.stage}: steps {ckpt.step}..{cfg.steps} on {hw}", flush=True)
        since, sums, count = time.time(), None, 0
        while ckpt.step < cfg.steps:
            params, opt, values = step_fn(params, opt, jnp.int32(ckpt.step), frozen, tiles)
            ckpt.step += 1
            sums = values if sums is None else jax.tree.map(jnp.add, sums, values)
            count += 1
            done = ckpt.step >= cfg.steps
            if ckpt.step % cfg.log_every == 0 or done:
                means = {k: float(v) / count for k, v in sums.items()}
                now = time.time()
                record: dict[str, Any] = {"step": ckpt.step, "wall_s": ckpt.wall_s + now - since, "train": means}
                if ckpt.step % cfg.val_every == 0 or done:
                    record["val"] = stage.validate(params, frozen)
                log_line(run, cfg.stage, record)
                print(json.dumps(record), flush=True)
                sums, count = None, 0
            out_of_time = time.time() >= deadline or STOP.is_set()
            if ckpt.step % cfg.ckpt_every == 0 or done or out_of_time:
                now = time.time()
                ckpt.params, ckpt.opt = params, opt
                ckpt.wall_s += now - since
                since = now
                ckpt.save(run, cfg)
                if out_of_time and not done:
                    why = "stop requested" if STOP.is_set() else "time budget"
                    print(f"{cfg.stage}: stopped at step {ckpt.step} ({why})", flush=True)
                    return False
    return True


def with_overrides(plan: list[StageConfig], overrides: list[str]) -> list[StageConfig]:
    """`plan` with each `STAGE.KEY=VALUE` of `overrides` applied (STAGE may be `all`)."""
    for o in overrides:
        target, value = o.split("=", 1)
        stage, key = target.split(".", 1)
        kind = type(getattr(plan[0], key))
        if kind is tuple:
            item = type(getattr(plan[0], key)[0])
            parsed = tuple(item(v) for v in value.split(","))
        else:
            parsed = value.lower() == "true" if kind is bool else kind(value)
        plan = [replace(c, **{key: parsed}) if c.stage == stage or stage == "all" else c for c in plan]
        if stage != "all" and all(c.stage != stage for c in plan):
            raise SystemExit(f"--set {o}: no stage {stage} in the plan")
    return plan


def load_plan(run: Path, name: str | None, overrides: list[str]) -> list[StageConfig]:
    path = run / "plan.json"
    if path.exists():
        if overrides:
            raise SystemExit(f"{path} exists: a run's plan is fixed when it starts")
        tuples = ("vae_widths", "unet_widths", "lambdas")
        return [StageConfig(**{**c, **{k: tuple(c[k]) for k in tuples if k in c}}) for c in json.loads(path.read_text())]
    plan = with_overrides(PLANS[name or "gpu"](), overrides)
    drop = [c.stage for c in plan if c.steps == 0]
    plan = [c for c in plan if c.steps > 0]
    io.save_json(path, [asdict(c) for c in plan])
    if drop:
        print(f"plan without {', '.join(drop)} (0 steps)")
    return plan


def fork(source: Path, run: Path, name: str, overrides: list[str]) -> list[StageConfig]:
    """Starts `run` from what `source` has so far: its stages up to the first unfinished one,
    ended where their checkpoints are (copied, with their logs), then the stages of plan `name`
    that come after them, with `overrides` (`--set`)."""
    if (run / "plan.json").exists():
        raise SystemExit(f"{run} exists: fork into a new run")
    taken = []
    for cfg in load_plan(source, None, []):
        ckpt = Checkpoint.load(source, cfg.stage)
        if ckpt is None:
            break
        taken.append(replace(cfg, steps=ckpt.step))
        for f in ("ckpt.safetensors", "log.jsonl"):
            if (source / cfg.stage / f).exists():
                (run / cfg.stage).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / cfg.stage / f, run / cfg.stage / f)
        if ckpt.step < cfg.steps:
            break
    after = STAGES[STAGES.index(taken[-1].stage) + 1 :] if taken else STAGES
    plan = taken + with_overrides([c for c in PLANS[name]() if c.stage in after], overrides)
    io.save_json(run / "plan.json", [asdict(c) for c in plan])
    print(f"{run}: forked from {source} at " + ", ".join(f"{c.stage} step {c.steps}" for c in taken))
    return plan


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="sacodec_train train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="run folder (created, or resumed)")
    ap.add_argument("--plan", choices=sorted(PLANS), help="plan of a new run (default gpu)")
    ap.add_argument("--fork", type=Path, metavar="RUN", help="start a new run from RUN as it is, then the plan's later stages")
    ap.add_argument("--set", action="append", default=[], metavar="STAGE.KEY=VALUE", help="change a new run's plan, or a fork's stages after the source's (STAGE may be `all`)")
    ap.add_argument("--pack", type=Path, default=Path("data/pack.safetensors"))
    ap.add_argument("--minutes", type=float, default=float("inf"), help="stop (at a checkpoint) after this much wall time")
    ap.add_argument("--stages", default=",".join(STAGES), help="only these stages (comma-separated)")
    args = ap.parse_args(argv)
    started = time.time()
    deadline = started + args.minutes * 60.0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: STOP.set())
    plan = fork(args.fork, args.run, args.plan or "gpu", args.set) if args.fork else load_plan(args.run, args.plan, args.set)
    pack = load_pack(args.pack)
    print(f"pack {args.pack}: {len(pack.train)} training and {len(pack.valid)} validation tiles", flush=True)
    (args.run / "pack.json").write_text(json.dumps({"sha256": pack.sha256, "recipe": pack.recipe}, indent=2))
    wanted = set(args.stages.split(","))
    for cfg in plan:
        if cfg.stage not in wanted:
            continue
        if not train_stage(args.run, plan, cfg, pack, deadline):
            return
    print("run finished", flush=True)


# ---------------------------------------------------------------------------------------------
# Export


def export(run: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The run's networks: what its stages made so far (`final_params` with `snapshot`: the
    long CPU run never finishes), the rest as below."""
    plan = load_plan(run, None, [])
    params = final_params(run, plan, upto="", snapshot=True)
    stages = {}
    notes = []
    for cfg in plan:
        ckpt = Checkpoint.load(run, cfg.stage)
        if ckpt is None:
            break
        if ckpt.step < cfg.steps:
            notes.append(f"stage {cfg.stage} at step {ckpt.step} of {cfg.steps}")
        vals = [r["val"] for r in read_log(run, cfg.stage) if "val" in r]
        stages[cfg.stage] = StageRecord(
            ckpt.step, cfg.batch, ckpt.wall_s, ckpt.hardware, asdict(cfg), vals[-1] if vals else None
        )
        if notes:
            break
    # A run without a projection or an enhancer stage still exports every network (the
    # bundle needs all three): a random projection, an identity enhancer, and a note.
    key = jax.random.key(0)
    if "projection.fc1.weight" not in params:
        params = {**params, **nets.init(key, nets.projection_shapes())}
        notes.append("no simclr stage: the projection is random")
    if "enhancer.head.weight" not in params:
        params = {**params, **nets.init(key, nets.unet_shapes(plan[0].unet), zero=nets.IDENTITY_HEAD)}
        notes.append("no enhancer stage: the enhancer is the identity")
    pack = PackRecord(**json.loads((run / "pack.json").read_text()))
    gains = np.exp(np.asarray(params["rate.log_gain"], np.float32))
    lambdas = np.array(plan[0].level_lambdas, np.float32)
    return networks_file(params, gains, lambdas, TrainerRecord(str(run), pack, stages, notes=notes))


def export_main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="sacodec_train export", description="Writes a run's networks and gains (as far as it got) under burn's names, for `sacodec train`.")
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    out = args.out or args.run / "networks.safetensors"
    tensors, meta = export(args.run)
    io.save(out, tensors, meta)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")
