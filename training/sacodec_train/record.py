"""The trainer's export: the file `sacodec train` reads (`TrainedNetworks` in
`src/train/mod.rs`). Tensors: every network parameter under burn's name (f32),
`levels.gain` `[L, 64]` and `levels.lambda` `[L]`; metadata: `format` and `record`, a
[`TrainerRecord`] as JSON, which the Rust side reads into the same-named struct of
`src/codec/manifest.rs` (the parity fixture is such a file, so CI checks the two agree)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import jax
import numpy as np

from .nets import Params

FORMAT = "sacodec-networks-1"
NETWORKS = ("vae", "projection", "enhancer")


@dataclass
class StageRecord:
    steps: int
    batch: int
    wall_s: float
    hardware: list[str]
    config: dict
    validation: dict | None = None


@dataclass
class PackRecord:
    sha256: str
    recipe: dict


@dataclass
class TrainerRecord:
    run: str
    pack: PackRecord | None
    stages: dict[str, StageRecord]
    framework: str = field(default_factory=lambda: f"JAX {jax.__version__} ({jax.default_backend()})")
    notes: list[str] = field(default_factory=list)


def networks_file(
    params: Params, gains: np.ndarray, lambdas: np.ndarray, record: TrainerRecord
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    tensors = {k: np.asarray(v, np.float32) for k, v in params.items() if k.split(".")[0] in NETWORKS}
    tensors["levels.gain"] = np.asarray(gains, np.float32)
    tensors["levels.lambda"] = np.asarray(lambdas, np.float32)
    return tensors, {"format": FORMAT, "record": json.dumps(asdict(record))}
