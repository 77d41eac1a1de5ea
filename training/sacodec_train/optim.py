"""The optimisers, over flat `{name: array}` parameters, so a checkpoint is the same kind of file
as the parameters, and the learning-rate schedule. Both clip the gradient's global norm first
(CompressAI's `examples/train.py` recipe).

- `adam`: Adam, its moments of every parameter kept (three times the parameters' size).
- `adafactor`: Adafactor without momentum (Shazeer & Stern 2018): the second moment of a
  matrix (a weight reshaped to its first axis × the rest) kept as its row and column means,
  the update's RMS clipped to 1 — a state of a few per cent of the parameters, so a long run
  of a large network lands its state at about the parameters' size."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .nets import Params

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
OPTIMIZERS = ("adam", "adafactor")


def _factored(shape: tuple[int, ...]) -> bool:
    return len(shape) >= 2 and shape[0] > 1 and math.prod(shape[1:]) > 1


def init(params: Params, kind: str = "adam") -> dict[str, Params]:
    """The optimiser's state at step 0: named parts, each `{parameter: array}`."""
    if kind == "adam":
        return {w: {k: jnp.zeros_like(v) for k, v in params.items()} for w in ("m", "v")}
    if kind == "adafactor":
        state: dict[str, Params] = {"row": {}, "col": {}, "v": {}}
        for k, p in params.items():
            if _factored(p.shape):
                state["row"][k] = jnp.zeros(p.shape[0], p.dtype)
                state["col"][k] = jnp.zeros(math.prod(p.shape[1:]), p.dtype)
            else:
                state["v"][k] = jnp.zeros_like(p)
        return state
    raise ValueError(f"unknown optimizer {kind}")


def learning_rate(base: float, step: jax.Array, total: int, warmup: int, schedule: str, hold: int = 0) -> jax.Array:
    """`base` after a linear warm-up of `warmup` steps, then: `cosine` decays to 1 % of it by
    step `total`; `step` divides it by 10 for the last fifth (the Rust trainer's schedule);
    `constant` keeps it; `rsqrt`, for a run with no known end, keeps it for `hold` steps and
    then falls as 1/√step (halved each time the step count quadruples); `cycles`, also for a
    run with no known end, is `cosine` over cycles of `hold` steps, each from the warm-up on
    (so every `hold`-th step ends at an annealed point, as a run that ends there would)."""
    t = step.astype(jnp.float32)
    if schedule == "cycles":
        t = jnp.mod(t, max(hold, 1))
        schedule, total = "cosine", hold
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
    params: Params,
    grads: Params,
    state: dict[str, Params],
    step: jax.Array,
    lr: jax.Array,
    clip: float,
    lr_scale: dict[str, float] | None = None,
) -> tuple[Params, dict[str, Params], jax.Array]:
    """One step (bias-corrected, step counted from 0) of the optimiser whose state `state` is
    (`init`'s parts tell which), each parameter at `lr` times its `lr_scale` (1 where it has
    none); returns the gradient's norm before clipping."""
    norm = jnp.sqrt(sum(jnp.sum(g * g) for g in grads.values()))
    scale = jnp.minimum(1.0, clip / (norm + 1e-12)) if clip > 0 else 1.0
    t = step.astype(jnp.float32) + 1.0
    c1, c2 = 1.0 - BETA1**t, 1.0 - BETA2**t
    new_p: Params = {}
    new_s: dict[str, Params] = {w: {} for w in state}
    for k, g in grads.items():
        g = g * scale
        lr_k = lr * (lr_scale or {}).get(k, 1.0)
        if "m" in state:  # Adam
            m = BETA1 * state["m"][k] + (1 - BETA1) * g
            v = BETA2 * state["v"][k] + (1 - BETA2) * g * g
            new_p[k] = params[k] - lr_k * (m / c1) / (jnp.sqrt(v / c2) + EPS)
            new_s["m"][k], new_s["v"][k] = m, v
            continue
        g2 = g * g + 1e-30
        if k in state["row"]:
            g2 = g2.reshape(g.shape[0], -1)
            r = BETA2 * state["row"][k] + (1 - BETA2) * g2.mean(1)
            c = BETA2 * state["col"][k] + (1 - BETA2) * g2.mean(0)
            v = (r[:, None] * c[None, :] / r.mean()).reshape(g.shape)
            new_s["row"][k], new_s["col"][k] = r, c
        else:
            v = BETA2 * state["v"][k] + (1 - BETA2) * g2
            new_s["v"][k] = v
        u = g / (jnp.sqrt(v / c2) + EPS)
        u = u / jnp.maximum(1.0, jnp.sqrt(jnp.mean(u * u)))
        new_p[k] = params[k] - lr_k * u
    return new_p, new_s, norm
