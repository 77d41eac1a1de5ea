"""Does training the PatchVAE under the context model's rate pay at CPU scale (docs/DESIGN.md,
"Training with the context rate")? From a run's PatchVAE: first the context model's float twin
(`rate.context_prior`) fitted alone, the PatchVAE frozen; then both trained together under that
rate, in cosine cycles, held out at each cycle's end. Also how rounding toward the prior's mean
near the midpoint (a dead zone, `--dead-zone`) fares against rounding to nearest.

    cd training && ../target/pyenv/bin/python studies/context_rate.py --run runs/cpu3

Prints, per evaluation, bpp (under the twin) / PSNR of the held-out crops at every level and
the BD-rate against the twin fitted alone (all levels, levels 0–4, levels 5–9).
"""

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sacodec_train import data, nets, optim, pack, rate, train  # noqa: E402
from sacodec_train.recipe import bd_rate  # noqa: E402

SIDE, GRID = 128, 4  # crops of 4 × 4 patches


def curve(p, val_x, levels: int, dead_zone: float = 0.0, prior: str = "context") -> list[tuple[float, float]]:
    """(bpp under `prior`, the twin by default; PSNR) of the held-out crops at each level."""
    n = val_x.shape[0]
    mu = nets.encode_mu(p, data.to_patches(val_x))
    out = []
    for q in range(levels):
        qs = jnp.full((n,), q)
        qp = jnp.repeat(qs, GRID * GRID)
        g = rate.gains(p, qp)
        y = mu * g
        z = rate.round_latents(y)
        if dead_zone > 0:  # round the other way where that is toward the prior's mean
            other = z + jnp.sign(y - z)
            mean = rate.at_levels(p["rate.mean"], qp).reshape(y.shape)
            toward = jnp.abs(other - mean) < jnp.abs(z - mean)
            z = jnp.clip(jnp.where(toward & (jnp.abs(y - z) > 0.5 - dead_zone), other, z), -rate.MAX_LATENT, rate.MAX_LATENT)
        x_hat = data.stitch(nets.decode(p, z / g), n, SIDE, SIDE)
        bits = rate.coded_bits(p, z, qs, GRID, prior)
        out.append((float(bits.mean()) / SIDE**2, float(train.psnr(((x_hat - val_x) ** 2).mean()))))
    return out


def report(name: str, base: list[tuple[float, float]], got: list[tuple[float, float]]) -> None:
    print(name, " ".join(f"{b:.4f}/{d:.3f}" for b, d in got))
    half = len(got) // 2
    print(f"{name} BD-rate against the twin fitted alone: {bd_rate(base, got):+.2f} % "
          f"(levels 0–{half - 1} {bd_rate(base[:half], got[:half]):+.2f}, "
          f"{half}–{len(got) - 1} {bd_rate(base[half:], got[half:]):+.2f})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--pack", type=Path, default=Path("data/cpu.safetensors"))
    ap.add_argument("--fit-steps", type=int, default=1900)
    ap.add_argument("--fit-lr", type=float, default=3e-3)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--every", type=int, default=2000, help="a cosine cycle's steps, held out at its end")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch", type=int, default=32, help="crops of 4 × 4 patches")
    ap.add_argument("--val", type=int, default=64)
    ap.add_argument("--dead-zone", type=float, nargs="*", default=[0.1, 0.2])
    args = ap.parse_args()

    cfg = train.load_plan(args.run, None, [])[0]
    lam = jnp.array(cfg.level_lambdas) * 255.0**2
    vae = {k: v for k, v in train.Checkpoint.load(args.run, "vae").params.items() if k.split(".")[0] in ("vae", "rate")}
    pk = pack.load(args.pack)
    tiles = jnp.asarray(pk.train)
    val_x = data.crops(jnp.asarray(pk.valid), jax.random.key(11), args.val, SIDE)

    def loss(trained, frozen, key):
        p = {**frozen, **trained}
        kx, kq, kn = jax.random.split(key, 3)
        x = data.crops(tiles, kx, args.batch, SIDE, True)
        q = train.balanced_levels(args.batch, cfg.levels, kq)
        t = rate.rd_terms(p, x, q, kn, "context")
        return (rate.at_levels(lam, q) * t["mse"] + t["bpp"]).mean() if "vae.encoder.mu.weight" in trained else t["bpp"].mean()

    def run(trained, frozen, steps, lr, cycle, seed, scale, at_cycle_end=None):
        opt = optim.init(trained)

        @jax.jit
        def step(trained, opt, i):
            grads = jax.grad(loss)(trained, frozen, jax.random.fold_in(jax.random.key(seed), i))
            now = optim.learning_rate(lr, i, steps, 50, "cycles", cycle)
            return optim.update(trained, grads, opt, i, now, 1.0, scale)[:2]

        for i in range(steps):
            trained, opt = step(trained, opt, jnp.int32(i))
            if at_cycle_end and (i + 1) % cycle == 0:
                at_cycle_end(i + 1, trained)
        return trained

    ctx = run(rate.init_context(vae), vae, args.fit_steps, args.fit_lr, args.fit_steps, 1, None)
    p = {**vae, **ctx}
    base = curve(p, val_x, cfg.levels)
    print("twin alone", " ".join(f"{b:.4f}/{d:.3f}" for b, d in base))
    print(f"twin alone BD-rate against the factorized prior: {bd_rate(curve(p, val_x, cfg.levels, prior='factorized'), base):+.2f} %")
    for d in args.dead_zone:
        report(f"dead zone {d}", base, curve(p, val_x, cfg.levels, d))
    run(p, {}, args.steps, args.lr, args.every, 3, None,
        lambda step, trained: report(f"joint {step}", base, curve(trained, val_x, cfg.levels)))


if __name__ == "__main__":
    main()
