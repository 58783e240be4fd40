"""The files of a trained model in the cache, for every model (standard ones and TEARS alike).

One folder per trained model (cache_dir('models')/<key>/) holds model.pt (its trained tensors),
config.json and metrics.json, each written atomically and metrics.json last: a folder without it
never finished. checkpoint.pt holds an interrupted training (models.trainer.fit) and goes once the
entry is written. A file that cannot be read is quarantined (storage.quarantine): the caller then
trains the model again. Which keys name a folder, and what its config.json holds, is the caller's.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Callable

import torch

from tears_bench.storage import atomic_write_bytes, atomic_write_json, quarantine

CHECKPOINT_NAME = "checkpoint.pt"


def read_json(path: Path, reason: str, check: Callable[[dict], None] | None = None) -> dict | None:
    """The JSON object in `path`, or None after quarantining it (unreadable, not an object, or
    rejected by `check`, which raises ValueError); `reason` starts the quarantine note."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, found {type(value).__name__}")
        if check is not None:
            check(value)
        return value
    except (OSError, ValueError) as error:
        quarantine(path, f"{reason}: {error}"[:300])
        return None


def read_tensors(path: Path, device, reason: str, use: Callable[[dict], None] | None = None) -> dict | None:
    """The tensors saved in `path` (on `device`), passed to `use` (which checks or loads them and
    raises on a mismatch); None after quarantining the file when either step fails."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        if use is not None:
            use(state)
    except Exception as error:  # torch.load raises many kinds on truncated or foreign files
        quarantine(path, f"{reason}: {type(error).__name__}: {error}"[:300])
        return None
    return state


def write_entry(folder: Path, tensors: dict, config: dict, metrics: dict) -> None:
    """Write a finished model: model.pt (the tensors, on the CPU), config.json, then metrics.json;
    the training checkpoint is removed last."""
    buffer = io.BytesIO()
    torch.save({k: v.cpu() for k, v in tensors.items()}, buffer)
    atomic_write_bytes(folder / "model.pt", buffer.getvalue())
    atomic_write_json(folder / "config.json", config)
    atomic_write_json(folder / "metrics.json", metrics)
    (folder / CHECKPOINT_NAME).unlink(missing_ok=True)
