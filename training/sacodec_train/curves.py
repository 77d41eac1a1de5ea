"""Training curves of a run as one SVG: the VAE's training loss, its validation PSNR and bpp
per level against steps (with the autoencoder's ceiling), SimCLR's loss, and the enhancer's
training gain and validation gain and seam band's excess per level.

    python -m sacodec_train curves --run runs/gpu --out ../results/training-curves.svg
"""

from __future__ import annotations

import argparse
import json
import math
from html import escape
from pathlib import Path

from . import io

W, H = 460, 300
MARGIN = (56, 20, 30, 40)  # left, right, top, bottom
PALETTE = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666", "#1f78b4"]

Series = tuple[str, list[tuple[float, float]]]


def read_log(run: Path, stage: str) -> list[dict]:
    path = run / stage / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def panel(title: str, ylabel: str, series: list[Series], x0: float, y0: float) -> str:
    pts = [p for _, s in series for p in s]
    if not pts:
        return ""
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    xlo, xhi = min(xs), max(xs)
    ylo, yhi = min(ys), max(ys)
    if yhi - ylo < 1e-9:
        ylo, yhi = ylo - 1, yhi + 1
    pad = (yhi - ylo) * 0.05
    ylo, yhi = ylo - pad, yhi + pad
    left, right, top, bottom = MARGIN
    pw, ph = W - left - right, H - top - bottom

    def sx(x: float) -> float:
        return x0 + left + (x - xlo) / max(xhi - xlo, 1e-9) * pw

    def sy(y: float) -> float:
        return y0 + top + (1 - (y - ylo) / (yhi - ylo)) * ph

    out = [
        f'<rect x="{x0 + left}" y="{y0 + top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
        f'<text x="{x0 + W / 2}" y="{y0 + 18}" text-anchor="middle" font-weight="bold">{escape(title)}</text>',
        f'<text x="{x0 + W / 2}" y="{y0 + H - 6}" text-anchor="middle">step</text>',
        f'<text x="{x0 + 12}" y="{y0 + top + ph / 2}" transform="rotate(-90 {x0 + 12} {y0 + top + ph / 2})" text-anchor="middle">{escape(ylabel)}</text>',
    ]
    decimals = max(0, min(6, 2 - math.floor(math.log10(yhi - ylo))))
    for i in range(5):
        y = ylo + (yhi - ylo) * i / 4
        out.append(f'<text x="{x0 + left - 4}" y="{sy(y) + 4:.1f}" text-anchor="end" font-size="10">{y:.{decimals}f}</text>')
        x = xlo + (xhi - xlo) * i / 4
        out.append(f'<text x="{sx(x):.1f}" y="{y0 + top + ph + 14}" text-anchor="middle" font-size="10">{x:.0f}</text>')
    for i, (name, s) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        if len(s) <= 40:
            out += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2" fill="{color}"/>' for x, y in s]
        ly = y0 + top + 12 + 12 * i
        out.append(f'<text x="{x0 + left + pw - 4}" y="{ly}" text-anchor="end" font-size="10" fill="{color}">{escape(name)}</text>')
    return "\n".join(out)


def per_level(log: list[dict], key: str) -> list[Series]:
    vals = [r for r in log if "val" in r and "levels" in r["val"]]
    if not vals:
        return []
    n = len(vals[0]["val"]["levels"])
    return [(f"q{q}", [(r["step"], r["val"]["levels"][q][key]) for r in vals]) for q in range(n)]


def svg(run: Path) -> str:
    panels: list[tuple[str, str, list[Series]]] = []
    # The subclass stage continues the VAE's curves.
    vae = read_log(run, "vae")
    offset = vae[-1]["step"] if vae else 0
    vae += [dict(r, step=r["step"] + offset) for r in read_log(run, "subclass")]
    if vae:
        panels.append(("PatchVAE: training loss (λ·255²·MSE + bpp)", "loss", [("train", [(r["step"], r["train"]["loss"]) for r in vae])]))
        ceiling = [(r["step"], r["val"]["ceiling_psnr"]) for r in vae if "val" in r]
        panels.append(("PatchVAE: held-out PSNR per level", "dB", per_level(vae, "psnr") + [("ceiling (μ)", ceiling)]))
        panels.append(("PatchVAE: held-out bpp per level", "bpp", per_level(vae, "bpp")))
    simclr = read_log(run, "simclr")
    if simclr:
        train = [(r["step"], r["train"]["loss"]) for r in simclr]
        held = [(r["step"], r["val"]["loss"]) for r in simclr if "val" in r]
        panels.append(("SimCLR: NT-Xent", "loss", [("train", train), ("held-out", held)]))
    log = read_log(run, "enhancer")
    if log:
        train = [(r["step"], r["train"]["gain_db"]) for r in log]
        panels.append(("Enhancer: training gain (mean over crops)", "dB", [("train", train)]))
    enh = [r for r in log if "val" in r]
    if enh:
        gain = [
            (name, [(x, e - d) for (x, e), (_, d) in zip(s, dict(per_level(enh, "psnr_decoded"))[name])])
            for name, s in per_level(enh, "psnr_enhanced")
        ]
        panels.append(("Enhancer: held-out gain per level", "dB", gain))
        if "seam_db_enhanced" in enh[0]["val"]["levels"][0]:
            panels.append(("Enhancer: held-out seam band over the interior", "dB", per_level(enh, "seam_db_enhanced")))
    cols = 2
    rows = (len(panels) + cols - 1) // cols
    body = [panel(t, y, s, (i % cols) * W, (i // cols) * H) for i, (t, y, s) in enumerate(panels)]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{cols * W}" height="{max(rows, 1) * H}" '
        f'font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n'
        + "\n".join(body)
        + "\n</svg>\n"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="sacodec_train curves", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("../results/training-curves.svg"))
    args = ap.parse_args(argv)
    io.write_atomic(args.out, svg(args.run).encode())
    print(f"wrote {args.out}")
