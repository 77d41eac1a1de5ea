"""Writes the parity fixtures `tests/parity.rs` reads: random parameters of the three networks
(under the names and layouts burn loads), inputs, and what these JAX definitions compute from
them — once at the default widths with the level input (`fixture.safetensors`), once narrower
and without it (`narrow.safetensors`) — and the rules beyond the networks that training and
coding share: rounding latents, the enhancer's level input, the context's taps and which are
decoded before their cell, the constants of the priors, and the BD-rate. The Rust test loads
the parameters with the project's own loader and asserts burn's outputs match to 1e-4 and the
rules exactly, so the two cannot drift apart silently.

    python -m sacodec_train parity --out ../target/parity
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from . import io, nets, rate
from .recipe import bd_rate
from .train import seam_band
from .record import StageRecord, TrainerRecord, networks_file

# The narrow fixture's networks: widths other than the defaults, no level input.
NARROW = (nets.VaeConfig(widths=(16, 24, 40)), nets.UNetConfig((8, 16, 24), 48, level_input=False))
# Two rate–distortion curves (bpp, PSNR dB) whose BD-rate both languages compute.
BD_REFERENCE = [(0.12, 24.1), (0.25, 26.3), (0.47, 28.6), (0.83, 30.9), (1.41, 33.0)]
BD_TEST = [(0.10, 24.0), (0.21, 26.4), (0.40, 28.5), (0.74, 31.2), (1.30, 33.4), (2.0, 35.1)]


def rules() -> dict[str, np.ndarray]:
    """The rules beyond the networks, as `parity.…` tensors (rows of inputs and outputs)."""
    # Halves (where rounding rules differ), near-halves, and values past the codable range.
    halves = np.arange(-6, 7, dtype=np.float32) + 0.5
    y = np.concatenate([halves, halves + 1e-3, halves - 1e-3, [126.5, 127.5, 131.0, -127.5, -400.0]])
    y = np.asarray(y, np.float32)
    # (levels, quality, level input) for bundles of 1 to 12 levels.
    level_map = [(n, q, float(nets.enhancer_input(jnp.float32(q), n))) for n in range(1, 13) for q in range(n)]
    return {
        "parity.round_in": y,
        "parity.round_out": np.asarray(rate.round_latents(jnp.asarray(y))),
        "parity.level_map": np.array(level_map, np.float32),
        # The seam band of a crop of 3 × 3 patches (the enhancer's loss and validation).
        "parity.seam_band": np.asarray(seam_band(3 * nets.PATCH)[:, :, 0]),
        # The context's taps, and which of them are decoded before their cell, on 2 × 3 patches
        # (the trainer's context rate).
        "parity.context_taps": np.array(rate.CONTEXT_TAPS, np.float32),
        "parity.context_present": rate.context_present(2, 3),
        "parity.min_scale": np.array([rate.MIN_SCALE], np.float32),
        "parity.max_latent": np.array([rate.MAX_LATENT], np.float32),
        "parity.bd_reference": np.array(BD_REFERENCE, np.float32),
        "parity.bd_test": np.array(BD_TEST, np.float32),
        # Of the curves as stored (f32), so both languages read the same points.
        "parity.bd_rate": np.array([bd_rate(_f32(BD_REFERENCE), _f32(BD_TEST))], np.float32),
    }


def _f32(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [tuple(float(v) for v in np.float32(p)) for p in points]


def fixture(seed: int = 7, narrow: bool = False) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """An export of random networks (what `sacodec train` reads) plus `parity.…` tensors."""
    vae, unet = NARROW if narrow else (nets.VaeConfig(), nets.UNetConfig())
    # Parity is checked at full f32 precision on the CPU (no TF32, no bf16).
    with jax.default_matmul_precision("highest"):
        key = jax.random.key(seed)
        k = jax.random.split(key, 8)
        # A random (non-zero) head, so the enhancer is not the identity.
        shapes = {**nets.vae_shapes(vae), **nets.projection_shapes(), **nets.unet_shapes(unet)}
        p = nets.init(k[0], shapes)
        patches = jax.random.uniform(k[1], (5, 3, 32, 32))
        latents = jax.random.uniform(k[2], (5, 64, 4, 4), minval=-3.0, maxval=3.0)
        wide = jax.random.uniform(k[3], (2, 64, 8, 8), minval=-3.0, maxval=3.0)
        image = jax.random.uniform(k[4], (2, 3, 64, 96))
        level = jnp.array([0.0, 0.6], jnp.float32) if unet.level_input else None
        # burn's tensors are NCHW, the trainer's NHWC.
        nchw, nhwc = nets.nchw, nets.nhwc
        out = {
            "parity.patches": patches,
            "parity.mu": nchw(nets.encode_mu(p, nhwc(patches))),
            "parity.latents": latents,
            "parity.decoded": nchw(nets.decode(p, nhwc(latents))),
            "parity.embedding": nets.project(p, nhwc(latents)),
            "parity.wide_latents": wide,
            "parity.wide_embedding": nets.project(p, nhwc(wide)),
            "parity.image": image,
            "parity.enhanced": nchw(nets.enhance(p, nhwc(image), level)),
        }
        if level is not None:
            out["parity.level"] = level
        levels = 3
        gains = np.exp(np.asarray(rate.initial_log_gains(rate.LAMBDAS[:levels])))
        lambdas = np.array(rate.LAMBDAS[:levels], np.float32)
        stage = StageRecord(0, 0, 0.0, [], {"seed": seed})
        record = TrainerRecord("parity", None, {"parity": stage}, notes=["random parameters"])
        tensors, meta = networks_file(p, gains, lambdas, record)
        tensors.update({name: np.asarray(v, np.float32) for name, v in out.items()})
        if not narrow:
            tensors.update(rules())
        return tensors, meta


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="sacodec_train parity", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("../target/parity"), help="a folder")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    for name, narrow in (("fixture", False), ("narrow", True)):
        out = args.out / f"{name}.safetensors"
        io.save(out, *fixture(args.seed, narrow))
        print(f"wrote {out}")
