"""The identity of a frozen encoder: what determines its vectors, hashed into the embedding cache key.

A content fingerprint of the model's files (full sha256 of the small ones: config, tokenizer;
size + sha256 of the first, middle and last MiB of the weights; for a Hub snapshot, its commit),
with the display name, pooling, max_length, dim and precision (recorded only when not fp32, so fp32
caches keep their earlier key). Any change here changes every cache key: keep it byte-for-byte.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tears_bench.storage import stable_hash

_SMALL_FILE = 4 << 20
_CHUNK = 1 << 20
# 2: texts embedded without padding (vectors no longer depend on their batch companions).
# 3: on the CPU, calls of one fixed shape per token length (frozen.CPU_ROWS texts), not one text a call.
_IDENTITY_FORMAT = 3


def _file_digest(path: Path) -> str:
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        if size <= _SMALL_FILE:
            digest.update(handle.read())
        else:  # big weights: first, middle and last MiB (plus the size) -- fast and content-based
            for offset in (0, size // 2, size - _CHUNK):
                handle.seek(offset)
                digest.update(handle.read(_CHUNK))
    return digest.hexdigest()[:16]


def folder_fingerprint(folder: Path) -> str:
    """A content fingerprint of a model folder's top-level files (README and dotfiles skipped)."""
    folder = Path(folder)
    if folder.parent.name == "snapshots":  # a Hugging Face cache snapshot: its commit says it all
        return f"hub-{folder.name}"
    files = {p.name: _file_digest(p) for p in sorted(folder.iterdir())
             if p.is_file() and not p.name.startswith(".") and p.name.lower() != "readme.md"}
    return stable_hash(files)


def encoder_identity(name: str, model_type: str, fingerprint: str, pooling: str, max_length: int,
                     dim: int, precision: str = "fp32") -> dict[str, Any]:
    """Everything that determines a vector. "dtype" is the stored vectors' (always float32);
    "precision" is the computation's and is present only when not fp32, so the fp32 caches made
    before precisions existed keep their key (their vectors are exactly the fp32 ones)."""
    info = {"format": _IDENTITY_FORMAT, "name": name, "model_type": model_type, "fingerprint": fingerprint,
            "pooling": pooling, "max_length": int(max_length), "dim": int(dim), "dtype": "float32"}
    if precision != "fp32":
        info["precision"] = precision
    return info


def short_identity(info: dict[str, Any]) -> str:
    """Short form, part of the TEARS model cache keys: models trained on bf16 and fp32 vectors differ."""
    base = f"{info['name']}@{info['fingerprint'][:16]}:f{info['format']}:{info['pooling']}:{info['max_length']}"
    return f"{base}:{info['precision']}" if info.get("precision", "fp32") != "fp32" else base
