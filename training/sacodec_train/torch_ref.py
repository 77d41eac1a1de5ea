"""The throughput reference `bench` prints beside the trainer's: a PyTorch training step of the
same PatchVAE (the seed's widths) with the same kind of rate term (U(−½, ½) noise, a factorized
discretized Gaussian per latent element), λ·255²·MSE + bits, Adam. PyTorch's CPU convolutions
(oneDNN) are the yardstick for what these cores can do; nothing trains with it.

    python -m sacodec_train.torch_ref --batch 512 --steps 10      (prints patches/s as JSON)

It imports only PyTorch (never JAX), so `bench` can run it with another environment's Python.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time


def patches_per_s(batch: int, steps: int, threads: int) -> dict:
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    enc = nn.Sequential(
        nn.Conv2d(3, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(64, 128, 4, 2, 1), nn.ReLU(), nn.Conv2d(128, 128, 3, 1, 1), nn.ReLU(),
        nn.Conv2d(128, 64, 1),
    )  # fmt: skip
    dec = nn.Sequential(
        nn.ConvTranspose2d(64, 128, 3, 1, 1), nn.ReLU(), nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 3, 4, 2, 1), nn.Sigmoid(),
    )  # fmt: skip
    mean = nn.Parameter(torch.zeros(1, 64, 4, 4))
    log_scale = nn.Parameter(torch.zeros(1, 64, 4, 4))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters(), mean, log_scale], lr=1e-4)
    x = torch.rand(batch, 3, 32, 32)

    def cdf(v: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.erfc(-(v - mean) / (scale * math.sqrt(2.0)))

    def step() -> None:
        y = enc(x)
        noisy = y + torch.rand_like(y) - 0.5
        scale = log_scale.exp().clamp_min(0.11)
        p = (cdf(noisy + 0.5, scale) - cdf(noisy - 0.5, scale)).clamp_min(1e-9)
        bits = -torch.log2(p).sum() / (batch * 32 * 32)
        loss = 0.01 * 255**2 * nn.functional.mse_loss(dec(noisy), x) + bits
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    rate = batch * steps / (time.perf_counter() - t)
    return {"batch": batch, "patches_per_s": round(rate, 1), "torch": torch.__version__, "threads": threads}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="sacodec_train.torch_ref", description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args(argv)
    print(json.dumps(patches_per_s(args.batch, args.steps, args.threads)))


if __name__ == "__main__":
    main()
