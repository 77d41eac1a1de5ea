"""Batches sampled on the device from the pack's tiles: every random choice is a function of a
key, so a step's batch depends only on (seed, step) and a resumed run sees the same data."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .nets import PATCH


def crops(tiles: jax.Array, key: jax.Array, n: int, side: int, rotate: bool = False) -> jax.Array:
    """`n` random `side × side` crops of uint8 tiles `[T, S, S, 3]`, each flipped left–right
    with probability ½ and, with `rotate`, turned into any of its 8 rotations by 90° and mirror
    images alike: `[n, side, side, 3]` float in [0, 1]."""
    t, s = tiles.shape[0], tiles.shape[1]
    kt, ky, kx, kf = jax.random.split(key, 4)
    idx = jax.random.randint(kt, (n,), 0, t)
    y = jax.random.randint(ky, (n,), 0, s - side + 1)
    x = jax.random.randint(kx, (n,), 0, s - side + 1)
    # Per crop: flip left–right; with `rotate`, transpose and flip upside down.
    flips = jax.random.bernoulli(kf, 0.5, (n, 3)) & jnp.array([True, rotate, rotate])

    def one(i, y, x, f):
        c = jax.lax.dynamic_slice(tiles[i], (y, x, 0), (side, side, 3))
        c = jnp.where(f[1], c.transpose(1, 0, 2), c)
        c = jnp.where(f[2], c[::-1], c)
        return jnp.where(f[0], c[:, ::-1], c)

    out = jax.vmap(one)(idx, y, x, flips)
    return out.astype(jnp.float32) / 255.0


def view_pairs(tiles: jax.Array, key: jax.Array, n: int, shift: int = 8) -> tuple[jax.Array, jax.Array]:
    """`n` pairs of 32×32 views of the same `(32 + shift)²` region: each view shifted by up to
    `shift` pixels, flipped at random, with brightness (±0.1) and contrast (0.8–1.2) jitter
    (the augmentations of the Rust sampler this replaces)."""
    kr, ka, kb = jax.random.split(key, 3)
    region = crops(tiles, kr, n, PATCH + shift)

    def view(k: jax.Array) -> jax.Array:
        ks, kf, kb_, kc = jax.random.split(k, 4)
        d = jax.random.randint(ks, (n, 2), 0, shift + 1)
        flip = jax.random.bernoulli(kf, 0.5, (n,))

        def one(r, d, f):
            c = jax.lax.dynamic_slice(r, (d[0], d[1], 0), (PATCH, PATCH, 3))
            return jnp.where(f, c[:, ::-1], c)

        v = jax.vmap(one)(region, d, flip)
        brightness = (jax.random.uniform(kb_, (n, 1, 1, 1)) - 0.5) * 0.2
        contrast = 0.8 + jax.random.uniform(kc, (n, 1, 1, 1)) * 0.4
        mean = v.mean(axis=(1, 2, 3), keepdims=True)
        return jnp.clip((v - mean) * contrast + mean + brightness, 0.0, 1.0)

    return view(ka), view(kb)


def to_patches(x: jax.Array) -> jax.Array:
    """`[N, H, W, C]` (sides multiples of 32) → `[N·(H/32)·(W/32), 32, 32, C]`, raster order."""
    n, h, w, c = x.shape
    gy, gx = h // PATCH, w // PATCH
    p = x.reshape(n, gy, PATCH, gx, PATCH, c).transpose(0, 1, 3, 2, 4, 5)
    return p.reshape(n * gy * gx, PATCH, PATCH, c)


def stitch(p: jax.Array, n: int, h: int, w: int) -> jax.Array:
    """The inverse of [`to_patches`]."""
    gy, gx = h // PATCH, w // PATCH
    x = p.reshape(n, gy, gx, PATCH, PATCH, 3).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h, w, 3)
