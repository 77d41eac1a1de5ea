"""Can a filter across the patch borders remove what the enhancer leaves of the seams? A
least-squares filter per level, fitted on training photos and measured on held-out ones: each
row of pixels across a border (8 pixels, 4 each side, per colour channel) gives its 7
differences, each also clipped at 1, 3 and 8 levels of 255, and their means along the
border's 32 pixels; a linear map of those corrects the 4 pixels nearest the border (README,
"Seams").

    cd training && ../target/pyenv/bin/python studies/seam_filter.py --sacodec ../target/release/sacodec

Photos: every 20th training file of ../shared/data/train (fit) and every 5th held-out one
(measure; every 10th file is held out), coded by `sacodec compress` and decoded with and
without the enhancer. Seam dB as `eval`'s: the squared error of the 2-px band along the
borders over the interior's.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sacodec_train.pack import image_files  # noqa: E402
from sacodec_train.train import seam_band, seam_db  # noqa: E402

PATCH, SIDE, BAND = 32, 4, 2


def borders(img: np.ndarray):
    """Per interior border, both directions: the picture turned so the border is a column
    (a view), its column x, and the rows of 2·SIDE pixels across it, per channel."""
    for turn, a in enumerate((img, img.transpose(1, 0, 2))):
        for x in range(PATCH, a.shape[1] - SIDE + 1, PATCH):
            yield turn, a, x, a[:, x - SIDE : x + SIDE, :].transpose(0, 2, 1).reshape(-1, 2 * SIDE)


def segments(h: int, turn: int, x: int) -> np.ndarray:
    """The border segment (one patch side, one channel) each row of `borders` lies on."""
    y, c = np.repeat(np.arange(h), 3), np.tile(np.arange(3), h)
    return ((turn * 100_000 + x) * 1000 + y // PATCH) * 3 + c


def across(img: np.ndarray):
    """Every row across a border of `img`, and the segment each lies on."""
    parts = [(v, segments(a.shape[0], turn, x)) for turn, a, x, v in borders(img)]
    return np.concatenate([v for v, _ in parts]), np.concatenate([s for _, s in parts])


def features(v: np.ndarray, segs: np.ndarray) -> np.ndarray:
    d = np.diff(v, axis=1)
    f = [d] + [np.clip(d, -t / 255, t / 255) for t in (1, 3, 8)]
    _, inv = np.unique(segs, return_inverse=True)
    sums = np.zeros((inv.max() + 1, d.shape[1]))
    np.add.at(sums, inv, d)
    f.append((sums / np.bincount(inv)[:, None])[inv])
    return np.concatenate(f, axis=1)


def filtered(img: np.ndarray, w: np.ndarray) -> np.ndarray:
    out = img.copy()
    outs = (out, out.transpose(1, 0, 2))
    for turn, a, x, v in borders(img):
        fix = features(v, segments(a.shape[0], turn, x)) @ w
        outs[turn][:, x - BAND : x + BAND, :] += fix.reshape(a.shape[0], 3, 2 * BAND).transpose(0, 2, 1)
    return np.clip(np.round(out * 255), 0, 255) / 255


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((a - b) ** 2)))


def seam(a: np.ndarray, b: np.ndarray) -> float:
    """`eval`'s seam dB, as the trainer computes it."""
    return seam_db(jnp.asarray(((a - b) ** 2)[None]), seam_band(*a.shape[:2]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sacodec", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path("../../shared/data/train"))
    ap.add_argument("--levels", default="0,2,7")
    a = ap.parse_args()
    files = image_files([a.data])
    fit = [f for i, f in enumerate(files) if i % 10 != 9][::20]
    held = [f for i, f in enumerate(files) if i % 10 == 9][::5]
    with tempfile.TemporaryDirectory() as tmp:

        def pictures(f: Path, q: int):
            sac = Path(tmp) / "x.sac"
            subprocess.run([a.sacodec, "compress", f, "-q", str(q), "-o", sac], check=True, capture_output=True)
            out = {}
            for kind, flags in (("decoded", ["--no-enhance"]), ("enhanced", [])):
                png = Path(tmp) / f"{kind}.png"
                subprocess.run([a.sacodec, "decompress", sac, *flags, "-o", png], check=True, capture_output=True)
                out[kind] = np.asarray(Image.open(png), np.float64) / 255
            return np.asarray(Image.open(f).convert("RGB"), np.float64) / 255, out

        for q in map(int, a.levels.split(",")):
            xs, ys = {"decoded": [], "enhanced": []}, {"decoded": [], "enhanced": []}
            for f in fit:
                original, out = pictures(f, q)
                o, _ = across(original)
                for kind, img in out.items():
                    v, s = across(img)
                    xs[kind].append(features(v, s))
                    ys[kind].append((o - v)[:, SIDE - BAND : SIDE + BAND])
            weights = {}
            for kind in xs:
                x, y = np.concatenate(xs[kind]), np.concatenate(ys[kind])
                weights[kind] = np.linalg.solve(x.T @ x + 1e-6 * len(x) * np.eye(x.shape[1]), x.T @ y)
            scores = {k: np.zeros(4) for k in weights}
            for f in held:
                original, out = pictures(f, q)
                for kind, img in out.items():
                    after = filtered(img, weights[kind])
                    scores[kind] += [psnr(original, img), psnr(original, after), seam(original, img), seam(original, after)]
            for kind, s in scores.items():
                s /= len(held)
                print(f"level {q} {kind}: PSNR {s[0]:.3f} → {s[1]:.3f} dB ({s[1] - s[0]:+.3f}), seam {s[2]:.2f} → {s[3]:.2f} dB", flush=True)


if __name__ == "__main__":
    main()
