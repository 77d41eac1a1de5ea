"""The rate side of training: quality levels, per-level quantization gains and the priors the
rate is measured under.

Each level `q` has a per-channel gain `g_q` (learned): the coded latent is `y = μ·g_q`,
training replaces rounding by additive U(−½, ½) noise and clamps as the coder does
(`noisy_latents`), and the decoder sees `ỹ / g_q` (the codec's `LevelPriors::quantize` /
`dequantize`). The rate is the code length of `ỹ` under a
discretized Gaussian per latent element, the family the coder uses: one factorized prior per
level (`rate.mean`, `rate.log_scale`), or, in the subclass stage, K priors per level and a
categorical prior over ids, each patch coded by its best subclass, id included. The tables
actually coded are refitted to rounded latents by `sacodec train` afterwards.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr

from . import nets
from .nets import LATENT_CHANNELS, LATENT_LEN, PATCH, Params

# CompressAI's eight MSE λ (bmshj2018 and successors), lowest quality first.
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)
# Smallest scale of the priors (the coder's grid starts at 0.11 too).
MIN_SCALE = 0.11
# The coder clamps rounded latents to ±127.
MAX_LATENT = 127.0
LN2 = math.log(2.0)


def gaussian_bits(y: jax.Array, mean: jax.Array, scale: jax.Array) -> jax.Array:
    """−log₂ of the mass of the unit bin around `y` under N(mean, scale²), elementwise, from
    the upper tail: with v = |y − mean|, P = Φ((½ − v)/s) − Φ((−½ − v)/s), computed in the log
    domain so it stays finite with a gradient far in the tails."""
    v = jnp.abs(y - mean)
    hi = log_ndtr((0.5 - v) / scale)
    lo = log_ndtr((-0.5 - v) / scale)
    ln_p = hi + jnp.log1p(-jnp.exp(jnp.minimum(lo - hi, -1e-7)))
    return -ln_p / LN2


def initial_log_gains(lambdas: tuple[float, ...]) -> jax.Array:
    """ln g per level (one per λ), spread like ½·ln λ around the middle level (ln g = 1 there)."""
    lam = jnp.array(lambdas)
    mid = jnp.exp(jnp.log(lam).mean())
    g = 0.5 * jnp.log(lam / mid) + 1.0
    return jnp.repeat(g[:, None], LATENT_CHANNELS, axis=1)


def init_rate(lambdas: tuple[float, ...]) -> Params:
    levels = len(lambdas)
    return {
        "rate.log_gain": initial_log_gains(lambdas),
        "rate.mean": jnp.zeros((levels, LATENT_LEN)),
        "rate.log_scale": jnp.ones((levels, LATENT_LEN)),
    }


def at_levels(table: jax.Array, q: jax.Array) -> jax.Array:
    """`table[q]` for a table `[L, …]` and levels `q` `[N]`, as a one-hot product: its gradient
    is a product too, where XLA's CPU backend makes an indexing's gradient a slow scatter."""
    onehot = jax.nn.one_hot(q, table.shape[0], dtype=table.dtype)
    flat = jnp.dot(onehot, table.reshape(table.shape[0], -1), precision=jax.lax.Precision.HIGHEST)
    return flat.reshape(q.shape + table.shape[1:])


def gains(p: Params, q: jax.Array) -> jax.Array:
    """Gains of levels `q` `[N]` as `[N, 1, 1, 64]` (latents are NHWC)."""
    return jnp.exp(at_levels(p["rate.log_gain"], q))[:, None, None, :]


def round_latents(y: jax.Array) -> jax.Array:
    """ẑ: the coded latents of `y = μ·g`, rounded (halves to even) and clamped to the codable
    range: the coder's rule too (`entropy::clamp_latent`, tied by the parity test)."""
    return jnp.clip(jnp.round(y), -MAX_LATENT, MAX_LATENT)


def noisy_latents(y: jax.Array, key: jax.Array) -> jax.Array:
    """ỹ: training's stand-in for `round_latents` — `y` plus U(−½, ½) noise, clamped to the
    same ±MAX_LATENT. Unclamped, the loss never saw the error of a latent the coder cuts at
    ±127, and a level's gains could grow until its PSNR fell (`studies/clamped_latents.py`);
    clamped, that error is in the loss and the gains that cause it get its gradient."""
    noise = jax.random.uniform(key, y.shape, minval=-0.5, maxval=0.5)
    return jnp.clip(y + noise, -MAX_LATENT, MAX_LATENT)


def quantize(p: Params, mu: jax.Array, q: jax.Array) -> jax.Array:
    """ẑ / g: what the decoder sees at levels `q`."""
    g = gains(p, q)
    return round_latents(mu * g) / g


def prior_bits(p: Params, y: jax.Array, q: jax.Array) -> jax.Array:
    """Bits of each patch's latents `y` `[N, 4, 4, 64]` under the factorized prior of its level
    (the trainer's tables are in that order; `sacodec train` fits the coded ones afresh)."""
    n = y.shape[0]
    mean = at_levels(p["rate.mean"], q).reshape(y.shape)
    scale = jnp.maximum(jnp.exp(at_levels(p["rate.log_scale"], q)), MIN_SCALE).reshape(y.shape)
    return gaussian_bits(y, mean, scale).reshape(n, -1).sum(axis=1)


def subclass_bits(p: Params, y: jax.Array, q: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Bits of each patch under its best subclass of its level, id included, and that id."""
    n = y.shape[0]
    flat = y.reshape(n, 1, LATENT_LEN)
    mean = at_levels(p["sub.mean"], q)  # [N, K, 1024]
    scale = jnp.maximum(jnp.exp(at_levels(p["sub.log_scale"], q)), MIN_SCALE)
    bits = gaussian_bits(flat, mean, scale).sum(axis=2)  # [N, K]
    id_bits = -jax.nn.log_softmax(at_levels(p["sub.logits"], q), axis=1) / LN2
    total = bits + id_bits
    return total.min(axis=1), total.argmin(axis=1)


def rd_terms(p: Params, x: jax.Array, q: jax.Array, key: jax.Array, subclasses: bool) -> dict[str, jax.Array]:
    """Per-patch rate (bits/pixel), MSE and the loss terms of patches `x` at levels `q`."""
    mu = nets.encode_mu(p, x)
    g = gains(p, q)
    noisy = noisy_latents(mu * g, key)
    x_hat = nets.decode(p, noisy / g)
    bits = subclass_bits(p, noisy, q)[0] if subclasses else prior_bits(p, noisy, q)
    mse = ((x_hat - x) ** 2).mean(axis=(1, 2, 3))
    return {"bpp": bits / (PATCH * PATCH), "mse": mse}


def init_subclasses(p: Params, mu: jax.Array, k: int, key: jax.Array) -> Params:
    """K priors per level started from K random patches' latents (means) and the level's
    factorized prior (scales), and uniform id logits."""
    levels = p["rate.log_gain"].shape[0]
    pick = mu[jax.random.choice(key, mu.shape[0], (k,), replace=False)].reshape(k, -1, LATENT_CHANNELS)
    g = jnp.exp(p["rate.log_gain"])  # [L, 64]
    means = (pick[None] * g[:, None, None, :]).reshape(levels, k, LATENT_LEN)
    scales = jnp.broadcast_to(p["rate.log_scale"][:, None, :], (levels, k, LATENT_LEN))
    return {"sub.mean": means, "sub.log_scale": scales, "sub.logits": jnp.zeros((levels, k))}
