"""How much context an enhancer tile needs: the shipped enhancer on whole decoded photos
against tiles of 128 and 256 pixels reading 8, 16 or 24 pixels around them (README,
"Benchmarks"; `ENHANCE_MARGIN` in `src/model/mod.rs`).

    cd training && ../target/pyenv/bin/python studies/enhance_margin.py \
        --sacodec ../target/release/sacodec --enhancer data/enhancer.safetensors

Photos: every 5th held-out file of ../shared/data/train (the first 8), coded at levels 0, 4
and 7 by `sacodec compress` and decoded without the enhancer; `data/enhancer.safetensors` is
the shipped bundle's enhancer as the trainer reads it (`bash gpu-prepare.sh` makes it).
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sacodec_train import io, nets  # noqa: E402
from sacodec_train.pack import image_files  # noqa: E402

LEVELS = 8


def held_out(data: Path) -> list[Path]:
    files = image_files([data])
    return [f for i, f in enumerate(files) if i % 10 == 9][::5][:8]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sacodec", type=Path, required=True)
    ap.add_argument("--enhancer", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path("../../shared/data/train"))
    a = ap.parse_args()
    p = {k: jnp.asarray(v) for k, v in io.load(a.enhancer).items()}
    enhance = jax.jit(lambda x, level: nets.enhance(p, x, level))

    def tiled(img: np.ndarray, side: int, margin: int, q: int) -> np.ndarray:
        h, w, _ = img.shape
        out = np.zeros_like(img)
        for ty in range(0, h, side):
            for tx in range(0, w, side):
                y0, y1 = max(ty - margin, 0), min(ty + side + margin, h)
                x0, x1 = max(tx - margin, 0), min(tx + side + margin, w)
                level = nets.enhancer_input(jnp.array([q]), LEVELS)
                r = np.asarray(enhance(jnp.asarray(img[None, y0:y1, x0:x1]), level))[0]
                cy, cx = min(ty + side, h), min(tx + side, w)
                out[ty:cy, tx:cx] = r[ty - y0 : cy - y0, tx - x0 : cx - x0]
        return out

    ways = [("whole", 1 << 20, 0), ("256/24", 256, 24), ("256/16", 256, 16), ("256/8", 256, 8), ("128/16", 128, 16), ("128/8", 128, 8)]
    with tempfile.TemporaryDirectory() as tmp:
        for q in (0, 4, 7):
            psnrs: dict[str, list[float]] = {name: [] for name, _, _ in ways}
            for f in held_out(a.data):
                sac, png = Path(tmp) / "x.sac", Path(tmp) / "x.png"
                subprocess.run([a.sacodec, "compress", f, "-q", str(q), "-o", sac], check=True, capture_output=True)
                subprocess.run([a.sacodec, "decompress", sac, "--no-enhance", "-o", png], check=True, capture_output=True)
                original = np.asarray(Image.open(f).convert("RGB"), np.float32) / 255
                decoded = np.asarray(Image.open(png), np.float32) / 255
                h, w, _ = decoded.shape
                padded = np.pad(decoded, ((0, -h % 32), (0, -w % 32), (0, 0)), mode="edge")
                for name, side, margin in ways:
                    e = np.round(tiled(padded, side, margin, q)[:h, :w] * 255) / 255
                    psnrs[name].append(float(10 * np.log10(1 / np.mean((original - e) ** 2))))
            print(f"level {q}: " + ", ".join(f"{n} {np.mean(v):.4f} dB" for n, v in psnrs.items()), flush=True)


if __name__ == "__main__":
    main()
