"""Adam with global-norm gradient clipping (CompressAI's `examples/train.py` recipe) and the
learning-rate schedule, over flat `{name: array}` parameters, so a checkpoint is the same kind
of file as the parameters."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .nets import Params

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


def init(params: Params) -> dict[str, Params]:
    return {w: {k: jnp.zeros_like(v) for k, v in params.items()} for w in ("m", "v")}


def learning_rate(base: float, step: jax.Array, total: int, warmup: int, schedule: str, hold: int = 0) -> jax.Array:
    """`base` after a linear warm-up of `warmup` steps, then: `cosine` decays to 1 % of it by
    step `total`; `step` divides it by 10 for the last fifth (the Rust trainer's schedule);
    `constant` keeps it; `rsqrt`, for a run with no known end, keeps it for `hold` steps and
    then falls as 1/√step (halved each time the step count quadruples)."""
    t = step.astype(jnp.float32)
    warm = jnp.minimum(1.0, (t + 1.0) / max(warmup, 1))
    if schedule == "cosine":
        frac = jnp.clip((t - warmup) / max(total - warmup, 1), 0.0, 1.0)
        decay = 0.01 + 0.99 * 0.5 * (1.0 + jnp.cos(math.pi * frac))
    elif schedule == "step":
        decay = jnp.where(t * 5 >= total * 4, 0.1, 1.0)
    elif schedule == "constant":
        decay = jnp.float32(1.0)
    elif schedule == "rsqrt":
        decay = jnp.sqrt(max(hold, 1) / jnp.maximum(t + 1.0, max(hold, 1)))
    else:
        raise ValueError(f"unknown schedule {schedule}")
    return base * warm * decay


def update(
    params: Params, grads: Params, state: dict[str, Params], step: jax.Array, lr: jax.Array, clip: float
) -> tuple[Params, dict[str, Params], jax.Array]:
    """One Adam step (bias-corrected, step counted from 0); returns the gradient's norm
    before clipping."""
    norm = jnp.sqrt(sum(jnp.sum(g * g) for g in grads.values()))
    scale = jnp.minimum(1.0, clip / (norm + 1e-12)) if clip > 0 else 1.0
    t = step.astype(jnp.float32) + 1.0
    c1, c2 = 1.0 - BETA1**t, 1.0 - BETA2**t
    new_p, new_m, new_v = {}, {}, {}
    for k, g in grads.items():
        g = g * scale
        m = BETA1 * state["m"][k] + (1 - BETA1) * g
        v = BETA2 * state["v"][k] + (1 - BETA2) * g * g
        new_p[k] = params[k] - lr * (m / c1) / (jnp.sqrt(v / c2) + EPS)
        new_m[k], new_v[k] = m, v
    return new_p, {"m": new_m, "v": new_v}, norm
