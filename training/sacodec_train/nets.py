"""The three networks of `src/model/`, layer by layer, as pure JAX functions.

Parameters are one flat dict `{name: array}` whose names and layouts are the ones the Rust
side loads: burn's module paths (`vae.encoder.conv1.weight`) and burn's layouts (Conv2d
`[out, in, k, k]`, ConvTranspose2d `[in, out, k, k]`, Linear `[in, out]`). No renaming happens
anywhere; `tests/parity.rs` checks that burn computes what these functions compute.

Images are NHWC in [0, 1] (`[N, H, W, 3]`), latents `[N, 4, 4, 64]`: burn's NCHW turned
around, since XLA's CPU backend is fastest on NHWC (`nchw` / `nhwc` convert for the parity
fixture).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import lax

Params = dict[str, jax.Array]

LATENT_CHANNELS = 64
LATENT_SIDE = 4
LATENT_LEN = LATENT_CHANNELS * LATENT_SIDE * LATENT_SIDE
PATCH = 32
PROJECTION_DIM = 128

# Activations are NHWC: XLA's CPU backend (and the YNNPACK library it hands convolutions to,
# see `cpu.py`) computes NHWC convolutions and their gradients several times faster than NCHW
# ones. The kernels stay in burn's layouts; these dimension numbers name them.
_CONV = ("NHWC", "OIHW", "NHWC")  # burn's Conv2d weight [out, in, kh, kw]
_CONV_T = ("NHWC", "IOHW", "NHWC")  # burn's ConvTranspose2d weight [in, out, kh, kw], flipped
_HWIO = ("NHWC", "HWIO", "NHWC")  # kernels rearranged here


@dataclass(frozen=True)
class VaeConfig:
    """`PatchVaeConfig`."""

    latent_channels: int = LATENT_CHANNELS
    widths: tuple[int, int, int] = (32, 64, 128)


@dataclass(frozen=True)
class UNetConfig:
    """`AttentionUNetConfig`: widths, bottleneck, and whether a fourth input channel tells the
    network the quality level (a constant plane, `level / (levels - 1)`)."""

    widths: tuple[int, int, int] = (32, 64, 128)
    bottleneck: int = 256
    level_input: bool = True

    @property
    def in_channels(self) -> int:
        return 4 if self.level_input else 3


# ---------------------------------------------------------------------------------------------
# Layers


def conv(p: Params, name: str, x: jax.Array, pad: int = 0) -> jax.Array:
    """burn's `Conv2d` at stride 1 (a cross-correlation), weight `[out, in, k, k]`, with bias."""
    w = p[name + ".weight"].astype(x.dtype)
    y = lax.conv_general_dilated(x, w, (1, 1), [(pad, pad), (pad, pad)], dimension_numbers=_CONV)
    return y + _bias(p, name, x)


def _bias(p: Params, name: str, x: jax.Array) -> jax.Array:
    return p[name + ".bias"].astype(x.dtype)


def _space_to_depth(x: jax.Array) -> jax.Array:
    """`[N, 2H, 2W, C]` → `[N, H, W, 4C]`, channels ordered (dy, dx, c)."""
    n, h, w, c = x.shape
    x = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h // 2, w // 2, 4 * c)


def _down_linear(w: jax.Array, x: jax.Array) -> jax.Array:
    """Conv2d 4×4, stride 2, padding 1, weight `[out, in, 4, 4]`, no bias."""
    return lax.conv_general_dilated(x, w, (2, 2), [(1, 1), (1, 1)], dimension_numbers=_CONV)


def _down_weight_grad(x: jax.Array, g: jax.Array, w: jax.Array) -> jax.Array:
    """The gradient of [`_down_linear`]'s weight `w` at input `x` and output gradient `g`."""
    return jax.vjp(lambda w: _down_linear(w, x), w)[1](g)[0]


def _taps(w: jax.Array) -> jax.Array:
    """A 4×4 stride-2 kernel `[out, in, 4, 4]` as the 2×2 kernel of the padded input's
    space-to-depth: tap `2t + d` is tap `t` at phase `d`; `[o, c, (ty, dy), (tx, dx)]` → HWIO
    `[ty, tx, (dy, dx, c), o]`."""
    o, c = w.shape[:2]
    return w.reshape(o, c, 2, 2, 2, 2).transpose(2, 4, 3, 5, 1, 0).reshape(2, 2, 4 * c, o)


def _up_linear(x: jax.Array, w: jax.Array) -> jax.Array:
    """ConvTranspose2d 4×4, stride 2, padding 1, weight `[in, out, 4, 4]`, no bias: by
    definition the adjoint of [`_down_linear`] with the same weight read as `[out, in, 4, 4]`.
    Computed as the adjoint of that convolution written as a 2×2 stride-1 convolution of the
    padded input's space-to-depth (`_taps`), which XLA's CPU backend runs ~4× faster than the
    adjoint of the strided one (a convolution of the input dilated by zeros)."""
    n, h, wd, _ = x.shape

    def down(u: jax.Array) -> jax.Array:
        phases = _space_to_depth(jnp.pad(u, ((0, 0), (1, 1), (1, 1), (0, 0))))
        return lax.conv_general_dilated(phases, _taps(w), (1, 1), "VALID", dimension_numbers=_HWIO)

    return jax.linear_transpose(down, jnp.zeros((n, 2 * h, 2 * wd, w.shape[1]), x.dtype))(x)[0]


# The two with their gradients written out, in the forms XLA's CPU backend computes fastest:
# each one's input gradient is the other; both weight gradients are [`_down_weight_grad`]
# (for y = Dᵀx, ⟨y, g⟩ = ⟨x, D g⟩).
_down = jax.custom_vjp(_down_linear)
_down.defvjp(
    lambda w, x: (_down_linear(w, x), (w, x)),
    lambda res, g: (_down_weight_grad(res[1], g, res[0]), _up_linear(g, res[0])),
)
_up = jax.custom_vjp(_up_linear)
_up.defvjp(
    lambda x, w: (_up_linear(x, w), (x, w)),
    lambda res, g: (_down_linear(res[1], g), _down_weight_grad(g, res[0], res[1])),
)


def conv_down(p: Params, name: str, x: jax.Array) -> jax.Array:
    """burn's `Conv2d` 4×4, stride 2, padding 1, weight `[out, in, 4, 4]`, with bias."""
    return _down(p[name + ".weight"].astype(x.dtype), x) + _bias(p, name, x)


def conv_t(p: Params, name: str, x: jax.Array) -> jax.Array:
    """burn's (and PyTorch's) `ConvTranspose2d` 3×3, stride 1, padding 1, weight
    `[in, out, 3, 3]`: a convolution with the kernel flipped and its channel axes swapped."""
    w = jnp.flip(p[name + ".weight"].astype(x.dtype), (2, 3))
    y = lax.conv_general_dilated(x, w, (1, 1), [(1, 1), (1, 1)], dimension_numbers=_CONV_T)
    return y + _bias(p, name, x)


def conv_t_up(p: Params, name: str, x: jax.Array) -> jax.Array:
    """burn's `ConvTranspose2d` 4×4, stride 2, padding 1, weight `[in, out, 4, 4]`, with bias."""
    return _up(x, p[name + ".weight"].astype(x.dtype)) + _bias(p, name, x)


def conv_t_2x2(p: Params, name: str, x: jax.Array) -> jax.Array:
    """`ConvTranspose2d` 2×2, stride 2, no padding, weight `[in, out, 2, 2]`: every input pixel
    becomes a 2×2 block, `y[2m + a, 2n + b, o] = Σ_c x[m, n, c]·w[c, o, a, b]`."""
    w = p[name + ".weight"].astype(x.dtype)
    n, h, wd, _ = x.shape
    o = w.shape[1]
    y = jnp.einsum("nhwc,coab->nhawbo", x, w).reshape(n, 2 * h, 2 * wd, o)
    return y + _bias(p, name, x)


def linear(p: Params, name: str, x: jax.Array) -> jax.Array:
    """burn's `Linear`, weight `[in, out]`."""
    return x @ p[name + ".weight"].astype(x.dtype) + p[name + ".bias"].astype(x.dtype)


def max_pool2(x: jax.Array) -> jax.Array:
    """2×2 max pooling, stride 2."""
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


relu = jax.nn.relu
sigmoid = jax.nn.sigmoid


def nchw(x: jax.Array) -> jax.Array:
    """`[N, H, W, C]` → `[N, C, H, W]`: burn's layout, for the parity fixture."""
    return x.transpose(0, 3, 1, 2)


def nhwc(x: jax.Array) -> jax.Array:
    """`[N, C, H, W]` → `[N, H, W, C]`."""
    return x.transpose(0, 2, 3, 1)


# ---------------------------------------------------------------------------------------------
# PatchVAE (src/model/vae.rs)


def encode_mu(p: Params, x: jax.Array) -> jax.Array:
    """`[N, 32, 32, 3]` → μ `[N, 4, 4, 64]` (`PatchEncoder::mu`; the logσ² head is trained by
    nothing and exported as initialised)."""
    x = relu(conv_down(p, "vae.encoder.conv1", x))
    x = relu(conv_down(p, "vae.encoder.conv2", x))
    x = relu(conv_down(p, "vae.encoder.conv3", x))
    x = relu(conv(p, "vae.encoder.conv4", x, 1))
    return conv(p, "vae.encoder.mu", x)


def decode(p: Params, z: jax.Array) -> jax.Array:
    """`[N, 4, 4, 64]` → `[N, 32, 32, 3]` in [0, 1] (`PatchDecoder::forward`)."""
    x = relu(conv_t(p, "vae.decoder.deconv1", z))
    x = relu(conv_t_up(p, "vae.decoder.deconv2", x))
    x = relu(conv_t_up(p, "vae.decoder.deconv3", x))
    return sigmoid(conv_t_up(p, "vae.decoder.deconv4", x))


# ---------------------------------------------------------------------------------------------
# LatentSimCLRProjection (src/model/projection.rs)


def project(p: Params, z: jax.Array) -> jax.Array:
    """`[N, H, W, 64]` → `[N, 128]` unit rows."""
    x = relu(conv(p, "projection.conv1", z, 1))
    x = relu(conv(p, "projection.conv2", x, 1))
    pooled = x.mean(axis=(1, 2))
    e = linear(p, "projection.fc2", relu(linear(p, "projection.fc1", pooled)))
    norm = jnp.sqrt((e * e).sum(axis=1, keepdims=True))
    return e / jnp.maximum(norm, 1e-12)


# ---------------------------------------------------------------------------------------------
# AttentionUNet (src/model/unet.rs)

LOGIT_EDGE = 1.0 / 1024.0


def _block(p: Params, name: str, x: jax.Array) -> jax.Array:
    return relu(conv(p, f"{name}.conv2", relu(conv(p, f"{name}.conv1", x, 1)), 1))


def _gate(p: Params, name: str, g: jax.Array, x: jax.Array) -> jax.Array:
    a = relu(conv(p, f"{name}.w_g", g) + conv(p, f"{name}.w_x", x))
    return x * sigmoid(conv(p, f"{name}.psi", a))


def enhancer_input(q: jax.Array, levels: int) -> jax.Array:
    """What the level channel reads at quality levels `q` of `levels`: `q / (levels − 1)`, as
    the codec's `model::enhancer_input` (tied by the parity test)."""
    return q / max(levels - 1, 1)


def level_plane(x: jax.Array, level: jax.Array) -> jax.Array:
    """Appends the level channel: `x` `[N, H, W, 3]`, `level` `[N]` in [0, 1]."""
    n, h, w, _ = x.shape
    plane = jnp.broadcast_to(level.astype(x.dtype)[:, None, None, None], (n, h, w, 1))
    return jnp.concatenate([x, plane], axis=-1)


def enhance(p: Params, x: jax.Array, level: jax.Array | None = None) -> jax.Array:
    """`[N, H, W, 3]` in [0, 1] → the same, H and W multiples of 8; `level` `[N]` in [0, 1]
    when the network reads the level channel. Output = sigmoid(head + logit(input))."""
    q = jnp.clip(x, LOGIT_EDGE, 1.0 - LOGIT_EDGE)
    logit = jnp.log(q / (1.0 - q))
    inp = x if level is None else level_plane(x, level)
    e1 = _block(p, "enhancer.enc1", inp)
    e2 = _block(p, "enhancer.enc2", max_pool2(e1))
    e3 = _block(p, "enhancer.enc3", max_pool2(e2))
    b = _block(p, "enhancer.bottleneck", max_pool2(e3))
    d = b
    for i, skip in ((3, e3), (2, e2), (1, e1)):
        d = conv_t_2x2(p, f"enhancer.up{i}", d)
        s = _gate(p, f"enhancer.att{i}", d, skip)
        d = _block(p, f"enhancer.dec{i}", jnp.concatenate([s, d], axis=-1))
    return sigmoid(conv(p, "enhancer.head", d) + logit)


# ---------------------------------------------------------------------------------------------
# Shapes and initialisation


def vae_shapes(cfg: VaeConfig = VaeConfig()) -> dict[str, tuple[int, ...]]:
    w1, w2, w3 = cfg.widths
    z = cfg.latent_channels
    layers = {
        "encoder.conv1": ("conv", 3, w1, 4),
        "encoder.conv2": ("conv", w1, w2, 4),
        "encoder.conv3": ("conv", w2, w3, 4),
        "encoder.conv4": ("conv", w3, w3, 3),
        "encoder.mu": ("conv", w3, z, 1),
        "encoder.logvar": ("conv", w3, z, 1),
        "decoder.deconv1": ("convt", z, w3, 3),
        "decoder.deconv2": ("convt", w3, w2, 4),
        "decoder.deconv3": ("convt", w2, w1, 4),
        "decoder.deconv4": ("convt", w1, 3, 4),
    }
    return _shapes("vae", layers)


def projection_shapes() -> dict[str, tuple[int, ...]]:
    layers = {
        "conv1": ("conv", LATENT_CHANNELS, 128, 3),
        "conv2": ("conv", 128, 256, 3),
        "fc1": ("linear", 256, 256, 0),
        "fc2": ("linear", 256, PROJECTION_DIM, 0),
    }
    return _shapes("projection", layers)


def unet_shapes(cfg: UNetConfig = UNetConfig()) -> dict[str, tuple[int, ...]]:
    c1, c2, c3 = cfg.widths
    b = cfg.bottleneck
    layers: dict[str, tuple[str, int, int, int]] = {}

    def block(name: str, i: int, o: int) -> None:
        layers[f"{name}.conv1"] = ("conv", i, o, 3)
        layers[f"{name}.conv2"] = ("conv", o, o, 3)

    def gate(name: str, f: int) -> None:
        layers[f"{name}.w_g"] = ("conv", f, f // 2, 1)
        layers[f"{name}.w_x"] = ("conv", f, f // 2, 1)
        layers[f"{name}.psi"] = ("conv", f // 2, 1, 1)

    block("enc1", cfg.in_channels, c1)
    block("enc2", c1, c2)
    block("enc3", c2, c3)
    block("bottleneck", c3, b)
    for i, (lo, hi) in ((3, (c3, b)), (2, (c2, c3)), (1, (c1, c2))):
        layers[f"up{i}"] = ("convt", hi, lo, 2)
        gate(f"att{i}", lo)
        block(f"dec{i}", 2 * lo, lo)
    layers["head"] = ("conv", c1, 3, 1)
    return _shapes("enhancer", layers)


def _shapes(prefix: str, layers: dict[str, tuple[str, int, int, int]]) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for name, (kind, i, o, k) in layers.items():
        weight = {"conv": (o, i, k, k), "convt": (i, o, k, k), "linear": (i, o)}[kind]
        out[f"{prefix}.{name}.weight"] = weight
        out[f"{prefix}.{name}.bias"] = (o,)
    return out


def fan_in(name: str, shape: tuple[int, ...], shapes: dict[str, tuple[int, ...]]) -> int:
    """Fan-in of a weight (a bias takes its weight's), as PyTorch and burn count it."""
    if len(shape) == 1:
        return fan_in(name[: -len("bias")] + "weight", shapes[name[: -len("bias")] + "weight"], shapes)
    if len(shape) == 2:
        return shape[0]  # Linear [in, out]
    return shape[1] * shape[2] * shape[3]


def init(key: jax.Array, shapes: dict[str, tuple[int, ...]], zero: tuple[str, ...] = ()) -> Params:
    """Uniform ±1/√fan_in (PyTorch's and burn's default bound); names in `zero` start at 0."""
    params: Params = {}
    for i, (name, shape) in enumerate(sorted(shapes.items())):
        if name in zero:
            params[name] = jnp.zeros(shape, jnp.float32)
            continue
        bound = 1.0 / fan_in(name, shape, shapes) ** 0.5
        params[name] = jax.random.uniform(jax.random.fold_in(key, i), shape, jnp.float32, -bound, bound)
    return params


IDENTITY_HEAD = ("enhancer.head.weight", "enhancer.head.bias")
