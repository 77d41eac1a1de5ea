"""The training pack: `../shared/data/train` in one compact file the GPU machine can take.

Recipe (`Recipe`, recorded in the pack and in the weights' manifest): every image file under
the data folders, sorted by path (the order `sacodec train` reads them in); longer sides above
1024 px scaled down to 1024 (Lanczos); cut into non-overlapping 256×256 tiles on a grid
centred in the image (edges that do not fill a tile are left out; `--cover` adds overlapping
tiles that take them in, and `--max-side 0` keeps every image at its size: the CPU run's pack,
all 141 Mpx of the training photos); each tile stored as a JPEG
at quality 95 without chroma subsampling. Every 10th file (the Rust side's held-out rule) gives
validation tiles, never trained on. When the tiles exceed the size budget (`--budget-mib`; 0
for none), a seeded random subset of the training tiles is dropped. Kodak is never read: a path with a `kodak` folder is
refused.

    python -m sacodec_train pack --data ../../shared/data/train --out data/pack.safetensors
"""

from __future__ import annotations

import argparse
import io as pyio
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from . import io

TILE = 256
# The Rust side's `image_io::IMAGE_EXTENSIONS`: the held-out rule counts the same files.
EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


@dataclass(frozen=True)
class Recipe:
    tile: int = TILE
    max_side: int = 1024
    jpeg_quality: int = 95
    holdout: int = 10
    budget_mib: float = 44.0
    seed: int = 0x5AC0
    # Tiles that cover the whole image, the last ones of a row or column overlapping the one
    # before, instead of a grid that leaves the edges out (where a pack's size does not matter).
    cover: bool = False


def image_files(dirs: list[Path]) -> list[Path]:
    files = sorted(
        p for d in dirs for p in d.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS
    )
    for p in files:
        if "kodak" in (part.lower() for part in p.parts):
            raise SystemExit(f"refusing {p}: Kodak is for evaluation only")
    return files


def tiles_of(img: Image.Image, r: Recipe) -> list[Image.Image]:
    w, h = img.size
    if r.max_side and max(w, h) > r.max_side:
        s = r.max_side / max(w, h)
        img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)
        w, h = img.size
    xs, ys = _starts(w, r), _starts(h, r)
    return [img.crop((x, y, x + r.tile, y + r.tile)) for y in ys for x in xs]


def _starts(side: int, r: Recipe) -> list[int]:
    """Where the tiles along one side start: a grid centred on the side, or (`cover`) one from
    the start on, the last ending at the side's end."""
    n = side // r.tile
    if r.cover and n and side % r.tile:
        return [i * r.tile for i in range(n)] + [side - r.tile]
    x0 = (side - n * r.tile) // 2
    return [x0 + i * r.tile for i in range(n)]


def jpeg(tile: Image.Image, quality: int) -> bytes:
    out = pyio.BytesIO()
    tile.save(out, "JPEG", quality=quality, subsampling=0)
    return out.getvalue()


def build(dirs: list[Path], r: Recipe) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    files = image_files(dirs)
    blobs: list[bytes] = []
    valid: list[bool] = []
    source: list[int] = []
    for i, path in enumerate(files):
        with Image.open(path) as im:
            img = im.convert("RGB")
        held_out = i % r.holdout == r.holdout - 1
        for t in tiles_of(img, r):
            blobs.append(jpeg(t, r.jpeg_quality))
            valid.append(held_out)
            source.append(i)
    # Over the budget: drop a seeded random subset of training tiles.
    budget = int(r.budget_mib * 2**20) if r.budget_mib > 0 else sum(map(len, blobs))
    order = np.random.default_rng(r.seed).permutation(len(blobs))
    keep = np.zeros(len(blobs), bool)
    used = 0
    for t in [t for t in range(len(blobs)) if valid[t]] + [int(t) for t in order if not valid[t]]:
        if used + len(blobs[t]) <= budget:
            keep[t] = True
            used += len(blobs[t])
    kept = [t for t in range(len(blobs)) if keep[t]]
    offsets = np.cumsum([0] + [len(blobs[t]) for t in kept]).astype(np.int64)
    tensors = {
        "data": np.frombuffer(b"".join(blobs[t] for t in kept), np.uint8),
        "offsets": offsets,
        "valid": np.array([valid[t] for t in kept], np.uint8),
        "source": np.array([source[t] for t in kept], np.int32),
    }
    meta = {
        "format": "sacodec-pack-1",
        "recipe": json.dumps(asdict(r)),
        "files": json.dumps([str(p) for p in files]),
        "tiles_before_budget": str(len(blobs)),
    }
    return tensors, meta


@dataclass
class Pack:
    """A decoded pack: uint8 tiles `[T, 256, 256, 3]` for training and validation."""

    train: np.ndarray
    valid: np.ndarray
    recipe: dict
    sha256: str


def load(path: Path) -> Pack:
    meta = io.metadata(path)
    if meta.get("format") != "sacodec-pack-1":
        raise SystemExit(f"{path} is not a training pack")
    z = io.load(path)
    data, offsets, valid = z["data"], z["offsets"], z["valid"].astype(bool)
    tiles = np.stack(
        [
            np.asarray(Image.open(pyio.BytesIO(data[a:b].tobytes())).convert("RGB"))
            for a, b in zip(offsets[:-1], offsets[1:])
        ]
    )
    recipe = json.loads(meta["recipe"])
    return Pack(train=tiles[~valid], valid=tiles[valid], recipe=recipe, sha256=io.sha256(path))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="sacodec_train pack", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, nargs="+", required=True)
    ap.add_argument("--out", type=Path, default=Path("data/pack.safetensors"))
    ap.add_argument("--budget-mib", type=float, default=Recipe.budget_mib, help="size budget (0: none)")
    ap.add_argument("--max-side", type=int, default=Recipe.max_side, help="scale longer sides down to this (0: never)")
    ap.add_argument("--cover", action="store_true", help="tiles that cover each image, edges included")
    args = ap.parse_args(argv)
    r = Recipe(budget_mib=args.budget_mib, max_side=args.max_side, cover=args.cover)
    tensors, meta = build(args.data, r)
    io.save(args.out, tensors, meta)
    print(
        f"wrote {args.out}: {len(tensors['valid'])} of {meta['tiles_before_budget']} tiles "
        f"({int(tensors['valid'].sum())} held out), {args.out.stat().st_size / 2**20:.1f} MiB, "
        f"sha256 {io.sha256(args.out)}"
    )
