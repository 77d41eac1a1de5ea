"""Writes the parity fixture `tests/parity.rs` reads: random parameters of the three networks
(under the names and layouts burn loads), inputs, and what these JAX definitions compute from
them. The Rust test loads the parameters with the project's own loader and asserts burn's
outputs match to 1e-4, so the two definitions cannot drift apart silently.

    python -m sacodec_train parity --out ../target/parity/fixture.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from . import io, nets, rate
from .record import StageRecord, TrainerRecord, networks_file


def fixture(seed: int = 7) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """An export of random networks (what `sacodec train` reads) plus `parity.…` tensors."""
    # Parity is checked at full f32 precision on the CPU (no TF32, no bf16).
    with jax.default_matmul_precision("highest"):
        key = jax.random.key(seed)
        k = jax.random.split(key, 8)
        # A random (non-zero) head, so the enhancer is not the identity.
        shapes = {**nets.vae_shapes(), **nets.projection_shapes(), **nets.unet_shapes()}
        p = nets.init(k[0], shapes)
        patches = jax.random.uniform(k[1], (5, 3, 32, 32))
        latents = jax.random.uniform(k[2], (5, 64, 4, 4), minval=-3.0, maxval=3.0)
        wide = jax.random.uniform(k[3], (2, 64, 8, 8), minval=-3.0, maxval=3.0)
        image = jax.random.uniform(k[4], (2, 3, 64, 96))
        level = jnp.array([0.0, 0.6], jnp.float32)
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
            "parity.level": level,
            "parity.enhanced": nchw(nets.enhance(p, nhwc(image), level)),
        }
        levels = 3
        gains = np.exp(np.asarray(rate.initial_log_gains(levels)))
        lambdas = np.array(rate.LAMBDAS[:levels], np.float32)
        stage = StageRecord(0, 0, 0.0, [], {"seed": seed})
        record = TrainerRecord("parity", None, {"parity": stage}, notes=["random parameters"])
        tensors, meta = networks_file(p, gains, lambdas, record)
        tensors.update({name: np.asarray(v, np.float32) for name, v in out.items()})
        return tensors, meta


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="sacodec_train parity", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("../target/parity/fixture.safetensors"))
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    io.save(args.out, *fixture(args.seed))
    print(f"wrote {args.out}")
