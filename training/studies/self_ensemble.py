"""What averaging the enhancer over mirrored and transposed copies of its input would gain
(a self-ensemble: the enhancer trains on all 8 rotations and mirror images, so each copy is an
estimate of the same correction): a run's enhancer on the held-out crops its validation uses
(README, "Seams").

    cd training && ../target/pyenv/bin/python studies/self_ensemble.py --run runs/cpu4

Prints, per level, PSNR / seam dB of the decoded crops, of the enhancer once, and of the mean
of 2 (as is and transposed), 4 (the mirror images) and 8 copies.
"""

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sacodec_train import data, nets, pack, rate, train  # noqa: E402


def dihedral(x: jax.Array, k: int, inverse: bool = False) -> jax.Array:
    """The `k`-th (0–7) of the 8 rotations and mirror images of `[N, H, W, C]` (or its inverse)."""
    steps = [
        (4, lambda a: jnp.swapaxes(a, 1, 2)),
        (1, lambda a: a[:, ::-1]),
        (2, lambda a: a[:, :, ::-1]),
    ]
    for bit, f in reversed(steps) if inverse else steps:
        if k & bit:
            x = f(x)
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--pack", type=Path, default=Path("data/cpu.safetensors"))
    args = ap.parse_args()
    plan = train.load_plan(args.run, None, [])
    cfg = next(c for c in plan if c.stage == "enhancer")
    vae = train.final_params(args.run, plan, "enhancer")
    ckpt = train.Checkpoint.load(args.run, "enhancer")
    print(f"{args.run}: enhancer at step {ckpt.step}; {cfg.val_size} held-out crops of {cfg.crop} px")
    valid = jnp.asarray(pack.load(args.pack).valid)
    x = data.crops(valid, jax.random.key(cfg.seed ^ 0x7A1D), cfg.val_size, cfg.crop)  # the validation's
    n, side = x.shape[0], cfg.crop
    band = train.seam_band(side)
    mu = nets.encode_mu(vae, data.to_patches(x))
    enhance = jax.jit(nets.enhance)
    for q in range(cfg.levels):
        zq = rate.quantize(vae, mu, jnp.full((mu.shape[0],), q))
        d = data.stitch(nets.decode(vae, zq), n, side, side)
        level = jnp.full((n,), nets.enhancer_input(jnp.float32(q), cfg.levels))
        copies = [dihedral(enhance(ckpt.params, dihedral(d, k), level), k, inverse=True) for k in range(8)]
        row = {"decoded": d, "once": copies[0], "2": (copies[0] + copies[4]) / 2, "4": sum(copies[:4]) / 4, "8": sum(copies) / 8}
        cells = []
        for name, e in row.items():
            sq = (e - x) ** 2
            cells.append(f"{name} {float(train.psnr(sq.mean())):.3f}/{train.seam_db(sq, band):.2f}")
        print(f"level {q}: " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
