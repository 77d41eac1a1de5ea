"""Files: safetensors (parameters, checkpoints, fixtures) and JSON, each written atomically."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save
from safetensors import safe_open


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save(path: Path, tensors: dict[str, np.ndarray], meta: dict[str, str] | None = None) -> None:
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    write_atomic(path, st_save(arrays, metadata=meta))


def load(path: Path) -> dict[str, np.ndarray]:
    return st_load(path.read_bytes())


def metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="np") as f:
        return dict(f.metadata() or {})


def save_json(path: Path, value: Any) -> None:
    write_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
