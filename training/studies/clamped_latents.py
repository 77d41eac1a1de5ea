"""How many latents of each level pass the ±`MAX_LATENT` the coder can code (it clamps them,
and so does the trainer's noise since `rate.noisy_latents`): a run's PatchVAE checkpoint on
held-out patches (README, "The long CPU run").

    cd training && ../target/pyenv/bin/python studies/clamped_latents.py --run runs/cpu3

Patches: the 32-px patches of the pack's first 64 validation tiles (4,096).
"""

import argparse
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sacodec_train import io, nets, pack, rate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--pack", type=Path, default=Path("data/cpu.safetensors"))
    args = ap.parse_args()
    t = io.load(args.run / "vae" / "ckpt.safetensors")
    p = {k: jnp.asarray(v) for k, v in t.items() if not k.startswith("adam.")}
    tiles = pack.load(args.pack).valid[:64].astype(np.float32) / 255.0
    n, side = tiles.shape[0], tiles.shape[1] // nets.PATCH
    x = tiles.reshape(n, side, nets.PATCH, side, nets.PATCH, 3).transpose(0, 1, 3, 2, 4, 5)
    x = x.reshape(-1, nets.PATCH, nets.PATCH, 3)
    mu = jnp.concatenate([nets.encode_mu(p, jnp.asarray(x[i : i + 512])) for i in range(0, len(x), 512)])
    for q in range(p["rate.log_gain"].shape[0]):
        y = mu * rate.gains(p, jnp.full((mu.shape[0],), q))
        clamped = float(jnp.mean(jnp.abs(jnp.round(y)) > rate.MAX_LATENT)) * 100
        gain = float(jnp.exp(p["rate.log_gain"][q]).mean())
        print(f"level {q}: {clamped:.4f} % clamped, largest |mu*g| {float(jnp.abs(y).max()):.1f}, mean gain {gain:.2f}")


if __name__ == "__main__":
    main()
