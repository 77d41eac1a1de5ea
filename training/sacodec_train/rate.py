"""The rate side of training: quality levels, per-level quantization gains and the priors the
rate is measured under.

Each level `q` has a per-channel gain `g_q` (learned): the coded latent is `y = μ·g_q`,
training replaces rounding by additive U(−½, ½) noise and clamps as the coder does
(`noisy_latents`), and the decoder sees `ỹ / g_q` (the codec's `LevelPriors::quantize` /
`dequantize`). The rate is the code length of `ỹ` under a
discretized Gaussian per latent element, the family the coder uses: one factorized prior per
level (`rate.mean`, `rate.log_scale`), or, in the subclass stage, K priors per level and a
categorical prior over ids, each patch coded by its best subclass, id included; or, on crops
of several patches, under a float twin of the coder's context model (`context_bits`). The
tables (and the context's integer predictor) actually coded are refitted to rounded latents
by `sacodec train` afterwards.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import log_ndtr

from . import data, nets
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


# The coder's context (`codec::context`, tied by the parity test): where each latent's taps are,
# (dy, dx) in cells of its channel, and how many cells a patch's latent has on a side.
CONTEXT_TAPS = ((0, -1), (0, -2), (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2), (-2, -1), (-2, 0), (-2, 1))
CELLS_SIDE = 4
# The context model's parameters (`init_context`).
CONTEXT_NAMES = ("ctx.taps", "ctx.present", "ctx.channels", "ctx.mean", "ctx.log_scale")


def context_present(rows: int, cols: int) -> np.ndarray:
    """`[taps, rows·4, cols·4]`: 1 where a cell's tap is decoded before it in a grid of `rows` ×
    `cols` patches — in an earlier patch (raster order), or an earlier cell of its own patch's
    channel — and 0 where it is not (past the grid's edge, or in the patch to the right)."""
    h, w = rows * CELLS_SIDE, cols * CELLS_SIDE
    out = np.zeros((len(CONTEXT_TAPS), h, w), np.float32)
    for t, (dy, dx) in enumerate(CONTEXT_TAPS):
        for i in range(h):
            for j in range(w):
                y, x = i + dy, j + dx
                if not (0 <= y < h and 0 <= x < w):
                    continue
                # Every tap is above its cell or left of it in its row, so a tap in the cell's own
                # patch is decoded before it, and of the other patches in reach only the one to
                # the right is not (it comes later in raster order).
                out[t, i, j] = (y // CELLS_SIDE, x // CELLS_SIDE) <= (i // CELLS_SIDE, j // CELLS_SIDE)
    return out


def init_context(p: Params) -> Params:
    """The context model at its start: no taps and no earlier channels, each element's mean and
    scale those of the level's factorized prior in `p`, so it starts at that prior's rate."""
    taps = (p["rate.mean"].shape[0], len(CONTEXT_TAPS), LATENT_CHANNELS)
    return {
        "ctx.taps": jnp.zeros(taps),
        "ctx.present": jnp.zeros(taps),
        "ctx.channels": jnp.zeros((taps[0], LATENT_CHANNELS, LATENT_CHANNELS)),
        "ctx.mean": jnp.array(p["rate.mean"]),
        "ctx.log_scale": jnp.array(p["rate.log_scale"]),
    }


def context_prior(p: Params, y: jax.Array, q: jax.Array, rows: int, cols: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Each crop's latents `y` (its `rows` × `cols` patches, `[N·rows·cols, 4, 4, 64]` in raster
    order as `data.to_patches` cuts them) as one map `[N, rows·4, cols·4, 64]`, and each latent's
    mean and scale at levels `q` `[N]` under a float twin of the coder's context model: the
    level's mean of its element plus, per channel, a weight of each tap present
    (`context_present`) and a term for its presence, plus a weight of each earlier channel at
    its cell — what the coder's integer predictor (`codec::context::Predictor`) is fitted to
    predict from afterwards."""
    n, c, side = q.shape[0], LATENT_CHANNELS, CELLS_SIDE
    h, w = rows * side, cols * side
    m = y.reshape(n, rows, cols, side, side, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, h, w, c)

    def per_cell(table: jax.Array) -> jax.Array:
        return jnp.tile(at_levels(table, q).reshape(n, side, side, c), (1, rows, cols, 1))

    present = jnp.asarray(context_present(rows, cols))[:, None, :, :, None]
    taps, terms = at_levels(p["ctx.taps"], q), at_levels(p["ctx.present"], q)  # [N, T, C]
    earlier = at_levels(p["ctx.channels"], q) * jnp.triu(jnp.ones((c, c)), 1)
    mean = per_cell(p["ctx.mean"]) + jnp.einsum("nhwc,ncd->nhwd", m, earlier, precision=lax.Precision.HIGHEST)
    pad = jnp.pad(m, ((0, 0), (2, 0), (2, 2), (0, 0)))
    for t, (dy, dx) in enumerate(CONTEXT_TAPS):
        at = pad[:, 2 + dy : 2 + dy + h, 2 + dx : 2 + dx + w]
        mean = mean + present[t] * (taps[:, t, None, None, :] * at + terms[:, t, None, None, :])
    return m, mean, jnp.maximum(jnp.exp(per_cell(p["ctx.log_scale"])), MIN_SCALE)


def context_bits(p: Params, y: jax.Array, q: jax.Array, rows: int, cols: int) -> jax.Array:
    """Bits of each crop's latents under the context model (`context_prior`)."""
    return gaussian_bits(*context_prior(p, y, q, rows, cols)).sum(axis=(1, 2, 3))


# The rate a stage trains under: each patch's level's own prior, its best subclass's, or the
# context model's (on crops).
PRIORS = ("factorized", "subclass", "context")


def rd_terms(p: Params, x: jax.Array, q: jax.Array, key: jax.Array, prior: str = "factorized") -> dict[str, jax.Array]:
    """Per-crop rate (bits/pixel) and MSE of crops `x` `[N, S, S, 3]` (S a multiple of 32; 32:
    one patch) at levels `q` `[N]`, under `prior` (`PRIORS`)."""
    n, side = x.shape[0], x.shape[1]
    grid = side // PATCH
    qp = jnp.repeat(q, grid * grid)
    mu = nets.encode_mu(p, data.to_patches(x))
    g = gains(p, qp)
    noisy = noisy_latents(mu * g, key)
    x_hat = data.stitch(nets.decode(p, noisy / g), n, side, side)
    return {"bpp": coded_bits(p, noisy, q, grid, prior) / (side * side), "mse": ((x_hat - x) ** 2).mean(axis=(1, 2, 3))}


def coded_bits(p: Params, y: jax.Array, q: jax.Array, grid: int, prior: str) -> jax.Array:
    """Bits of each crop of `grid` × `grid` patches whose latents are `y` (raster order) at
    levels `q` `[N]`, under `prior` (`PRIORS`)."""
    if prior == "context":
        return context_bits(p, y, q, grid, grid)
    qp = jnp.repeat(q, grid * grid)
    bits = subclass_bits(p, y, qp)[0] if prior == "subclass" else prior_bits(p, y, qp)
    return bits.reshape(q.shape[0], -1).sum(axis=1)


def init_subclasses(p: Params, mu: jax.Array, k: int, key: jax.Array) -> Params:
    """K priors per level started from K random patches' latents (means) and the level's
    factorized prior (scales), and uniform id logits."""
    levels = p["rate.log_gain"].shape[0]
    pick = mu[jax.random.choice(key, mu.shape[0], (k,), replace=False)].reshape(k, -1, LATENT_CHANNELS)
    g = jnp.exp(p["rate.log_gain"])  # [L, 64]
    means = (pick[None] * g[:, None, None, :]).reshape(levels, k, LATENT_LEN)
    scales = jnp.broadcast_to(p["rate.log_scale"][:, None, :], (levels, k, LATENT_LEN))
    return {"sub.mean": means, "sub.log_scale": scales, "sub.logits": jnp.zeros((levels, k))}
